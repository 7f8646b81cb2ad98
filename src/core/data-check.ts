// The drill's data check: is the active site's data on the standby? For every volume directory
// (a path relative to both mounts) the active tree is walked and each regular file that changed
// before the last completed replication must exist on the standby with the same size; for a
// sample of files spread over the volumes the SHA-256 must match too.
//
// Built for 1,000 volumes and 100,000 files: directories are read as streams (fs.opendir), a
// bounded number of files is examined at once, and what is kept for the checksum sample is
// bounded by the sample size, not by the tree. Nothing is written: directories are only read,
// files are opened read-only (without updating their access time where the kernel allows it),
// and symbolic links are never followed.

import { createHash } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { type FileHandle, lstat, open, opendir, realpath } from "node:fs/promises";
import { isAbsolute, join, normalize, sep } from "node:path";
import { DrbotError } from "./errors.ts";
import { mapLimit } from "./map-limit.ts";

export interface DataCheckOptions {
  /** The active site's mount (with the root directory volumes live under). */
  activeRoot: string;
  /** The standby site's mount, the same way. */
  standbyRoot: string;
  /** Volume directories relative to both roots, e.g. `sales/shipping/shipping-dev/data`. */
  volumes: readonly string[];
  /** The standby holds everything written before this; later changes are skipped as too new. */
  lastReplicated: Date | number;
  /** Files whose SHA-256 is compared on both sides (0: none). */
  checksumSample: number;
  /** Makes the sample reproducible, e.g. the drill's request id. */
  seed: string;
  /** Files examined at once (default 32). */
  concurrency?: number;
  /** Mismatches kept in the result (default 100); all are counted. */
  maxMismatches?: number;
  signal?: AbortSignal;
  /** Called every `PROGRESS_EVERY` files and at the end of each volume. */
  onProgress?: (progress: { volumesDone: number; files: number }) => void;
}

export type MismatchKind =
  | "volume-missing" // the volume directory is absent (or not a directory) on a side
  | "missing" // a file is not on the standby
  | "type" // on the standby it is not a regular file
  | "size"
  | "checksum"
  | "unreadable"; // a directory or file could not be read

export interface DataMismatch {
  volume: string;
  /** Relative to the volume directory; "" for the volume itself. */
  path: string;
  kind: MismatchKind;
  /** What differs, for a human. */
  detail: string;
}

export interface DataCheckResult {
  volumes: number;
  /** Regular files compared (exists on the standby, same size). */
  files: number;
  /** Their size on the active side. */
  bytes: number;
  /** Files changed at or after `lastReplicated` (or gone during the check): not compared. */
  tooNew: number;
  /** Symbolic links, sockets, devices: not followed, not compared. */
  notRegular: number;
  /** The sampled files whose SHA-256 was compared (evidence for the report). */
  checksummed: { files: number; bytes: number; sample: Array<{ volume: string; path: string }> };
  /** The first `maxMismatches`. */
  mismatches: DataMismatch[];
  mismatchCount: number;
  durationMs: number;
}

const PROGRESS_EVERY = 1_000;
/** Volume trees walked at once; the files they find share the `concurrency` slots. */
const VOLUME_WALKERS = 4;
/** Candidates for the checksum sample kept per volume at least (bounds memory: volumes × this). */
const MIN_CANDIDATES_PER_VOLUME = 8;

export async function checkReplicaData(options: DataCheckOptions): Promise<DataCheckResult> {
  const started = Date.now();
  const volumes = validVolumes(options.volumes);
  const cutoff =
    typeof options.lastReplicated === "number" ? options.lastReplicated : options.lastReplicated.getTime();
  if (!Number.isFinite(cutoff)) throw invalid("lastReplicated is not a valid time");
  const concurrency = options.concurrency ?? 32;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw invalid("concurrency must be a positive integer");
  const sampleSize = Math.max(0, Math.floor(options.checksumSample));
  const [activeRoot, standbyRoot] = await Promise.all([
    realRoot(options.activeRoot),
    realRoot(options.standbyRoot),
  ]);

  const result: DataCheckResult = {
    volumes: volumes.length,
    files: 0,
    bytes: 0,
    tooNew: 0,
    notRegular: 0,
    checksummed: { files: 0, bytes: 0, sample: [] },
    mismatches: [],
    mismatchCount: 0,
    durationMs: 0,
  };
  const maxMismatches = options.maxMismatches ?? 100;
  const mismatch = (m: DataMismatch) => {
    result.mismatchCount++;
    if (result.mismatches.length < maxMismatches) result.mismatches.push(m);
  };
  const slots = new Slots(concurrency);
  const perVolume =
    sampleSize === 0
      ? 0
      : Math.min(sampleSize, Math.max(Math.ceil(sampleSize / volumes.length), MIN_CANDIDATES_PER_VOLUME));
  const candidates = new Map<string, Candidate[]>();
  let volumesDone = 0;
  let seen = 0;
  const progress = () => options.onProgress?.({ volumesDone, files: seen });

  const checkFile = async (volume: string, path: string, known?: Stats) => {
    try {
      const active = known ?? (await lstat(join(activeRoot, volume, path)));
      if (!active.isFile()) {
        result.notRegular++;
        return;
      }
      if (changedSince(active, cutoff)) {
        result.tooNew++;
        return;
      }
      let standby: Stats;
      try {
        standby = await lstat(join(standbyRoot, volume, path));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR")
          mismatch({
            volume,
            path,
            kind: "missing",
            detail: `not on the standby (${active.size} bytes on the active side)`,
          });
        else
          mismatch({
            volume,
            path,
            kind: "unreadable",
            detail: `standby: ${code ?? (err as Error).message}`,
          });
        return;
      }
      result.files++;
      result.bytes += active.size;
      if (!standby.isFile()) {
        mismatch({
          volume,
          path,
          kind: "type",
          detail: `a regular file on the active side, ${describeType(standby)} on the standby`,
        });
        return;
      }
      if (standby.size !== active.size) {
        mismatch({
          volume,
          path,
          kind: "size",
          detail: `${active.size} bytes on the active side, ${standby.size} on the standby`,
        });
        return;
      }
      if (perVolume > 0)
        keepCandidate(
          candidates,
          volume,
          { path, size: active.size, rank: rank(options.seed, volume, path) },
          perVolume,
        );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Gone from the active side since the directory was read: it changed after the replication.
      if (code === "ENOENT") result.tooNew++;
      else
        mismatch({ volume, path, kind: "unreadable", detail: `active: ${code ?? (err as Error).message}` });
    } finally {
      if (++seen % PROGRESS_EVERY === 0) progress();
    }
  };

  const walkVolume = async (volume: string) => {
    options.signal?.throwIfAborted();
    const sides = await Promise.all([
      volumeDirectory(activeRoot, volume, "active"),
      volumeDirectory(standbyRoot, volume, "standby"),
    ]);
    const problem = sides.find((s) => s !== undefined);
    if (problem) {
      mismatch({ volume, path: "", kind: "volume-missing", detail: problem });
      return;
    }
    // Depth first; the stack holds directory paths only, never a directory's files.
    const stack = [""];
    while (stack.length > 0) {
      const dirPath = stack.pop() as string;
      let dir: Awaited<ReturnType<typeof opendir>>;
      try {
        dir = await opendir(join(activeRoot, volume, dirPath), { bufferSize: 64 });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") continue; // removed since its parent was read
        mismatch({
          volume,
          path: dirPath,
          kind: "unreadable",
          detail: `active: ${code ?? (err as Error).message}`,
        });
        continue;
      }
      for await (const entry of dir) {
        const path = dirPath ? `${dirPath}/${entry.name}` : entry.name;
        if (entry.isDirectory()) stack.push(path);
        else if (entry.isFile()) await slots.run(() => checkFile(volume, path));
        else if (
          entry.isSymbolicLink() ||
          entry.isFIFO() ||
          entry.isSocket() ||
          entry.isBlockDevice() ||
          entry.isCharacterDevice()
        )
          result.notRegular++;
        else {
          // Some file systems do not report the type while listing: ask (here, so a directory
          // found this way is on the stack before the loop looks at it again).
          const st = await lstat(join(activeRoot, volume, path)).catch(() => undefined);
          if (st?.isDirectory()) stack.push(path);
          else if (st) await slots.run(() => checkFile(volume, path, st));
          else result.tooNew++; // gone since the directory was read
        }
        options.signal?.throwIfAborted();
      }
    }
  };

  await mapLimit(volumes, Math.min(VOLUME_WALKERS, concurrency), async (volume) => {
    await walkVolume(volume);
    volumesDone++;
    progress();
  });
  await slots.idle();

  // The checksum sample: round-robin over the volumes (in seeded order), each volume's
  // candidates in seeded order, so the sample is spread over volumes and the same for a seed.
  const sample = pickSample(candidates, sampleSize, options.seed);
  await mapLimit(sample, concurrency, async ({ volume, path, size }) => {
    options.signal?.throwIfAborted();
    const activePath = join(activeRoot, volume, path);
    const standbyPath = join(standbyRoot, volume, path);
    try {
      const [a, b] = await Promise.all([sha256(activePath, cutoff), sha256(standbyPath)]);
      if (a === "changed") {
        result.tooNew++;
        return;
      }
      result.checksummed.files++;
      result.checksummed.bytes += size;
      result.checksummed.sample.push({ volume, path });
      if (a !== b)
        mismatch({
          volume,
          path,
          kind: "checksum",
          detail: `SHA-256 differs: ${a.slice(0, 12)}… on the active side, ${b.slice(0, 12)}… on the standby`,
        });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      mismatch({ volume, path, kind: "unreadable", detail: `checksum: ${code ?? (err as Error).message}` });
    }
  });

  result.checksummed.sample.sort((a, b) => cmp(a.volume, b.volume) || cmp(a.path, b.path));
  result.durationMs = Date.now() - started;
  return result;
}

/** A file counts as changed when its content (mtime) or its inode (ctime: renames, copies that set an old mtime) changed. */
function changedSince(st: Stats, cutoff: number): boolean {
  return Math.max(st.mtimeMs, st.ctimeMs) >= cutoff;
}

function describeType(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

function invalid(message: string): DrbotError {
  return new DrbotError("invalid", "data_check.invalid", message);
}

/** Relative, normalised, inside the root: anything else is refused before anything is read. */
function validVolumes(volumes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const v of volumes) {
    const clean = normalize(v).replace(/[/\\]+$/, "");
    if (
      !v ||
      isAbsolute(v) ||
      clean !== v ||
      clean === "." ||
      clean.split(sep).includes("..") ||
      v.includes("\0")
    )
      throw invalid(`volume directory ${JSON.stringify(v)} must be a relative path like bu/app/ns/pvc`);
    out.add(clean);
  }
  return [...out];
}

async function realRoot(root: string): Promise<string> {
  try {
    const real = await realpath(root);
    if (!(await lstat(real)).isDirectory()) throw new Error("not a directory");
    return real;
  } catch (err) {
    throw new DrbotError(
      "not_found",
      "data_check.root_missing",
      `${root} is not a readable directory: ${(err as Error).message}`,
      {
        hint: "Check that the EFS file system is mounted there on the worker.",
      },
    );
  }
}

/** Why the volume directory cannot be walked on one side, or undefined when it can. */
async function volumeDirectory(
  root: string,
  volume: string,
  side: "active" | "standby",
): Promise<string | undefined> {
  const path = join(root, volume);
  try {
    const st = await lstat(path);
    if (!st.isDirectory()) return `${describeType(st)}, not a directory, on the ${side} mount`;
    // No component on the way may be a symbolic link leading elsewhere.
    if ((await realpath(path)) !== path) return `reached through a symbolic link on the ${side} mount`;
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return `no directory on the ${side} mount`;
    return `unreadable on the ${side} mount (${code ?? (err as Error).message})`;
  }
}

interface Candidate {
  path: string;
  size: number;
  rank: number;
}

/** Keeps a volume's `k` lowest-ranked files: the same set whatever order the directory lists them in. */
function keepCandidate(all: Map<string, Candidate[]>, volume: string, c: Candidate, k: number): void {
  let list = all.get(volume);
  if (!list) {
    list = [];
    all.set(volume, list);
  }
  if (list.length >= k && compare(c, list[list.length - 1] as Candidate) >= 0) return;
  const at = list.findIndex((x) => compare(c, x) < 0);
  list.splice(at < 0 ? list.length : at, 0, c);
  if (list.length > k) list.pop();
}

function compare(a: Candidate, b: Candidate): number {
  return a.rank - b.rank || cmp(a.path, b.path);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function pickSample(
  candidates: Map<string, Candidate[]>,
  size: number,
  seed: string,
): Array<Candidate & { volume: string }> {
  const order = [...candidates.keys()].sort(
    (a, b) => rank(seed, a, "") - rank(seed, b, "") || (a < b ? -1 : 1),
  );
  const picked: Array<Candidate & { volume: string }> = [];
  for (let round = 0; picked.length < size; round++) {
    let any = false;
    for (const volume of order) {
      const c = candidates.get(volume)?.[round];
      if (!c) continue;
      any = true;
      picked.push({ ...c, volume });
      if (picked.length >= size) break;
    }
    if (!any) break;
  }
  return picked;
}

/** A seeded 32-bit FNV-1a hash: cheap, and the same on every run for the same seed. */
function rank(seed: string, volume: string, path: string): number {
  let h = 0x811c9dc5;
  for (const part of [seed, volume, path]) {
    for (let i = 0; i < part.length; i++) {
      h ^= part.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0xff; // a separator: ("ab", "c") and ("a", "bc") rank differently
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * SHA-256 of a file, streamed; opened read-only and, where the kernel allows it (the owner),
 * without updating its access time. With `unchangedBefore`, "changed" when the file changed at or
 * after that instant (then it is not compared).
 */
async function sha256(path: string, unchangedBefore?: number): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NOATIME ?? 0) | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  }
  try {
    if (unchangedBefore !== undefined && changedSince(await handle.stat(), unchangedBefore)) return "changed";
    const hash = createHash("sha256");
    for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20 }))
      hash.update(chunk);
    return hash.digest("hex");
  } finally {
    await handle.close();
  }
}

/** At most `size` tasks at once; `run` waits for a free slot, then starts the task without waiting for it. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private running = 0;

  constructor(size: number) {
    this.free = size;
  }

  async run(task: () => Promise<void>): Promise<void> {
    if (this.free === 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.free--;
    this.running++;
    void task()
      .catch(() => {}) // tasks record their own failures
      .finally(() => {
        this.running--;
        const next = this.waiting.shift();
        if (next) next();
        else this.free++;
        if (this.running === 0 && this.waiting.length === 0) for (const r of this.idleWaiters.splice(0)) r();
      });
  }

  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
