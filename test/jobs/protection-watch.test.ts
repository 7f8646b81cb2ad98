// The protection watch's decision (pure) and its shared alert state (real Redis): when protection
// counts as lost, and that however many processes report at once, one posts and one resolves.

import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ReplicationInfo } from "../../src/core/ports/efs.ts";
import { assessProtection, type ProtectionInput } from "../../src/jobs/protection-watch/assess.ts";
import { ProtectionStore } from "../../src/jobs/protection-watch/store.ts";

const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);
const MIN = 60_000;
const active = { site: "primary", fileSystemId: "fs-0aaa1111", region: "us-east-1" } as const;
const standby = { site: "secondary", fileSystemId: "fs-0bbb2222", region: "us-west-2" } as const;

function replication(
  over: Partial<ReplicationInfo["destinations"][number]> = {},
  source = active.fileSystemId,
) {
  return {
    sourceFileSystemId: source,
    sourceRegion: "us-east-1",
    destinations: [
      {
        fileSystemId: standby.fileSystemId,
        region: standby.region,
        status: "ENABLED",
        lastReplicatedTimestamp: new Date(NOW - 5 * MIN),
        ...over,
      },
    ],
  } satisfies ReplicationInfo;
}

function assess(over: Partial<ProtectionInput>) {
  return assessProtection({
    now: NOW,
    active,
    standby,
    replication: replication(),
    rpoObjectiveMs: 30 * MIN,
    ...over,
  });
}

describe("assessProtection", () => {
  it("is protected while replication from the active file system is ENABLED and within the objective", () => {
    const a = assess({});
    expect(a).toMatchObject({ protected: true, lagMs: 5 * MIN, lastReplicated: NOW - 5 * MIN });
    expect(a.summary).toBe(
      "replication from fs-0aaa1111 (primary) to fs-0bbb2222 (secondary) is ENABLED, 5m behind (objective 30m)",
    );
    // Exactly at the objective is still within it.
    expect(
      assess({ replication: replication({ lastReplicatedTimestamp: new Date(NOW - 30 * MIN) }) }).protected,
    ).toBe(true);
  });

  it("is lost when the lag is above the objective, since the moment it crossed it", () => {
    const a = assess({ replication: replication({ lastReplicatedTimestamp: new Date(NOW - 45 * MIN) }) });
    expect(a).toMatchObject({ protected: false, problem: "lag", lagMs: 45 * MIN, lostSince: NOW - 15 * MIN });
    expect(a.summary).toMatch(/is 45m behind, above the 30m objective$/);
  });

  it("is lost without replication, and keeps counting the lag from the last copy seen", () => {
    expect(assess({ replication: null })).toMatchObject({
      protected: false,
      problem: "no-replication",
      lostSince: NOW,
    });
    expect(assess({ replication: null }).lagMs).toBeUndefined();
    expect(assess({ replication: null, lastKnownReplicated: NOW - 50 * MIN })).toMatchObject({
      problem: "no-replication",
      lagMs: 50 * MIN,
    });
    expect(assess({ replication: { ...replication(), destinations: [] } }).problem).toBe("no-replication");
  });

  it("is lost when the status is not ENABLED, whatever the lag", () => {
    for (const status of ["PAUSED", "ERROR", "ENABLING", "DELETING", "PAUSING"]) {
      const a = assess({ replication: replication({ status }) });
      expect(a).toMatchObject({ protected: false, problem: "not-enabled", status, lagMs: 5 * MIN });
      expect(a.summary).toContain(`is ${status}, not ENABLED`);
    }
  });

  it("is lost while no copy has completed", () => {
    expect(assess({ replication: replication({ lastReplicatedTimestamp: undefined }) })).toMatchObject({
      protected: false,
      problem: "never-replicated",
    });
  });

  it("is lost when replication runs toward the active site or to another file system", () => {
    const reversed = assess({
      replication: {
        ...replication({ fileSystemId: active.fileSystemId, region: active.region }),
        sourceFileSystemId: standby.fileSystemId,
      },
    });
    expect(reversed).toMatchObject({ protected: false, problem: "reversed" });
    expect(reversed.lagMs).toBeUndefined();
    const elsewhere = assess({ replication: replication({ fileSystemId: "fs-0ccc3333" }) });
    expect(elsewhere).toMatchObject({ protected: false, problem: "other-destination" });
    expect(elsewhere.summary).toContain("goes to fs-0ccc3333 (us-west-2), not to the standby fs-0bbb2222");
  });

  it("judges the secondary as the source once it is the active site", () => {
    const a = assessProtection({
      now: NOW,
      active: standby,
      standby: active,
      replication: replication(), // still primary -> secondary
      rpoObjectiveMs: 30 * MIN,
    });
    expect(a.problem).toBe("reversed");
  });
});

describe("ProtectionStore alert transitions", () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const store = () => {
    const prefix = `t${randomBytes(4).toString("hex")}`;
    prefixes.push(prefix);
    return new ProtectionStore(redis, prefix);
  };
  beforeAll(() => {
    redis = new Redis(inject("redisUrl"));
  });
  afterAll(async () => {
    for (const p of prefixes) {
      const keys = await redis.keys(`${p}:*`);
      if (keys.length) await redis.del(...keys);
    }
    redis.disconnect();
  });
  const lost = { lost: true, since: NOW, summary: "no replication" };
  const fine = { lost: false, since: NOW, summary: "ENABLED" };

  it("gives the post to one of many simultaneous reporters, then updates, then one resolve", async () => {
    const s = store();
    const clients = Array.from({ length: 20 }, () => new Redis(inject("redisUrl")));
    const stores = clients.map((c) => new ProtectionStore(c, s.alertKey.split(":")[0] as string));
    const actions = await Promise.all(stores.map((x, i) => x.step(lost, `token-${i}`, NOW, 30_000)));
    const posters = actions.flatMap((a, i) => (a.do === "post" ? [i] : []));
    expect(posters).toHaveLength(1);
    expect(actions.filter((a) => a.do === "nothing")).toHaveLength(19);
    const poster = posters[0] as number;
    expect(await s.posted(`token-${poster}`, { channel: "C0ALERTS", ts: "1.000100" }, "lost")).toBe(true);

    const later = await Promise.all(stores.map((x, i) => x.step(lost, `t2-${i}`, NOW + 1_000, 30_000)));
    expect(later.every((a) => a.do === "update" && a.alert.ts === "1.000100" && a.alert.since === NOW)).toBe(
      true,
    );

    const back = await Promise.all(stores.map((x, i) => x.step(fine, `t3-${i}`, NOW + 2_000, 30_000)));
    const resolvers = back.flatMap((a, i) => (a.do === "resolve" ? [i] : []));
    expect(resolvers).toHaveLength(1);
    await s.resolveNotified(`t3-${resolvers[0]}`, "resolved");
    expect(await s.alert()).toMatchObject({ state: "resolved", resolvedAt: NOW + 2_000, text: "resolved" });
    expect((await s.step(fine, "t4", NOW + 3_000, 30_000)).do).toBe("nothing");
    for (const c of clients) c.disconnect();
  });

  it("lets another process post when the poster failed or died, never while it may still post", async () => {
    const s = store();
    expect((await s.step(lost, "a", NOW, 30_000)).do).toBe("post");
    expect((await s.step(lost, "b", NOW + 10_000, 30_000)).do).toBe("nothing");
    // The claim of a process that died runs out…
    expect((await s.step(lost, "b", NOW + 31_000, 30_000)).do).toBe("post");
    // …and the late first poster learns its claim was taken over.
    expect(await s.posted("a", { channel: "C0ALERTS", ts: "1.1" }, "x")).toBe(false);
    // A failed post frees the claim at once.
    await s.releasePost("b");
    expect((await s.step(lost, "c", NOW + 32_000, 30_000)).do).toBe("post");
  });

  it("starts a new alert when protection is lost again after it was resolved", async () => {
    const s = store();
    await s.step(lost, "a", NOW, 30_000);
    await s.posted("a", { channel: "C0ALERTS", ts: "1.1" }, "lost");
    const resolve = await s.step(fine, "b", NOW + 1_000, 30_000);
    expect(resolve.do).toBe("resolve");
    await s.resolveNotified("b", "resolved");
    const again = await s.step({ ...lost, since: NOW + 5_000 }, "c", NOW + 5_000, 30_000);
    expect(again).toMatchObject({ do: "post", alert: { state: "open", since: NOW + 5_000 } });
    expect(again.do === "post" && again.alert.ts).toBeFalsy();
  });

  it("retries a resolve whose message update failed", async () => {
    const s = store();
    await s.step(lost, "a", NOW, 30_000);
    await s.posted("a", { channel: "C0ALERTS", ts: "1.1" }, "lost");
    expect((await s.step(fine, "b", NOW + 1_000, 30_000)).do).toBe("resolve");
    await s.releaseResolve("b");
    expect((await s.step(fine, "c", NOW + 2_000, 30_000)).do).toBe("resolve");
    await s.resolveNotified("c", "resolved");
    expect((await s.step(fine, "d", NOW + 100_000, 30_000)).do).toBe("nothing");
  });

  it("computes the gauge from the last observation and drops it when stale", async () => {
    const s = store();
    expect(await s.replicationLag(NOW, 60_000)).toBeUndefined();
    await s.observe({
      activeFileSystemId: "fs-0aaa1111",
      standbyFileSystemId: "fs-0bbb2222",
      lastReplicated: NOW - 90_000,
      observedAt: NOW,
    });
    expect(await s.replicationLag(NOW + 10_000, 60_000)).toEqual({
      fileSystemId: "fs-0bbb2222",
      seconds: 100,
    });
    expect(await s.replicationLag(NOW + 61_000, 60_000)).toBeUndefined();
  });
});
