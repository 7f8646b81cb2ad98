// Benchmark: the drill's data check over 1,000 volumes × 100 small files (100,000 files on each
// side, on tmpfs when there is one), against a `du`-style baseline measured in the same run: one
// `find <root> -type f -printf '%s %p\n'` pass over each tree. Each side runs as its own process
// so its peak resident memory is its own: drbot's check in a child Node process (its VmHWM),
// the baseline's `find` under GNU time when it is installed.
//
// `node bench/drill-data.ts [volumes] [files per volume]` runs it alone; `npm run bench -- drill` runs it from bench/run.ts.

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkReplicaData, type DataCheckResult } from "../src/core/data-check.ts";

const SELF = fileURLToPath(import.meta.url);
const CHILD_FLAG = "--drill-data-child";

export interface DrillDataFigures {
  volumes: number;
  files: number;
  /** Median of the runs, ms. */
  drbotMs: number;
  drbotPeakRssMb: number;
  /** A Node process that does nothing, for scale. */
  nodeIdleRssMb: number;
  baselineMs: number;
  /** Of the larger `find`; undefined without GNU time. */
  baselinePeakRssMb: number | undefined;
  checked: Pick<DataCheckResult, "files" | "bytes" | "mismatchCount" | "tooNew"> & { checksummed: number };
  runs: number;
  where: string;
}

export async function benchDrillData(
  volumes = 1_000,
  filesPerVolume = 100,
  runs = 3,
): Promise<DrillDataFigures> {
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dir = await mkdtemp(join(base, "drbot-drill-bench-"));
  try {
    const active = join(dir, "active");
    const standby = join(dir, "standby");
    const paths = await buildTrees(active, standby, volumes, filesPerVolume);
    const volumesFile = join(dir, "volumes.json");
    await writeFile(volumesFile, JSON.stringify(paths));
    // The trees were written before this instant; the check compares everything.
    const lastReplicated = Date.now() + 1_000;
    while (Date.now() < lastReplicated) await new Promise((r) => setTimeout(r, 50));

    // One warm-up pass of each, then alternate, so neither profits from going second.
    await find(active);
    await child(active, standby, volumesFile, lastReplicated);
    const ours: Array<{ ms: number; rssMb: number; result: DataCheckResult }> = [];
    const theirs: Array<{ ms: number; rssMb: number | undefined }> = [];
    for (let i = 0; i < runs; i++) {
      ours.push(await child(active, standby, volumesFile, lastReplicated));
      const started = performance.now();
      const [a, b] = [await find(active), await find(standby)];
      theirs.push({
        ms: performance.now() - started,
        rssMb: a.rssMb === undefined || b.rssMb === undefined ? undefined : Math.max(a.rssMb, b.rssMb),
      });
      if (a.lines !== volumes * filesPerVolume || b.lines !== a.lines)
        throw new Error(`find listed ${a.lines} and ${b.lines} files, expected ${volumes * filesPerVolume}`);
    }
    const last = ours.at(-1)?.result as DataCheckResult;
    if (last.mismatchCount !== 0 || last.files !== volumes * filesPerVolume)
      throw new Error(`the check found ${last.mismatchCount} mismatches over ${last.files} files`);
    return {
      volumes,
      files: volumes * filesPerVolume,
      drbotMs: median(ours.map((o) => o.ms)),
      drbotPeakRssMb: Math.max(...ours.map((o) => o.rssMb)),
      nodeIdleRssMb: await idleNodeRssMb(),
      baselineMs: median(theirs.map((t) => t.ms)),
      baselinePeakRssMb: theirs[0]?.rssMb,
      checked: {
        files: last.files,
        bytes: last.bytes,
        mismatchCount: last.mismatchCount,
        tooNew: last.tooNew,
        checksummed: last.checksummed.files,
      },
      runs,
      where: base,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `volumes` directories `bu-x/app/ns-y/pvc-z` with `files` small files each (a few levels deep); the standby a copy. */
async function buildTrees(
  active: string,
  standby: string,
  volumes: number,
  files: number,
): Promise<string[]> {
  const paths: string[] = [];
  for (let v = 0; v < volumes; v++) {
    const volume = `bu-${v % 7}/app-${v % 13}/ns-${v % 50}/pvc-${v}`;
    paths.push(volume);
    const dirs = ["", "data", "data/2026/11"];
    for (const d of dirs) await mkdir(join(active, volume, d), { recursive: true });
    const writes: Promise<void>[] = [];
    for (let f = 0; f < files; f++) {
      const size = 200 + ((v * 131 + f * 977) % 3_800);
      writes.push(
        writeFile(
          join(active, volume, dirs[f % dirs.length] as string, `file-${f}.dat`),
          Buffer.alloc(size, f),
        ),
      );
    }
    await Promise.all(writes);
  }
  // The replica: a copy keeping times, as replication would.
  await run("cp", ["-a", active, standby]);
  return paths;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { stdio: "ignore" });
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}`))));
  });
}

const GNU_TIME = "/usr/bin/time";

/** One `find` pass, its output read to the end (as a tool would), and its peak RSS when measurable. */
function find(root: string): Promise<{ lines: number; rssMb: number | undefined }> {
  const timed = existsSync(GNU_TIME);
  const args = ["find", root, "-type", "f", "-printf", "%s %p\\n"];
  return new Promise((resolve, reject) => {
    const p = timed
      ? spawn(GNU_TIME, ["-f", "maxrss-kb %M", ...args], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn(args[0] as string, args.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let lines = 0;
    let err = "";
    p.stdout.on("data", (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 10) lines++;
    });
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`find exited ${code}: ${err}`));
      const kb = /maxrss-kb (\d+)/.exec(err)?.[1];
      resolve({ lines, rssMb: kb ? Number(kb) / 1024 : undefined });
    });
  });
}

/** drbot's check in a fresh Node process: its wall time (inside the process) and peak RSS. */
function child(
  active: string,
  standby: string,
  volumesFile: string,
  lastReplicated: number,
): Promise<{ ms: number; rssMb: number; result: DataCheckResult }> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [SELF, CHILD_FLAG, active, standby, volumesFile, String(lastReplicated)],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("error", reject);
    p.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`check exited ${code}`)),
    );
  });
}

/**
 * Peak RSS in MB of the process running this code. Linux's VmHWM counts the program's own pages;
 * getrusage's maxrss would count the parent's too (it carries over from fork through exec).
 */
const PEAK_RSS_MB_JS = `(() => {
  const kb = /VmHWM:\\s+(\\d+) kB/.exec(require("node:fs").readFileSync("/proc/self/status", "utf8"))?.[1];
  return kb ? Number(kb) / 1024 : process.resourceUsage().maxRSS / 1024;
})()`;

function peakRssMb(): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  return kb ? Number(kb) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** The same figure for a Node process that does nothing: what any Node process costs. */
function idleNodeRssMb(): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["-e", `process.stdout.write(String(${PEAK_RSS_MB_JS}))`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("error", reject);
    p.on("exit", () => resolve(Number(out)));
  });
}

if (process.argv[2] === CHILD_FLAG) {
  const [active, standby, volumesFile, lastReplicated] = process.argv.slice(3) as [
    string,
    string,
    string,
    string,
  ];
  const { readFile } = await import("node:fs/promises");
  const volumes = JSON.parse(await readFile(volumesFile, "utf8")) as string[];
  const started = performance.now();
  const result = await checkReplicaData({
    activeRoot: active,
    standbyRoot: standby,
    volumes,
    lastReplicated: Number(lastReplicated),
    checksumSample: 200,
    seed: "dr-bench0001",
  });
  const ms = performance.now() - started;
  process.stdout.write(
    JSON.stringify({
      ms,
      rssMb: peakRssMb(),
      result: { ...result, mismatches: [] },
    }),
  );
} else if (process.argv[1] === SELF) {
  const [volumes, files] = process.argv.slice(2).map(Number);
  const f = await benchDrillData(volumes || 1_000, files || 100);
  console.log(JSON.stringify(f, null, 2));
}
