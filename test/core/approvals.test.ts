// Approval records against the run's real Redis: the state machine, and atomicity under
// simultaneous clicks.

import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Approvals } from "../../src/core/approvals.ts";
import { approvalCard } from "../../src/jobs/approval/card.ts";

let redis: Redis;
let prefix: string;
let approvals: Approvals;
let n = 0;

beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
  prefix = `t${randomBytes(4).toString("hex")}`;
  approvals = new Approvals(redis, prefix);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

async function request(required = 2, ttlMs = 60_000) {
  const id = `dr-test${++n}`;
  await approvals.create({
    id,
    action: "failover",
    requester: "U0REQ",
    digest: "abc123",
    plan: ["move 1 volume"],
    approversText: "<@U1> or <@U2>",
    required,
    createdAt: Date.now(),
    expiresAt: Date.now() + ttlMs,
  });
  return id;
}

describe("approval records", () => {
  it("needs the required number of distinct approvers, never the requester", async () => {
    const id = await request();
    expect((await approvals.transition(id, "approve", "U0REQ")).result).toBe("requester");
    expect((await approvals.transition(id, "approve", "U1")).result).toBe("recorded");
    expect((await approvals.transition(id, "approve", "U1")).result).toBe("duplicate");
    const done = await approvals.transition(id, "approve", "U2");
    expect(done.result).toBe("approved");
    expect(done.record?.approvals.map((a) => a.user)).toEqual(["U1", "U2"]);
    expect((await approvals.transition(id, "approve", "U3")).result).toBe("already-resolved");
    expect((await approvals.transition(id, "deny", "U3")).result).toBe("already-resolved");
    expect((await approvals.get(id))?.state).toBe("approved");
  });

  it("is withdrawn by drbot when its job ended without it: cancelled with the reason, audited, buttons gone", async () => {
    const id = await request(1);
    const withdrawn = await approvals.transition(
      id,
      "withdraw",
      "drbot",
      Date.now(),
      "a DR operation took the lock",
    );
    expect(withdrawn.result).toBe("withdrawn");
    expect(withdrawn.record).toMatchObject({ state: "cancelled", withdrawn: "a DR operation took the lock" });
    expect((await approvals.transition(id, "approve", "U1")).result).toBe("already-resolved");
    const card = approvalCard(withdrawn.record as NonNullable<typeof withdrawn.record>);
    expect(card.text).toMatch(/request withdrawn by drbot: a DR operation took the lock/);
    expect(JSON.stringify(card.blocks)).not.toContain("approval_approve");
    const trail = await redis.xrange(`${prefix}:audit`, "-", "+");
    const entry = trail.map(([, f]) => f).find((f) => f.includes("approval.withdrawn") && f.includes(id));
    expect(entry).toContain("a DR operation took the lock");
    // A resolved request is not withdrawn.
    const approved = await request(1);
    await approvals.transition(approved, "approve", "U1");
    expect((await approvals.transition(approved, "withdraw", "drbot")).result).toBe("already-resolved");
  });

  it("ends on one denial, and a resolved request never changes again", async () => {
    const id = await request();
    await approvals.transition(id, "approve", "U1");
    const denied = await approvals.transition(id, "deny", "U2", Date.now(), "primary is back");
    expect(denied.result).toBe("denied");
    expect(denied.record?.denial).toMatchObject({ user: "U2", reason: "primary is back" });
    expect((await approvals.transition(id, "approve", "U3")).result).toBe("already-resolved");
    expect((await approvals.transition(id, "cancel", "U0REQ")).result).toBe("already-resolved");
  });

  it("lets an approver who approved change their mind and deny, which ends it", async () => {
    const id = await request();
    expect((await approvals.transition(id, "approve", "U1")).result).toBe("recorded");
    expect((await approvals.transition(id, "deny", "U1")).result).toBe("denied");
    expect((await approvals.transition(id, "approve", "U2")).result).toBe("already-resolved");
  });

  it("expires: a late click marks it expired and changes nothing else", async () => {
    const id = await request(2, 60_000);
    // A click an hour later (`now` is the clicker's clock, given to the script).
    const late = await approvals.transition(id, "approve", "U1", Date.now() + 3_600_000);
    expect(late.result).toBe("expired");
    expect(late.record?.approvals).toEqual([]);
    expect((await approvals.transition(id, "approve", "U2")).result).toBe("already-resolved");
  });

  it("lets only the requester cancel", async () => {
    const id = await request();
    expect((await approvals.transition(id, "cancel", "U1")).result).toBe("not-requester");
    expect((await approvals.transition(id, "cancel", "U0REQ")).result).toBe("cancelled");
    expect(await approvals.pending()).not.toContain(id);
  });

  it("is idempotent on create and keeps the first record", async () => {
    const id = await request();
    await approvals.transition(id, "approve", "U1");
    const again = await approvals.create({
      id,
      action: "failover",
      requester: "U9",
      digest: "other",
      plan: [],
      approversText: "",
      required: 5,
      createdAt: 0,
      expiresAt: Date.now() + 1000,
    });
    expect(again).toMatchObject({ requester: "U0REQ", digest: "abc123", required: 2 });
    expect(again.approvals).toHaveLength(1);
  });

  it("approves exactly once under 50 simultaneous clicks by two approvers", async () => {
    const id = await request();
    // Separate connections, so the clicks really race inside Redis.
    const connections = Array.from({ length: 10 }, () => new Redis(inject("redisUrl")));
    const clients = connections.map((c) => new Approvals(c, prefix));
    const clicks = Array.from({ length: 50 }, (_, i) =>
      (clients[i % clients.length] as Approvals).transition(id, "approve", i % 2 === 0 ? "U1" : "U2"),
    );
    const results = (await Promise.all(clicks)).map((r) => r.result);
    expect(results.filter((r) => r === "approved")).toHaveLength(1);
    expect(results.filter((r) => r === "recorded")).toHaveLength(1);
    expect(results.filter((r) => r === "duplicate" || r === "already-resolved")).toHaveLength(48);
    expect((await approvals.get(id))?.approvals).toHaveLength(2);
    for (const c of connections) c.disconnect();
  });

  it("writes every transition to the audit stream with who, what and the digest", async () => {
    const id = await request();
    await approvals.transition(id, "approve", "U1");
    await approvals.transition(id, "deny", "U2");
    const entries = await redis.xrange(approvals.auditKey, "-", "+");
    const asObject = (fields: string[]) => {
      const out: Record<string, string> = {};
      for (let k = 0; k < fields.length; k += 2) out[fields[k] as string] = fields[k + 1] as string;
      return out;
    };
    const ours = entries.map(([, fields]) => asObject(fields)).filter((e) => e.request === id);
    expect(ours.map((e) => [e.event, e.user, e.digest])).toEqual([
      ["approval.requested", "U0REQ", "abc123"],
      ["approval.recorded", "U1", "abc123"],
      ["approval.denied", "U2", "abc123"],
    ]);
  });
});
