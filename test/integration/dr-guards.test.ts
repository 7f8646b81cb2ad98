// The re-checks that guard every destructive step: each turns this file red when removed.

import { afterEach, describe, expect, inject, it } from "vitest";
import { createWorld, USERS, type World } from "../support/world.ts";

const APPROVE = "approval_approve";
const card = (world: World, word: RegExp) =>
  world.until(
    `a failover card saying ${word}`,
    () => world.cards().find((m) => /^DR failover for/.test(m.text) && word.test(m.text)),
    30_000,
  );

describe("re-checks before destructive steps", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("an approval record whose digest no longer matches the plan does not run it", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.seedVolumes(2);
    await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    const { card: approval, id } = await w.approvalCard();
    // Someone with Redis access swaps the digest the approvers will approve.
    const key = `${w.prefix}:approval:${id}`;
    const stored = JSON.parse((await w.redis.get(key)) as string);
    await w.redis.set(key, JSON.stringify({ ...stored, digest: "000000000000" }), "KEEPTTL");
    await w.click(USERS.approver1, APPROVE, id, approval.ts);
    await w.click(USERS.approver2, APPROVE, id, approval.ts);
    const done = await card(w, /failed/);
    expect(done.text).toMatch(
      /Not approved: the approved plan \(000000000000\) is not the plan about to run/,
    );
    expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    expect(await w.redis.get(`${w.prefix}:lock:dr`)).toBeNull();
  }, 60_000);

  it("approvals the record lost between the gate and the lock do not run it", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.seedVolumes(1);
    // A volume request that has applied objects holds the failover at its lock step.
    w.kube.primary.holdBinding("inflight");
    await w.answer(await w.slash("create bu=sales app=g ns=g pvc=inflight size=1"));
    await w.until("the volume job to wait for binding", () =>
      w.cards().find((m) => /Wait until the PVC is Bound _running_/.test(JSON.stringify(m.blocks))),
    );
    await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    const { card: approval, id } = await w.approvalCard();
    await w.click(USERS.approver1, APPROVE, id, approval.ts);
    await w.click(USERS.approver2, APPROVE, id, approval.ts);
    await w.until("the failover to wait at its lock", () =>
      w.cards().find((m) => /waiting for 1 volume request/.test(JSON.stringify(m.blocks))),
    );
    // Meanwhile the record loses an approval (tampering or a bad restore).
    const key = `${w.prefix}:approval:${id}`;
    const stored = JSON.parse((await w.redis.get(key)) as string);
    await w.redis.set(key, JSON.stringify({ ...stored, approvals: stored.approvals.slice(0, 1) }), "KEEPTTL");
    w.kube.primary.releaseBinding("inflight");
    const done = await card(w, /failed/);
    expect(done.text).toMatch(/Not approved: 1 distinct approval\(s\) other than the requester's; 2 needed/);
    expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
  }, 60_000);
});
