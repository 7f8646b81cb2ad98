// The drill's data check over real directory trees: a healthy replica passes; a file missing on
// the standby, a size or content difference and a missing volume directory are each named by
// volume and path; files changed after the last replication are skipped; the checksum sample is
// spread over volumes and reproducible; links are not followed; nothing is written.

import { lstat, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkReplicaData, type DataCheckOptions } from "../../src/core/data-check.ts";

let dir: string;
let active: string;
let standby: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "drbot-data-check-"));
  active = join(dir, "active");
  standby = join(dir, "standby");
  await Promise.all([mkdir(active), mkdir(standby)]);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(root: string, path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

/** The same files on both sides, all written before the instant this returns at. */
async function both(files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await put(active, path, content);
    await put(standby, path, content);
  }
  // File times have sub-millisecond precision and Date.now() does not: move past the last write.
  await clockPast(Date.now() + 1);
}

async function clockPast(ms: number): Promise<void> {
  while (Date.now() <= ms) await new Promise((r) => setTimeout(r, 2));
}

const VOLUMES = ["sales/shop/shop-dev/data", "sales/shop/shop-prd/data", "hr/pay/pay-prd/db"];

function seedFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const v of VOLUMES) {
    files[`${v}/README`] = `readme of ${v}`;
    files[`${v}/a/b/c/deep.bin`] = "x".repeat(4096);
    for (let i = 0; i < 5; i++) files[`${v}/logs/day-${i}.log`] = `log ${i} of ${v}\n`.repeat(i + 1);
  }
  return files;
}

function check(over: Partial<DataCheckOptions> = {}) {
  return checkReplicaData({
    activeRoot: active,
    standbyRoot: standby,
    volumes: VOLUMES,
    lastReplicated: Date.now(),
    checksumSample: 1_000,
    seed: "dr-0000abcd",
    ...over,
  });
}

describe("checkReplicaData", () => {
  it("passes a healthy replica, counting files and bytes and checksumming the sample", async () => {
    const files = seedFiles();
    await both(files);
    const result = await check();
    expect(result.mismatches).toEqual([]);
    expect(result.mismatchCount).toBe(0);
    expect(result.volumes).toBe(3);
    expect(result.files).toBe(Object.keys(files).length);
    expect(result.bytes).toBe(Object.values(files).reduce((n, c) => n + Buffer.byteLength(c), 0));
    expect(result.tooNew).toBe(0);
    expect(result.checksummed.files).toBe(Object.keys(files).length);
    expect(result.checksummed.bytes).toBe(result.bytes);
  });

  it("names a file missing on the standby", async () => {
    await both(seedFiles());
    await rm(join(standby, VOLUMES[1]!, "a/b/c/deep.bin"));
    const result = await check();
    expect(result.mismatches).toEqual([
      {
        volume: VOLUMES[1],
        path: "a/b/c/deep.bin",
        kind: "missing",
        detail: "not on the standby (4096 bytes on the active side)",
      },
    ]);
  });

  it("names a file whose size differs", async () => {
    await both(seedFiles());
    await writeFile(join(standby, VOLUMES[0]!, "logs/day-2.log"), "truncated");
    const result = await check({ checksumSample: 0 });
    expect(result.mismatches).toEqual([
      {
        volume: VOLUMES[0],
        path: "logs/day-2.log",
        kind: "size",
        detail: expect.stringMatching(/^\d+ bytes on the active side, 9 on the standby$/),
      },
    ]);
  });

  it("names a file with the same size and different content when it is in the sample", async () => {
    await both(seedFiles());
    await writeFile(join(standby, VOLUMES[2]!, "a/b/c/deep.bin"), "y".repeat(4096));
    const result = await check();
    expect(result.mismatches).toEqual([
      {
        volume: VOLUMES[2],
        path: "a/b/c/deep.bin",
        kind: "checksum",
        detail: expect.stringMatching(
          /^SHA-256 differs: [0-9a-f]{12}… on the active side, [0-9a-f]{12}… on the standby$/,
        ),
      },
    ]);
    // Without a sample the sizes agree and nothing is found: the checksum is what caught it.
    expect((await check({ checksumSample: 0 })).mismatchCount).toBe(0);
  });

  it("names a volume whose directory is missing on the standby, once", async () => {
    await both(seedFiles());
    await rm(join(standby, VOLUMES[0]!), { recursive: true });
    const result = await check();
    expect(result.mismatches).toEqual([
      { volume: VOLUMES[0], path: "", kind: "volume-missing", detail: "no directory on the standby mount" },
    ]);
    expect(result.files).toBe(2 * 7);
  });

  it("skips files changed after the last replication, and counts them", async () => {
    await both(seedFiles());
    const lastReplicated = Date.now();
    // File times come from a coarse kernel clock: leave it time to pass the cut-off.
    await clockPast(lastReplicated + 20);
    // Written after the replication: not on the standby yet, and not a problem.
    await put(active, `${VOLUMES[0]}/new-upload.bin`, "fresh");
    // Rewritten after it: its size differs from the standby's older copy.
    await writeFile(join(active, VOLUMES[1]!, "README"), "a longer readme than before");
    // An old file whose modification time was set into the future.
    await utimes(join(active, VOLUMES[2]!, "logs/day-0.log"), new Date(), new Date(Date.now() + 3_600_000));
    const result = await check({ lastReplicated });
    expect(result.mismatches).toEqual([]);
    expect(result.tooNew).toBe(3);
    expect(result.files).toBe(3 * 7 - 2);
  });

  it("spreads the checksum sample over the volumes, the same for the same seed", async () => {
    const files: Record<string, string> = {};
    const volumes = Array.from({ length: 10 }, (_, v) => `bu/app/ns-${v}/pvc`);
    for (const v of volumes) for (let i = 0; i < 30; i++) files[`${v}/f-${i}`] = `${v} ${i}`;
    await both(files);
    const first = await check({ volumes, checksumSample: 10, seed: "dr-00000001" });
    expect(first.checksummed.files).toBe(10);
    expect(new Set(first.checksummed.sample.map((s) => s.volume)).size).toBe(10);
    const again = await check({ volumes, checksumSample: 10, seed: "dr-00000001" });
    expect(again.checksummed.sample).toEqual(first.checksummed.sample);
    const other = await check({ volumes, checksumSample: 10, seed: "dr-00000002" });
    expect(other.checksummed.sample).not.toEqual(first.checksummed.sample);
    // Twice as many as volumes: two from each.
    const twenty = await check({ volumes, checksumSample: 20, seed: "dr-00000001" });
    const perVolume = new Map<string, number>();
    for (const s of twenty.checksummed.sample) perVolume.set(s.volume, (perVolume.get(s.volume) ?? 0) + 1);
    expect([...perVolume.values()]).toEqual(Array(10).fill(2));
    // Volumes without files leave their share to the others.
    const sparse = await check({ volumes: [...volumes.slice(0, 2), "bu/app/empty/pvc"], checksumSample: 12 });
    expect(sparse.checksummed.files).toBe(12);
  });

  it("does not follow symbolic links, on either side", async () => {
    await both(seedFiles());
    const outside = join(dir, "outside");
    await put(outside, "secret/file", "not part of any volume");
    await symlink(outside, join(active, VOLUMES[0]!, "link-to-outside"));
    await symlink(join(outside, "secret/file"), join(active, VOLUMES[0]!, "file-link"));
    // On the standby the volume directory itself is a link to somewhere else.
    await rm(join(standby, VOLUMES[1]!), { recursive: true });
    await symlink(join(standby, VOLUMES[0]!), join(standby, VOLUMES[1]!));
    const result = await check();
    expect(result.notRegular).toBe(2);
    expect(result.mismatches).toEqual([
      {
        volume: VOLUMES[1],
        path: "",
        kind: "volume-missing",
        detail: "a symbolic link, not a directory, on the standby mount",
      },
    ]);
  });

  it("names a file that is something else on the standby", async () => {
    await both(seedFiles());
    await rm(join(standby, VOLUMES[0]!, "README"));
    await mkdir(join(standby, VOLUMES[0]!, "README"));
    const result = await check();
    expect(result.mismatches).toEqual([
      {
        volume: VOLUMES[0],
        path: "README",
        kind: "type",
        detail: "a regular file on the active side, a directory on the standby",
      },
    ]);
  });

  it("keeps the first 100 mismatches and counts them all", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`${VOLUMES[0]}/f-${i}`] = "content";
    for (const [path, content] of Object.entries(files)) await put(active, path, content);
    await mkdir(join(standby, VOLUMES[0]!), { recursive: true });
    await clockPast(Date.now() + 1);
    const result = await check({ volumes: [VOLUMES[0]!] });
    expect(result.mismatchCount).toBe(150);
    expect(result.mismatches).toHaveLength(100);
    expect(result.mismatches.every((m) => m.kind === "missing")).toBe(true);
  });

  it("refuses volume paths that leave the roots, before reading anything", async () => {
    for (const bad of ["../etc", "/etc", "a/../../b", "", "a/./b", "a//b"]) {
      await expect(check({ volumes: [bad] }), bad).rejects.toThrow(
        /must be a relative path like bu\/app\/ns\/pvc/,
      );
    }
    await expect(check({ activeRoot: join(dir, "not-mounted") })).rejects.toThrow(
      /not-mounted is not a readable directory/,
    );
  });

  it("writes nothing: no file's access, change or modification time moves", async () => {
    const files = seedFiles();
    await both(files);
    const times = async () =>
      Promise.all(
        Object.keys(files).flatMap((p) =>
          [active, standby].map(async (root) => {
            const st = await lstat(join(root, p));
            return `${root}/${p} ${st.atimeMs} ${st.mtimeMs} ${st.ctimeMs}`;
          }),
        ),
      );
    const before = await times();
    const result = await check();
    expect(result.checksummed.files).toBe(Object.keys(files).length);
    expect(await times()).toEqual(before);
  });
});
