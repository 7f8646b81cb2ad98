// A worker process killed (SIGKILL) in the middle of a failover's apply step, and at every step
// boundary: a new worker process finishes it; applied volumes are not applied again, one commit,
// replication stopped once.

import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { JobEnvelope } from "../../src/core/steps.ts";
import { createQueue, jobIdFor, redisConnection } from "../../src/jobs/queues.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

/** A worker process whose lock expires quickly, so a killed one's job is taken over fast. */
async function startWorker(world: World): Promise<ChildProcess> {
  return (await world.spawn("worker", { DRBOT_WORKER_LOCK_MS: "1000", LOG_LEVEL: "info" })).child;
}

describe("a failover whose worker is killed mid-apply", () => {
  let world: World;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.failover = { applyConcurrency: 8 }),
    });
    await world.start("bot");
  });
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    await world?.close();
  });

  it("is finished by a new worker with nothing applied twice beyond the requests in flight", async () => {
    const VOLUMES = 200;
    await world.seedVolumes(VOLUMES);
    world.kube.secondary.http.latencyMs = 10;
    const first = await startWorker(world);
    children.push(first);

    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard(20_000);
    await world.click(USERS.approver1, "approval_approve", id, card.ts);
    await world.click(USERS.approver2, "approval_approve", id, card.ts);

    const appliedKey = `${world.prefix}:failover:${id}:applied`;
    await world.until(
      "a quarter of the volumes applied",
      async () => ((await world.redis.scard(appliedKey)) >= VOLUMES / 4 ? true : undefined),
      30_000,
    );
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    const appliedAtKill = await world.redis.scard(appliedKey);
    expect(appliedAtKill).toBeLessThan(VOLUMES);

    const second = await startWorker(world);
    children.push(second);
    const done = await world.until(
      "the failover to succeed",
      () => world.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
      60_000,
    );
    expect(done.text).toMatch(/succeeded/);

    const pvs = world.kube.secondary.objects("PersistentVolume");
    expect(pvs).toHaveLength(VOLUMES);
    const twice = pvs.filter(
      (pv) => world.kube.secondary.applyCount("PersistentVolume", pv.metadata.name) > 1,
    );
    // Only requests in flight at the kill (at most the apply concurrency) may be sent again,
    // and server-side apply makes those a no-op.
    expect(twice.length).toBeLessThanOrEqual(8);
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(1);
    const commits = (await world.github.commits()).filter((c) => c.message.startsWith("Fail over"));
    expect(commits).toHaveLength(1);
    expect(commits[0]?.message).toMatch(/^Fail over 200 volumes/);
    expect(await world.github.listFiles("PV-PVCs/secondary")).toHaveLength(VOLUMES);
  }, 120_000);
});

describe("a failover whose worker is killed at each step boundary", () => {
  const boundaries = [
    "plan",
    "approval",
    "lock",
    "stop-replication",
    "wait-writable",
    "apply",
    "commit",
  ] as const;

  it.each(boundaries)(
    "after %s: a new worker finishes with one commit and replication stopped once",
    async (step) => {
      const world = await createWorld(inject("redisUrl"));
      const children: ChildProcess[] = [];
      try {
        await world.start("bot");
        await world.seedVolumes(20);
        // A little latency so the kill lands before the next step is over.
        world.kube.secondary.http.latencyMs = 20;
        world.github.http.latencyMs = 20;
        const first = await startWorker(world);
        children.push(first);
        await world.answer(await world.slash("failover", USERS.incident, "/dr"));
        const { card, id } = await world.approvalCard(20_000);
        const queue = createQueue("dr-failover", redisConnection(world.redisUrl), world.prefix);
        const done = async () =>
          ((await queue.getJob(jobIdFor("dr-failover", id)))?.data as JobEnvelope | undefined)?.steps[step]
            ?.status === "done"
            ? true
            : undefined;
        if (step === "plan") {
          // Killed while the job waits for approval (parked, holding no worker).
          first.kill("SIGKILL");
          await new Promise((r) => first.once("exit", r));
          await world.click(USERS.approver1, "approval_approve", id, card.ts);
          await world.click(USERS.approver2, "approval_approve", id, card.ts);
        } else {
          await world.click(USERS.approver1, "approval_approve", id, card.ts);
          await world.click(USERS.approver2, "approval_approve", id, card.ts);
          await world.until(`step ${step} to finish`, done, 20_000);
          first.kill("SIGKILL");
          await new Promise((r) => first.once("exit", r));
        }
        await queue.close();
        children.push(await startWorker(world));
        await world.until(
          "the failover to succeed",
          () => world.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
          30_000,
        );

        expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(1);
        expect(world.kube.secondary.objects("PersistentVolume")).toHaveLength(20);
        expect((await world.github.commits()).filter((c) => c.message.startsWith("Fail over"))).toHaveLength(
          1,
        );
        expect(await world.github.listFiles("PV-PVCs/secondary")).toHaveLength(20);
        expect((await world.redis.hgetall(`${world.prefix}:state:active-site`)).site).toBe("secondary");
        expect(world.cards().filter((m) => m.text.startsWith("DR failover for"))).toHaveLength(1);
      } finally {
        for (const c of children) c.kill("SIGKILL");
        await world.close();
      }
    },
    60_000,
  );
});
