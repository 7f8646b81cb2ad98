// A DR operation's per-volume data against the run's real Redis: the plan comes back whole (in
// batches for a big fleet, sorted for a small one), applied volumes and those needing attention
// are remembered, a resume can forget volumes, and each operation's data is its own and expires.

import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { OperationStore, type PlannedVolume } from "../../src/core/operation-store.ts";

let redis: Redis;
const prefixes: string[] = [];

function fresh(): { store: OperationStore; prefix: string } {
  const prefix = `opstore${randomBytes(4).toString("hex")}`;
  prefixes.push(prefix);
  return { store: new OperationStore(redis, prefix), prefix };
}

beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
});
afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
});

function volume(n: number, sha = `sha${n}`): PlannedVolume {
  const name = `pv-${String(n).padStart(5, "0")}`;
  return {
    path: `clusters/primary/volumes/team-a/${name}.yaml`,
    sha,
    targetPath: `clusters/secondary/volumes/team-a/${name}.yaml`,
    pvName: name,
    namespace: "team-a",
    pvcName: `data-${n}`,
    businessUnit: "payments",
    sizeGi: n,
    manifest: `apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: ${name}\n`,
    objects: [{ apiVersion: "v1", kind: "PersistentVolume", metadata: { name } }],
  };
}

const THIRTY_DAYS = 30 * 24 * 3600;

async function expectKeptThirtyDays(key: string): Promise<void> {
  const ttl = await redis.ttl(key);
  expect(ttl).toBeGreaterThan(THIRTY_DAYS - 60);
  expect(ttl).toBeLessThanOrEqual(THIRTY_DAYS);
}

describe("the plan", () => {
  it("comes back whole and sorted by path, whatever order it was written in", async () => {
    const { store, prefix } = fresh();
    const volumes = [volume(3), volume(1), volume(4), volume(2), volume(5)];
    await store.savePlanBatch("dr-00000001", volumes.slice(0, 3));
    await store.savePlanBatch("dr-00000001", volumes.slice(3));
    expect(await store.loadPlan("dr-00000001")).toEqual([1, 2, 3, 4, 5].map((n) => volume(n)));
    expect(await store.planSize("dr-00000001")).toBe(5);
    await expectKeptThirtyDays(`${prefix}:failover:dr-00000001:plan`);
  });

  it("replaces a volume planned again", async () => {
    const { store } = fresh();
    await store.savePlanBatch("dr-00000001", [volume(1, "old"), volume(2)]);
    await store.savePlanBatch("dr-00000001", [volume(1, "new")]);
    expect(await store.plannedShas("dr-00000001")).toEqual(
      expect.arrayContaining([
        { path: volume(1).path, sha: "new" },
        { path: volume(2).path, sha: "sha2" },
      ]),
    );
    expect(await store.planSize("dr-00000001")).toBe(2);
  });

  it("writes nothing for an empty batch, and an empty plan is scanned without a call", async () => {
    const { store, prefix } = fresh();
    await store.savePlanBatch("dr-00000001", []);
    expect(await redis.exists(`${prefix}:failover:dr-00000001:plan`)).toBe(0);
    let calls = 0;
    await store.scanPlan("dr-00000001", async () => {
      calls++;
    });
    expect(calls).toBe(0);
    expect(await store.loadPlan("dr-00000001")).toEqual([]);
    expect(await store.plannedShas("dr-00000001")).toEqual([]);
  });

  it("is read back from a big fleet in bounded batches, each volume exactly once", async () => {
    const { store } = fresh();
    const all = Array.from({ length: 1_050 }, (_, i) => volume(i));
    for (let i = 0; i < all.length; i += 200) await store.savePlanBatch("dr-00000001", all.slice(i, i + 200));
    const seen: string[] = [];
    const sizes: number[] = [];
    await store.scanPlan("dr-00000001", async (batch) => {
      sizes.push(batch.length);
      for (const v of batch) seen.push(v.path);
    });
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThan(1_050);
    expect(Math.min(...sizes)).toBeGreaterThan(0);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual(all.map((v) => v.path).sort());
    const shas = await store.plannedShas("dr-00000001");
    expect(shas).toHaveLength(1_050);
    expect(shas.find((s) => s.path === volume(777).path)).toEqual({ path: volume(777).path, sha: "sha777" });
  });

  it("is each operation's own, and starts afresh when cleared", async () => {
    const { store } = fresh();
    await store.savePlanBatch("dr-00000001", [volume(1)]);
    await store.savePlanBatch("dr-00000002", [volume(2)]);
    await store.markApplied("dr-00000001", volume(1).path);
    await store.markAttention("dr-00000001", volume(1).path, "PVC still bound");
    await store.markApplied("dr-00000002", volume(2).path);
    expect(await store.loadPlan("dr-00000001")).toEqual([volume(1)]);
    expect(await store.applied("dr-00000002")).toEqual(new Set([volume(2).path]));

    await store.clearPlan("dr-00000001");
    expect(await store.planSize("dr-00000001")).toBe(0);
    expect(await store.applied("dr-00000001")).toEqual(new Set());
    expect(await store.attention("dr-00000001")).toEqual({});
    expect(await store.loadPlan("dr-00000002")).toEqual([volume(2)]);
    expect(await store.applied("dr-00000002")).toEqual(new Set([volume(2).path]));
  });
});

describe("progress", () => {
  it("remembers the applied volumes and those needing attention, for thirty days", async () => {
    const { store, prefix } = fresh();
    expect(await store.applied("dr-00000001")).toEqual(new Set());
    expect(await store.attention("dr-00000001")).toEqual({});
    await store.markApplied("dr-00000001", volume(1).path);
    await store.markApplied("dr-00000001", volume(2).path);
    await store.markApplied("dr-00000001", volume(1).path);
    await store.markAttention("dr-00000001", volume(3).path, "mount target missing");
    expect(await store.applied("dr-00000001")).toEqual(new Set([volume(1).path, volume(2).path]));
    expect(await store.attention("dr-00000001")).toEqual({ [volume(3).path]: "mount target missing" });
    await expectKeptThirtyDays(`${prefix}:failover:dr-00000001:applied`);
    await expectKeptThirtyDays(`${prefix}:failover:dr-00000001:attention`);
  });

  it("forgets re-planned volumes' progress and drops removed ones from the plan", async () => {
    const { store } = fresh();
    await store.savePlanBatch("dr-00000001", [volume(1), volume(2), volume(3), volume(4)]);
    for (const n of [1, 2, 3, 4]) await store.markApplied("dr-00000001", volume(n).path);
    await store.markAttention("dr-00000001", volume(1).path, "a");
    await store.markAttention("dr-00000001", volume(2).path, "b");
    await store.markAttention("dr-00000001", volume(4).path, "d");

    await store.forget("dr-00000001", [volume(1).path], [volume(2).path]);
    expect(await store.loadPlan("dr-00000001")).toEqual([volume(1), volume(3), volume(4)]);
    expect(await store.applied("dr-00000001")).toEqual(new Set([volume(3).path, volume(4).path]));
    expect(await store.attention("dr-00000001")).toEqual({ [volume(4).path]: "d" });

    await store.forget("dr-00000001", [volume(3).path], []);
    expect(await store.applied("dr-00000001")).toEqual(new Set([volume(4).path]));
    expect(await store.planSize("dr-00000001")).toBe(3);

    await store.forget("dr-00000001", [], [volume(4).path]);
    expect(await store.applied("dr-00000001")).toEqual(new Set());
    expect(await store.attention("dr-00000001")).toEqual({});
    expect(await store.loadPlan("dr-00000001")).toEqual([volume(1), volume(3)]);

    await store.forget("dr-00000001", [], []);
    expect(await store.planSize("dr-00000001")).toBe(2);
  });
});
