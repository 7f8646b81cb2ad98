// Volume directories on the EFS roots that workers see mounted (NFS volumes in the pod).

import { randomBytes } from "node:crypto";
import {
  access,
  chmod,
  chown,
  constants,
  copyFile,
  lstat,
  mkdir,
  opendir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { DrbotError } from "../core/errors.ts";
import type { DirectoryEntry, DirectoryPermissions, DirectoryStore } from "../core/ports/directories.ts";
import { sameModificationTime } from "./file-times.ts";

export function createLocalDirectories(): DirectoryStore {
  return {
    async probe(root) {
      // Mounted is enough here: only the levels drbot creates need to be writable, and a
      // refusal there is reported with the directory that refused.
      try {
        const s = await stat(root);
        if (!s.isDirectory()) throw new Error("not a directory");
        await access(root, constants.R_OK | constants.X_OK);
      } catch (err) {
        throw new DrbotError(
          "not_found",
          "efs.mount_missing",
          `The EFS root ${root} is not mounted here (${code(err)}).`,
          {
            hint: "Check the worker's NFS volume for this site.",
            cause: err,
          },
        );
      }
    },

    async ensureDirectory(root, segments, perms) {
      await this.probe(root);
      const safe = safeSegments(segments);
      const created: string[] = [];
      // A parent another job made in the same instant may replace ours while it is still empty
      // (rename over an empty directory); what we made inside it is then gone: walk again.
      for (let attempt = 1; ; attempt++) {
        try {
          let current = root;
          for (const segment of safe) {
            current = join(current, segment);
            if (await makeOne(current, perms)) created.push(current);
          }
          return created;
        } catch (err) {
          const cause = (err as { cause?: unknown }).cause;
          if (attempt >= 3 || !cause || code(cause) !== "ENOENT") throw err;
        }
      }
    },

    async findChangedSince(root, segments, sinceMs, options) {
      const base = join(root, ...safeSegments(segments));
      const out = { files: 0, bytes: 0, paths: [] as string[] };
      for await (const file of changedFiles(base, sinceMs, options.skip)) {
        out.files++;
        out.bytes += file.size;
        if (out.paths.length < options.keep) out.paths.push(relative(base, file.path));
      }
      return out;
    },

    async copyChangedSince(root, segments, sinceMs, to, options) {
      const base = join(root, ...safeSegments(segments));
      const target = join(to.root, ...safeSegments(to.segments));
      const out = { files: 0, bytes: 0, skipped: 0, beyondLimit: 0 };
      let budget = options.limitBytes;
      for await (const file of changedFiles(base, sinceMs, options.skip)) {
        const dest = join(target, relative(base, file.path));
        const there = await lstat(dest).catch(() => undefined);
        if (there && there.size === file.size && sameModificationTime(there.mtimeMs, file.mtimeMs)) {
          out.skipped++;
          budget -= file.size;
          continue;
        }
        if (file.size > budget) {
          out.beyondLimit++;
          continue;
        }
        await mkdir(dirname(dest), { recursive: true });
        // Copied under a temporary name and renamed: a crash never leaves a half file that a
        // rerun would take for a finished one.
        const temp = `${dest}.drbot-copy-${randomBytes(4).toString("hex")}`;
        try {
          await copyFile(file.path, temp);
          await chmod(temp, file.mode & 0o7777);
          await utimes(temp, file.atimeMs / 1000, file.mtimeMs / 1000);
          await rename(temp, dest);
        } catch (err) {
          await unlink(temp).catch(() => {});
          throw new DrbotError(
            kindOf(err),
            "efs.copy_failed",
            `Cannot copy ${file.path} to ${dest} (${code(err)}).`,
            {
              cause: err,
            },
          );
        }
        budget -= file.size;
        out.files++;
        out.bytes += file.size;
      }
      return out;
    },

    async moveDirectory(root, from, to, perms) {
      await this.probe(root);
      const source = join(root, ...safeSegments(from));
      const target = join(root, ...safeSegments(to));
      const [there, moved] = await Promise.all([directoryAt(source), directoryAt(target)]);
      if (there && moved) {
        throw new DrbotError(
          "conflict",
          "efs.move_both_exist",
          `Both ${source} and ${target} exist; drbot will not merge or overwrite either.`,
          { hint: "An operator must decide which one to keep, then resume." },
        );
      }
      if (!there) return moved ? "already" : "missing";
      await this.ensureDirectory(root, to.slice(0, -1), perms);
      try {
        await rename(source, target);
      } catch (err) {
        // A rerun racing itself: the first rename won.
        if (code(err) === "ENOENT" && (await directoryAt(target))) return "already";
        throw new DrbotError(
          kindOf(err),
          "efs.move_failed",
          `Cannot move ${source} to ${target} (${code(err)}).`,
          {
            cause: err,
          },
        );
      }
      return "moved";
    },

    async writeFileOnce(root, segments, content) {
      const path = join(root, ...safeSegments(segments));
      if (await exists(path)) return false;
      const temp = join(dirname(path), `.drbot-new-${basename(path)}-${randomBytes(4).toString("hex")}`);
      try {
        await writeFile(temp, content, { mode: 0o640, flag: "wx" });
        // link() would refuse an existing target; rename is atomic and the check above makes a
        // second writer rare (it would write the same facts).
        await rename(temp, path);
        return true;
      } catch (err) {
        await unlink(temp).catch(() => {});
        throw new DrbotError(kindOf(err), "efs.write_failed", `Cannot write ${path} (${code(err)}).`, {
          cause: err,
        });
      }
    },

    async readSmallFile(root, segments, maxBytes = 64 * 1024) {
      const path = join(root, ...safeSegments(segments));
      try {
        const s = await lstat(path);
        if (!s.isFile() || s.size > maxBytes) return null;
        return await readFile(path, "utf8");
      } catch (err) {
        if (code(err) === "ENOENT" || code(err) === "ENOTDIR") return null;
        throw new DrbotError(kindOf(err), "efs.read_failed", `Cannot read ${path} (${code(err)}).`, {
          cause: err,
        });
      }
    },

    async listEntries(root, segments) {
      const dir = join(root, ...safeSegments(segments));
      const out: DirectoryEntry[] = [];
      let handle: Awaited<ReturnType<typeof opendir>>;
      try {
        handle = await opendir(dir);
      } catch (err) {
        if (code(err) === "ENOENT") return out;
        throw new DrbotError(kindOf(err), "efs.walk_failed", `Cannot read ${dir} (${code(err)}).`, {
          cause: err,
        });
      }
      for await (const entry of handle) {
        const s = await lstat(join(dir, entry.name)).catch(() => undefined);
        if (s) out.push({ name: entry.name, directory: s.isDirectory(), mtimeMs: s.mtimeMs });
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : 1));
    },

    async claimEntry(root, segments, from, to) {
      const dir = join(root, ...safeSegments(segments));
      const [source, target] = safeSegments([from, to]).map((n) => join(dir, n)) as [string, string];
      if (await exists(target)) return false;
      try {
        await rename(source, target);
        return true;
      } catch (err) {
        if (code(err) === "ENOENT") return false;
        throw new DrbotError(kindOf(err), "efs.move_failed", `Cannot rename ${source} (${code(err)}).`, {
          cause: err,
        });
      }
    },

    async removeTree(root, segments) {
      const safe = safeSegments(segments);
      if (safe.length === 0)
        throw new DrbotError("invalid", "efs.unsafe_segment", "Refusing to remove a mount's root.");
      const path = join(root, ...safe);
      try {
        // rm removes symbolic links themselves; it never follows them out of the tree.
        await rm(path, { recursive: true, force: true, maxRetries: 2 });
      } catch (err) {
        throw new DrbotError(kindOf(err), "efs.remove_failed", `Cannot remove ${path} (${code(err)}).`, {
          cause: err,
        });
      }
    },

    async measure(root, segments, options) {
      return measureTree(join(root, ...safeSegments(segments)), options.deadline);
    },
  };
}

/** Whether anything (even a dangling link) is at `path`. */
async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Whether `path` is a directory (not a symbolic link to one); false when nothing is there. */
async function directoryAt(path: string): Promise<boolean> {
  try {
    const s = await lstat(path);
    if (s.isDirectory()) return true;
  } catch (err) {
    if (code(err) === "ENOENT") return false;
    throw new DrbotError(kindOf(err), "efs.stat_failed", `Cannot look at ${path} (${code(err)}).`, {
      cause: err,
    });
  }
  throw new DrbotError("conflict", "efs.not_a_directory", `${path} exists and is not a directory.`);
}

/** du-like: regular files' sizes, depth first, giving up at `deadline`. */
async function measureTree(
  base: string,
  deadline: number,
): Promise<{ bytes: number; files: number; complete: boolean } | null> {
  const out = { bytes: 0, files: 0, complete: false };
  const stack = [base];
  while (stack.length > 0) {
    if (Date.now() >= deadline) return out;
    const dir = stack.pop() as string;
    let handle: Awaited<ReturnType<typeof opendir>>;
    try {
      handle = await opendir(dir);
    } catch (err) {
      if (dir === base && code(err) === "ENOENT") return null;
      // A folder removed meanwhile or not readable: the total is then not the whole truth.
      return out;
    }
    for await (const entry of handle) {
      // Leaving the loop closes the directory handle.
      if (Date.now() >= deadline) return out;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) stack.push(path);
      else if (entry.isFile()) {
        const s = await lstat(path).catch(() => undefined);
        if (s) {
          out.bytes += s.size;
          out.files++;
        }
      }
    }
  }
  out.complete = true;
  return out;
}

function safeSegments(segments: readonly string[]): string[] {
  for (const segment of segments) {
    if (!segment || segment === "." || segment === ".." || segment.includes("/")) {
      throw new DrbotError("invalid", "efs.unsafe_segment", `Refusing unsafe directory name "${segment}".`);
    }
  }
  return [...segments];
}

interface ChangedFile {
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
  atimeMs: number;
}

/** Regular files changed after `sinceMs`, depth first, one directory open at a time per level. */
async function* changedFiles(
  base: string,
  sinceMs: number,
  skip: readonly string[],
): AsyncGenerator<ChangedFile> {
  const stack = [base];
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    let handle: Awaited<ReturnType<typeof opendir>>;
    try {
      handle = await opendir(dir);
    } catch (err) {
      if (code(err) === "ENOENT" && dir === base) return;
      throw new DrbotError(kindOf(err), "efs.walk_failed", `Cannot read ${dir} (${code(err)}).`, {
        cause: err,
      });
    }
    for await (const entry of handle) {
      const path = join(dir, entry.name);
      if (dir === base && skip.includes(entry.name)) continue;
      if (entry.name.includes(".drbot-copy-") || entry.name.startsWith(".drbot-new-")) continue;
      if (entry.isDirectory()) stack.push(path);
      else if (entry.isFile()) {
        const s = await lstat(path);
        if (s.mtimeMs > sinceMs)
          yield { path, size: s.size, mode: s.mode, mtimeMs: s.mtimeMs, atimeMs: s.atimeMs };
      }
    }
  }
}

/**
 * Creates one level; true when this call created it. Existing directories are left as they are.
 * The directory is made under a temporary name, given its mode and owner, then renamed into
 * place, so a crash can never leave a directory with the right name and the wrong owner (which
 * a retry would trust as already there).
 */
async function makeOne(path: string, perms: DirectoryPermissions): Promise<boolean> {
  if (await existingDirectory(path)) return false;
  const temp = join(dirname(path), `.drbot-new-${basename(path)}-${randomBytes(4).toString("hex")}`);
  try {
    await mkdir(temp, { mode: perms.mode });
  } catch (err) {
    throw new DrbotError(kindOf(err), "efs.mkdir_failed", `Cannot create ${path} (${code(err)}).`, {
      hint: "The worker may not write in its parent directory: check the mount is read-write and that volumes.rootDirectory belongs to the worker's uid.",
      cause: err,
    });
  }
  try {
    // mkdir's mode is filtered by the umask; set it exactly, then the owner.
    await chmod(temp, perms.mode);
    await chown(temp, perms.uid, perms.gid);
  } catch (err) {
    await rmdir(temp).catch(() => {});
    throw new DrbotError(
      "forbidden",
      "efs.chown_failed",
      `Cannot give ${path} the owner ${perms.uid}:${perms.gid} (${code(err)}).`,
      {
        hint: "The worker needs CAP_CHOWN on the EFS mount, or set volumes.directory.uid/gid to the worker's own.",
        cause: err,
      },
    );
  }
  try {
    // rename() would replace an existing *empty* directory: look once more right before it. Only
    // another drbot job creating the same level in that instant can still win the race, and
    // then both directories were made the same way.
    if (await existingDirectory(path)) {
      await rmdir(temp);
      return false;
    }
    await rename(temp, path);
    return true;
  } catch (err) {
    await rmdir(temp).catch(() => {});
    // Another job created the same level a moment ago: theirs stands.
    if (["EEXIST", "ENOTEMPTY", "EISDIR"].includes(code(err)) && (await existingDirectory(path)))
      return false;
    throw new DrbotError(kindOf(err), "efs.mkdir_failed", `Cannot create ${path} (${code(err)}).`, {
      cause: err,
    });
  }
}

/** True for an existing directory, false when nothing is there; a file in the way is an error. */
async function existingDirectory(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) return true;
  } catch (err) {
    if (code(err) === "ENOENT") return false;
    throw new DrbotError(kindOf(err), "efs.stat_failed", `Cannot look at ${path} (${code(err)}).`, {
      cause: err,
    });
  }
  throw new DrbotError("conflict", "efs.not_a_directory", `${path} exists and is not a directory.`, {
    hint: "An operator must move it away before this volume can be created.",
  });
}

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

function kindOf(err: unknown): "transient" | "forbidden" {
  const c = (err as NodeJS.ErrnoException).code;
  return c === "EACCES" || c === "EPERM" || c === "EROFS" ? "forbidden" : "transient";
}
