// The shared DR state against the run's real Redis: the recorded state (Redis's copy of Git's
// dr/state.yaml), the DR lock and the volume requests it lets finish, the one reservation slot,
// an operation's status, resume requests, the last drills and the short admission locks.

import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type DrRecord, INITIAL_RECORD, serializeDrRecord } from "../../src/core/dr-record.ts";
import { DrState, type LastDrill } from "../../src/core/dr-state.ts";
import type { GitPort } from "../../src/core/ports/git.ts";

let redis: Redis;
const prefixes: string[] = [];

function freshPrefix(): string {
  const prefix = `drstate${randomBytes(4).toString("hex")}`;
  prefixes.push(prefix);
  return prefix;
}

function fresh(git?: GitPort): { dr: DrState; prefix: string } {
  const prefix = freshPrefix();
  return { dr: new DrState(redis, prefix, git), prefix };
}

/** The GitHub repository as far as the DR state reads it: files by path, and how often it was asked. */
class RecordedFiles implements GitPort {
  readonly files = new Map<string, string>();
  reads = 0;
  async readFile(path: string): Promise<string | null> {
    this.reads++;
    return this.files.get(path) ?? null;
  }
  probe(): never {
    throw new Error("not used");
  }
  headSha(): never {
    throw new Error("not used");
  }
  listFiles(): never {
    throw new Error("not used");
  }
  readBlob(): never {
    throw new Error("not used");
  }
  readTree(): never {
    throw new Error("not used");
  }
  commitFiles(): never {
    throw new Error("not used");
  }
  rateLimit(): undefined {
    return undefined;
  }
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

const failedOver: DrRecord = {
  activeSite: "secondary",
  replication: null,
  operation: "failover",
  requestId: "dr-1a2b3c4d",
  at: "2025-11-21T10:00:00.000Z",
  requester: "U0REQ0001",
  approvers: ["U0APR0001", "U0APR0002"],
  replicatedUntil: "2025-11-21T09:58:12.000Z",
};

describe("the recorded DR state", () => {
  it("keeps its keys where operators and other drbot versions look for them", () => {
    const dr = new DrState(redis, "drbot");
    expect(dr.key("lock", "dr")).toBe("drbot:lock:dr");
    expect(dr.key("state", "active-site")).toBe("drbot:state:active-site");
  });

  it("starts as the initial record on a fresh installation, and copies it to Redis", async () => {
    const { dr, prefix } = fresh();
    expect(await dr.record()).toEqual(INITIAL_RECORD);
    expect(await redis.hgetall(`${prefix}:state:active-site`)).toEqual({
      site: "primary",
      replication: "primary>secondary",
    });
    expect(await dr.activeSite()).toStrictEqual({ site: "primary" });
  });

  it("is read from Git's dr/state.yaml when Redis lost its copy, then served from the copy", async () => {
    const git = new RecordedFiles();
    git.files.set("dr/state.yaml", serializeDrRecord(failedOver));
    const { dr, prefix } = fresh(git);
    expect(await dr.record()).toEqual(failedOver);
    expect(git.reads).toBe(1);
    expect((await redis.hgetall(`${prefix}:state:active-site`)).site).toBe("secondary");
    expect(await dr.record()).toEqual(failedOver);
    expect(await dr.activeSite()).toStrictEqual({
      site: "secondary",
      since: Date.parse("2025-11-21T10:00:00.000Z"),
      by: "dr-1a2b3c4d",
    });
    expect(git.reads).toBe(1);
  });

  it("is served from Redis's copy without reading Git, whichever site it names", async () => {
    const git = new RecordedFiles();
    git.files.set("dr/state.yaml", serializeDrRecord(failedOver));
    const { dr } = fresh(git);
    const failedBack: DrRecord = { activeSite: "primary", replication: null, operation: "failback" };
    await dr.setRecord(failedBack);
    expect(await dr.record()).toStrictEqual(failedBack);
    await dr.setRecord(failedOver);
    expect(await dr.record()).toStrictEqual(failedOver);
    expect(git.reads).toBe(0);
  });

  it("is the initial record when Git has no dr/state.yaml either", async () => {
    const git = new RecordedFiles();
    const { dr } = fresh(git);
    expect(await dr.record()).toEqual(INITIAL_RECORD);
    expect(git.reads).toBe(1);
  });

  it("does not let Git's older file overwrite a copy a DR operation wrote meanwhile", async () => {
    const git = new RecordedFiles();
    git.files.set("dr/state.yaml", serializeDrRecord(INITIAL_RECORD));
    const { dr, prefix } = fresh(git);
    // A copy without a valid site (as half-written by hand) is not served, but not overwritten either.
    await redis.hset(`${prefix}:state:active-site`, "site", "unknown", "replication", "none");
    const record = await dr.record();
    expect(git.reads).toBe(1);
    expect(record).toEqual({ activeSite: "primary", replication: null });
  });

  it("round-trips every field through Redis, and a newer record replaces all of the older one", async () => {
    const { dr, prefix } = fresh(new RecordedFiles());
    await dr.setRecord(failedOver);
    expect(await dr.record()).toEqual(failedOver);
    // The copy's layout, which every drbot version reads.
    expect(await redis.hgetall(`${prefix}:state:active-site`)).toEqual({
      site: "secondary",
      replication: "none",
      operation: "failover",
      by: "dr-1a2b3c4d",
      since: String(Date.parse("2025-11-21T10:00:00.000Z")),
      requester: "U0REQ0001",
      approvers: "U0APR0001,U0APR0002",
      replicatedUntil: "2025-11-21T09:58:12.000Z",
    });
    const reprotected: DrRecord = {
      activeSite: "secondary",
      replication: { source: "secondary", destination: "primary" },
    };
    await dr.setRecord(reprotected);
    expect(await dr.record()).toStrictEqual(reprotected);
    expect(await dr.activeSite()).toStrictEqual({ site: "secondary" });
  });

  it("reads a copy written before the replication direction was recorded as the initial direction", async () => {
    const { dr, prefix } = fresh();
    await redis.hset(`${prefix}:state:active-site`, "site", "secondary");
    expect(await dr.record()).toEqual({
      activeSite: "secondary",
      replication: { source: "primary", destination: "secondary" },
    });
  });

  it("reads a garbled replication direction as no replication, not half of one", async () => {
    const { dr, prefix } = fresh();
    await redis.hset(`${prefix}:state:active-site`, "site", "primary", "replication", "primary>moon");
    expect((await dr.record()).replication).toBeNull();
    await redis.hset(`${prefix}:state:active-site`, "replication", "moon>secondary");
    expect((await dr.record()).replication).toBeNull();
  });

  it("drops an approver list that is empty in the copy", async () => {
    const { dr, prefix } = fresh();
    await redis.hset(
      `${prefix}:state:active-site`,
      "site",
      "primary",
      "replication",
      "none",
      "approvers",
      ",U0APR0001,",
    );
    expect(await dr.record()).toEqual({ activeSite: "primary", replication: null, approvers: ["U0APR0001"] });
  });
});

describe("the DR lock", () => {
  it("is held by one operation at a time, re-entrantly", async () => {
    const { dr, prefix } = fresh();
    expect(await dr.drLockHolder()).toBeNull();
    expect(await dr.acquireDrLock("dr-00000001")).toEqual([]);
    expect(await redis.get(`${prefix}:lock:dr`)).toBe("dr-00000001");
    expect(await dr.acquireDrLock("dr-00000002")).toBeNull();
    expect(await dr.drLockHolder()).toBe("dr-00000001");
    expect(await dr.acquireDrLock("dr-00000001")).toEqual([]);
  });

  it("is seen as held when another drbot process took it", async () => {
    const { dr, prefix } = fresh();
    await redis.set(`${prefix}:lock:dr`, "dr-0therpod");
    expect(await dr.drLockHolder()).toBe("dr-0therpod");
    expect(await dr.acquireDrLock("dr-00000001")).toBeNull();
  });

  it("lets the volume requests that had applied objects finish, and keeps new ones out", async () => {
    const { dr } = fresh();
    expect(await dr.volumeApplied("vol-00000001")).toBeNull();
    expect(await dr.volumeApplied("vol-00000002")).toBeNull();
    expect(await dr.isVolumeApplying("vol-00000001")).toBe(true);
    expect((await dr.acquireDrLock("dr-00000001"))?.sort()).toEqual(["vol-00000001", "vol-00000002"]);
    // One already in the set goes on applying; a new one is refused with the holder.
    expect(await dr.volumeApplied("vol-00000001")).toBeNull();
    expect(await dr.volumeApplied("vol-00000003")).toBe("dr-00000001");
    expect(await dr.isVolumeApplying("vol-00000003")).toBe(false);
    await dr.volumeDone("vol-00000001");
    expect(await dr.isVolumeApplying("vol-00000001")).toBe(false);
    expect(await dr.isVolumeApplying("vol-00000002")).toBe(true);
    expect(await dr.acquireDrLock("dr-00000001")).toEqual(["vol-00000002"]);
  });

  it("is released by its owner with its reservation and status, and by nobody else", async () => {
    const { dr } = fresh();
    expect(await dr.reserve("dr-00000001")).toBeNull();
    await dr.acquireDrLock("dr-00000001");
    const status = { id: "dr-00000001", kind: "failover", status: "running" as const };
    await dr.setOperation(status);

    await dr.releaseDrLock("dr-00000002");
    expect(await dr.drLockHolder()).toBe("dr-00000001");
    expect((await dr.reservation())?.id).toBe("dr-00000001");
    expect(await dr.operation()).toEqual(status);

    await dr.releaseDrLock("dr-00000001");
    expect(await dr.drLockHolder()).toBeNull();
    expect(await dr.reservation()).toBeNull();
    expect(await dr.operation()).toBeNull();
    expect(await dr.acquireDrLock("dr-00000002")).toEqual([]);
  });

  it("leaves another operation's status alone when released", async () => {
    const { dr } = fresh();
    await dr.acquireDrLock("dr-00000001");
    const other = {
      id: "dr-00000009",
      kind: "reprotect",
      status: "incomplete" as const,
      note: "Git not recorded",
    };
    await dr.setOperation(other);
    await dr.releaseDrLock("dr-00000001");
    expect(await dr.drLockHolder()).toBeNull();
    expect(await dr.operation()).toEqual(other);
  });

  it("can be released when no status was recorded", async () => {
    const { dr } = fresh();
    await dr.acquireDrLock("dr-00000001");
    await dr.releaseDrLock("dr-00000001");
    expect(await dr.drLockHolder()).toBeNull();
  });
});

describe("the reservation", () => {
  it("admits one operation; the next is told who holds it and since when", async () => {
    const { dr } = fresh();
    expect(await dr.reservation()).toBeNull();
    const before = Date.now();
    expect(await dr.reserve("dr-00000001")).toBeNull();
    const held = await dr.reserve("dr-00000002");
    expect(held?.id).toBe("dr-00000001");
    expect(held?.since).toBeGreaterThanOrEqual(before);
    expect(held?.since).toBeLessThanOrEqual(Date.now());
    expect(held?.raw).toBe(`dr-00000001@${held?.since}`);
    expect(await dr.reservation()).toEqual(held);
  });

  it("is taken over only while it is still the stale one seen", async () => {
    const { dr } = fresh();
    await dr.reserve("dr-00000001");
    const stale = await dr.reservation();
    if (!stale) throw new Error("no reservation");
    expect(await dr.replaceReservation(stale, "dr-00000002")).toBe(true);
    expect((await dr.reservation())?.id).toBe("dr-00000002");
    // A second taker that saw the same stale holder loses.
    expect(await dr.replaceReservation(stale, "dr-00000003")).toBe(false);
    expect((await dr.reservation())?.id).toBe("dr-00000002");
  });

  it("is released by its owner only, not by one whose id it merely starts with", async () => {
    const { dr } = fresh();
    await dr.reserve("dr-000000010");
    await dr.releaseReservation("dr-00000001");
    await dr.releaseReservation("dr-000000011");
    expect((await dr.reservation())?.id).toBe("dr-000000010");
    await dr.releaseReservation("dr-000000010");
    expect(await dr.reservation()).toBeNull();
    expect(await dr.reserve("dr-00000002")).toBeNull();
  });
});

describe("resume requests", () => {
  it("are taken once by the halted operation, and expire after a day", async () => {
    const { dr, prefix } = fresh();
    expect(await dr.takeResume("dr-00000001")).toBeNull();
    const before = Date.now();
    await dr.requestResume("dr-00000001", "U0SRE0001", true);
    const ttl = await redis.ttl(`${prefix}:dr:resume:dr-00000001`);
    expect(ttl).toBeGreaterThan(86_000);
    expect(ttl).toBeLessThanOrEqual(86_400);
    expect(await dr.takeResume("dr-00000002")).toBeNull();
    const taken = await dr.takeResume("dr-00000001");
    expect(taken).toMatchObject({ by: "U0SRE0001", approver: true });
    expect(taken?.at).toBeGreaterThanOrEqual(before);
    expect(taken?.at).toBeLessThanOrEqual(Date.now());
    expect(await dr.takeResume("dr-00000001")).toBeNull();
  });
});

describe("drills", () => {
  const drill = (id: string, outcome: LastDrill["outcome"]): LastDrill => ({
    id,
    at: Date.UTC(2025, 10, 21),
    outcome,
    report: `dr/drills/${id}.md`,
  });

  it("remember the last drill and the last one that succeeded", async () => {
    const { dr } = fresh();
    expect(await dr.lastDrill()).toEqual({ last: null, lastSuccess: null });
    await dr.setLastDrill(drill("drill-1", "failed"));
    expect(await dr.lastDrill()).toEqual({ last: drill("drill-1", "failed"), lastSuccess: null });
    await dr.setLastDrill(drill("drill-2", "succeeded"));
    expect(await dr.lastDrill()).toEqual({
      last: drill("drill-2", "succeeded"),
      lastSuccess: drill("drill-2", "succeeded"),
    });
    await dr.setLastDrill(drill("drill-3", "failed"));
    expect(await dr.lastDrill()).toEqual({
      last: drill("drill-3", "failed"),
      lastSuccess: drill("drill-2", "succeeded"),
    });
  });
});

describe("admission locks", () => {
  it("admit one request per subject at a time, released by its owner only", async () => {
    const { dr } = fresh();
    expect(await dr.admit("ns/pvc-a", "vol-00000001")).toBe(true);
    expect(await dr.admit("ns/pvc-a", "vol-00000002")).toBe(false);
    expect(await dr.admit("ns/pvc-b", "vol-00000002")).toBe(true);
    await dr.admitted("ns/pvc-a", "vol-00000002");
    expect(await dr.admit("ns/pvc-a", "vol-00000003")).toBe(false);
    await dr.admitted("ns/pvc-a", "vol-00000001");
    expect(await dr.admit("ns/pvc-a", "vol-00000003")).toBe(true);
  });

  it("expire on their own when the admission never finishes", async () => {
    const { dr, prefix } = fresh();
    expect(await dr.admit("ns/pvc-a", "vol-00000001", 40)).toBe(true);
    expect(await redis.pttl(`${prefix}:admit:ns/pvc-a`)).toBeLessThanOrEqual(40);
    expect(await dr.admit("ns/pvc-b", "vol-00000001")).toBe(true);
    const ttl = await redis.pttl(`${prefix}:admit:ns/pvc-b`);
    expect(ttl).toBeGreaterThan(14_000);
    expect(ttl).toBeLessThanOrEqual(15_000);
    await new Promise((r) => setTimeout(r, 60));
    expect(await dr.admit("ns/pvc-a", "vol-00000002")).toBe(true);
  });
});
