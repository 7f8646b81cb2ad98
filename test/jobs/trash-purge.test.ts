// The trash purge against real directories: only entries drbot made and older than the retention
// go, on both mounts; the standby's read-only replica is left to replication; a purge that died
// half-way is finished; several purges at once remove and report each entry once.

import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLocalDirectories } from "../../src/adapters/local-directories.ts";
import { AuditLog } from "../../src/core/audit.ts";
import { type Config, loadConfig } from "../../src/core/config.ts";
import { DrbotError } from "../../src/core/errors.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { ChatPort } from "../../src/core/ports/chat.ts";
import type { DirectoryStore } from "../../src/core/ports/directories.ts";
import { runTrashPurge } from "../../src/jobs/trash-purge/index.ts";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);
const CHANNEL = "C0DRBOT";

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
});
afterAll(() => redis.disconnect());

async function setUp() {
  const dir = await mkdtemp(join(tmpdir(), "drbot-purge-"));
  const mounts = { primary: join(dir, "primary"), secondary: join(dir, "secondary") };
  await Promise.all([mkdir(mounts.primary), mkdir(mounts.secondary)]);
  const base = loadConfig(new URL("../../drbot.example.yaml", import.meta.url).pathname);
  const config: Config = {
    ...base,
    sites: {
      primary: { ...base.sites.primary, efs: { ...base.sites.primary.efs, mountPath: mounts.primary } },
      secondary: {
        ...base.sites.secondary,
        efs: { ...base.sites.secondary.efs, mountPath: mounts.secondary },
      },
    },
  };
  const posted: Array<{ channel: string; text: string }> = [];
  const chat = {
    post: async (channel: string, text: string) => {
      posted.push({ channel, text });
      return { channel, ts: String(posted.length) };
    },
  } as unknown as ChatPort;
  const prefix = `purge${Math.random().toString(16).slice(2, 8)}`;
  const deps = {
    config,
    directories: createLocalDirectories(),
    chat,
    audit: new AuditLog(redis, prefix),
    log: createLogger({ level: "error", secrets: [] }),
    now: () => NOW,
  };
  const trash = (site: "primary" | "secondary") => join(mounts[site], "k8s-static-volumes/.drbot-trash");
  /** A trash entry as a delete leaves it, moved `ageDays` ago. */
  const entry = async (site: "primary" | "secondary", id: string, ageDays: number, file = true) => {
    const data = join(trash(site), id, "sales/app/ns/data");
    await mkdir(data, { recursive: true });
    await writeFile(join(data, "rows.bin"), "x".repeat(100));
    if (file) {
      const info = {
        requestId: id,
        volume: "sales.app.ns.data",
        movedAt: NOW - ageDays * DAY,
        site: "primary",
        channel: CHANNEL,
        requester: "U0REQ1",
      };
      await writeFile(join(trash(site), id, ".drbot-entry.json"), JSON.stringify(info));
    }
  };
  return { deps, mounts, trash, entry, posted, prefix };
}

describe("runTrashPurge", () => {
  it("removes only drbot's entries older than the retention, on both mounts, one line per entry in its channel", async () => {
    const t = await setUp();
    await t.entry("primary", "vol-00000001", 31);
    await t.entry("secondary", "vol-00000001", 31); // replication's copy of it
    await t.entry("primary", "vol-00000002", 29);
    await t.entry("primary", "vol-00000003", 45, false); // no entry file: its directory's age counts
    await utimes(join(t.trash("primary"), "vol-00000003"), (NOW - 45 * DAY) / 1000, (NOW - 45 * DAY) / 1000);
    // Names a delete never gives: left alone, however old.
    await mkdir(join(t.trash("primary"), "not-drbot"), { recursive: true });
    await mkdir(join(t.trash("primary"), "vol-1234"), { recursive: true });
    await writeFile(join(t.trash("primary"), "vol-00000009"), "a file, not an entry");

    const result = await runTrashPurge(t.deps);
    expect(result.purged.map((p) => [p.requestId, p.sites])).toEqual([
      ["vol-00000001", ["primary", "secondary"]],
      ["vol-00000003", ["primary"]],
    ]);
    expect(result.kept).toBe(1);
    expect(existsSync(join(t.trash("primary"), "vol-00000001"))).toBe(false);
    expect(existsSync(join(t.trash("secondary"), "vol-00000001"))).toBe(false);
    expect(
      await readFile(join(t.trash("primary"), "vol-00000002/sales/app/ns/data/rows.bin"), "utf8"),
    ).toHaveLength(100);
    for (const kept of ["not-drbot", "vol-1234", "vol-00000009"])
      expect(existsSync(join(t.trash("primary"), kept))).toBe(true);

    // One line for the entry with its facts in the delete's channel; the one without facts goes to
    // dr.alertChannel, which is unset in the example, so it is only audited.
    expect(t.posted).toHaveLength(1);
    expect(t.posted[0]?.channel).toBe(CHANNEL);
    expect(t.posted[0]?.text).toMatch(
      /Purged from the trash: volume `sales\.app\.ns\.data`, deleted on 2026-10-21 by <@U0REQ1> \(request `vol-00000001`\), is now gone from the primary and secondary file systems after 30d in the trash\./,
    );
    const audited = [];
    for await (const e of t.deps.audit.read({})) audited.push(e);
    expect(audited.filter((e) => e.event === "trash.purged").map((e) => e.request)).toEqual([
      "vol-00000001",
      "vol-00000003",
    ]);
    // Nothing left to do the second time.
    expect((await runTrashPurge(t.deps)).purged).toEqual([]);
  });

  it("leaves a read-only standby to replication, and finishes a purge that died half-way", async () => {
    const t = await setUp();
    await t.entry("primary", "vol-00000001", 40);
    await t.entry("secondary", "vol-00000001", 40);
    await mkdir(join(t.trash("primary"), ".purging-vol-00000005/sales"), { recursive: true });
    // The standby's file system is a replication destination: the NFS server refuses writes.
    const local = createLocalDirectories();
    const readOnly = (root: string) => {
      if (root === t.mounts.secondary)
        throw new DrbotError("forbidden", "efs.move_failed", `Cannot rename in ${root} (EROFS).`);
    };
    const directories: DirectoryStore = {
      ...local,
      claimEntry: async (root, ...rest) => {
        readOnly(root);
        return local.claimEntry(root, ...rest);
      },
      removeTree: async (root, ...rest) => {
        readOnly(root);
        return local.removeTree(root, ...rest);
      },
    };
    const result = await runTrashPurge({ ...t.deps, directories });
    expect(result.skipped).toEqual([{ site: "secondary", reason: expect.stringMatching(/EROFS/) }]);
    expect(existsSync(join(t.trash("secondary"), "vol-00000001"))).toBe(true);
    expect(result.purged.map((p) => [p.requestId, p.sites])).toEqual([["vol-00000001", ["primary"]]]);
    expect(existsSync(join(t.trash("primary"), "vol-00000001"))).toBe(false);
    expect(existsSync(join(t.trash("primary"), ".purging-vol-00000005"))).toBe(false);
    expect(t.posted).toHaveLength(1);
  });

  it("removes and reports each entry once when several purges run at the same time", async () => {
    const t = await setUp();
    for (let i = 0; i < 20; i++) await t.entry("primary", `vol-000000${String(i).padStart(2, "0")}`, 31);
    const results = await Promise.all(Array.from({ length: 4 }, () => runTrashPurge(t.deps)));
    const purged = results.flatMap((r) => r.purged.map((p) => p.requestId)).sort();
    expect(purged).toHaveLength(20);
    expect(new Set(purged).size).toBe(20);
    expect(t.posted).toHaveLength(20);
  });
});
