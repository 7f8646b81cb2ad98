// Reads a repository archive as GitHub serves it (the tar.gz that GET /repos/{o}/{r}/tarball/{ref}
// redirects to, made by `git archive`) as a stream: gunzip and tar parsing go chunk by chunk
// with backpressure, and one file at a time is handed on, so a fleet's worth of manifests is
// never held at once.
import { createHash } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { DrbotError } from "../core/errors.ts";
import type { RecordedFile } from "../core/ports/git.ts";

export interface ArchiveReadOptions {
  /** Repository-relative directory; "" for every file. */
  scope: string;
  onFile: (file: RecordedFile) => void | Promise<void>;
  /** A larger file under `scope` fails the read instead of being held. */
  maxFileBytes: number;
  /** "the archive of <commit> of owner/repo", for messages. */
  what: string;
}

/**
 * Parses `source` (gzip-compressed tar) and calls `onFile` for every regular file under
 * `scope`, in archive order, waiting for each call. Symbolic links, submodules and directories
 * are skipped. Returns the commit id recorded in the archive (undefined when it names none) and
 * how many files were handed on. Errors thrown by `onFile` come out unchanged; a damaged or cut
 * archive comes out as a transient DrbotError.
 */
export async function readArchive(
  source: Readable,
  options: ArchiveReadOptions,
): Promise<{ commit: string | undefined; files: number }> {
  const tap = commitIdTap();
  const entries = extract();
  const feeding = pipeline(source, createGunzip(), tap.stream, entries);
  // Observed below; this only keeps an early failure from counting as unhandled meanwhile.
  feeding.catch(() => {});
  let files = 0;
  try {
    for await (const entry of entries) {
      const { type, name, size } = entry.header;
      const path = repositoryPath(name);
      if (type !== "file" || path === undefined || !inScope(path, options.scope)) {
        entry.resume();
        continue;
      }
      if (size > options.maxFileBytes) {
        throw new DrbotError(
          "invalid",
          "git.file_too_large",
          `${path} in ${options.what} is ${size} bytes, more than the ${options.maxFileBytes} a recorded manifest may have.`,
          {
            hint: "Recorded manifests are small YAML files; move large files out of the manifests directory.",
          },
        );
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const content = Buffer.concat(chunks);
      files++;
      try {
        await options.onFile({ path, sha: blobId(content), content: content.toString("utf8") });
      } catch (err) {
        throw new CallerError(err);
      }
    }
    await feeding;
  } catch (err) {
    source.destroy();
    if (err instanceof CallerError) throw err.cause;
    if (err instanceof DrbotError) throw err;
    throw new DrbotError(
      "transient",
      "git.archive_interrupted",
      `Reading ${options.what} failed after ${files} file(s): ${err instanceof Error ? err.message : String(err)}.`,
      {
        hint: "The download was cut or the archive is damaged; the read starts over when retried.",
        cause: err,
      },
    );
  }
  return { commit: tap.commit(), files };
}

/** Git's blob id: sha1 over `blob <length>\0<content>`, as `git hash-object` computes it. */
export function blobId(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

/**
 * The commit id `git archive` records in the pax global header that opens the archive, read as
 * `git get-tar-commit-id` reads it: typeflag `g` in the first block, then a `comment=` record.
 */
export function archiveCommitId(head: Buffer): string | undefined {
  if (head.length < 1024 || head[156] !== 0x67) return undefined;
  const record = /^(\d+) comment=([0-9a-f]{40}|[0-9a-f]{64})\n/.exec(head.subarray(512).toString("latin1"));
  return record && Number(record[1]) === record[0].length ? record[2] : undefined;
}

/** Passes the decompressed tar through unchanged, keeping its first two blocks for the commit id. */
function commitIdTap(): { stream: Transform; commit(): string | undefined } {
  let head = Buffer.alloc(0);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (head.length < 1024) head = Buffer.concat([head, chunk.subarray(0, 1024 - head.length)]);
      done(null, chunk);
    },
  });
  return { stream, commit: () => archiveCommitId(head) };
}

/** `acme-dr-volumes-1a2b3c4/PV-PVCs/x.yaml` → `PV-PVCs/x.yaml`; undefined for the top folder. */
function repositoryPath(name: string): string | undefined {
  const slash = name.indexOf("/");
  const path = slash < 0 ? "" : name.slice(slash + 1);
  return path === "" || path.endsWith("/") ? undefined : path;
}

function inScope(path: string, scope: string): boolean {
  return scope === "" || path === scope || path.startsWith(`${scope}/`);
}

/** Marks an error thrown by the caller's onFile, so it is not mistaken for a broken archive. */
class CallerError {
  readonly cause: unknown;
  constructor(cause: unknown) {
    this.cause = cause;
  }
}
