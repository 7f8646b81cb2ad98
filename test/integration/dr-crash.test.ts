// A worker process killed (SIGKILL) in the middle of a failover's apply step, and at every step
// boundary: a new worker process finishes it; applied volumes are not applied again, one commit,
// replication stopped once.

import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { JobEnvelope } from "../../src/core/steps.ts";
import { createQueue, jobIdFor, redisConnection } from "../../src/jobs/queues.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

/**
 * A worker process whose lock expires quickly, so a killed one's job is taken over fast. With
 * `stepDelayMs` it pauses before every step, so a kill after a step lands before the next one.
 */
async function startWorker(world: World, stepDelayMs = 0): Promise<ChildProcess> {
  return (
    await world.spawn("worker", {
      DRBOT_WORKER_LOCK_MS: "1000",
      LOG_LEVEL: "info",
      DRBOT_STEP_DELAY_MS: String(stepDelayMs),
    })
  ).child;
}

/** The job's envelope as stored now. */
async function envelopeOf(world: World, kind: "dr-failover" | "dr-reprotect" | "dr-switchover", id: string) {
  const queue = createQueue(kind, redisConnection(world.redisUrl), world.prefix);
  try {
    return (await queue.getJob(jobIdFor(kind, id)))?.data as JobEnvelope | undefined;
  } finally {
    await queue.close();
  }
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
        const first = await startWorker(world, 400);
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
        // The kill landed while the failover was unfinished: this test proves a crash.
        expect((await envelopeOf(world, "dr-failover", id))?.outcome).toBeUndefined();
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

/** Approves a DR operation and returns its request id. */
async function approve(world: World, text: string): Promise<string> {
  const answer = await world.answer(await world.slash(text, USERS.incident, "/dr"));
  const id = /`(dr-[0-9a-f]{8})`/.exec(answer)?.[1] as string;
  const card = await world.until("its approval card", () =>
    world.cards().find((m) => JSON.stringify(m.blocks ?? []).includes(`"value":"${id}"`)),
  );
  await world.click(USERS.approver1, "approval_approve", id, card.ts);
  await world.click(USERS.approver2, "approval_approve", id, card.ts);
  return id;
}

/**
 * Runs one DR operation with a worker SIGKILLed after every one of its steps in turn (a new
 * worker takes over each time): each kill lands while the operation is unfinished.
 */
async function killAtEveryBoundary(
  world: World,
  children: ChildProcess[],
  kind: "dr-reprotect" | "dr-switchover",
  text: string,
  steps: readonly string[],
): Promise<string> {
  let worker = await startWorker(world, 400);
  children.push(worker);
  const id = await approve(world, text);
  for (const step of steps) {
    await world.until(
      `${kind} step ${step} to finish`,
      async () => {
        const status = (await envelopeOf(world, kind, id))?.steps[step]?.status;
        return status === "done" || status === "skipped" ? true : undefined;
      },
      30_000,
    );
    worker.kill("SIGKILL");
    await new Promise((r) => worker.once("exit", r));
    expect((await envelopeOf(world, kind, id))?.outcome, `killed after ${step}`).toBeUndefined();
    worker = await startWorker(world, 400);
    children.push(worker);
  }
  return id;
}

describe("re-protect and failback with a worker killed after every step", () => {
  it("finish with every effect once", async () => {
    const world = await createWorld(inject("redisUrl"));
    const children: ChildProcess[] = [];
    try {
      await world.start("bot");
      await world.seedVolumes(4);
      children.push(await startWorker(world));
      await approve(world, "failover");
      await world.until(
        "the failover",
        () => world.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
        30_000,
      );
      for (const c of children.splice(0)) c.kill("SIGKILL");

      await killAtEveryBoundary(world, children, "dr-reprotect", "reprotect", [
        "plan",
        "lock",
        "rescue",
        "remove-leftover",
        "disable-protection",
        "create-replication",
        "wait-enabled",
        "commit",
      ]);
      await world.until(
        "the re-protect",
        () => world.cards().find((m) => /^DR re-protect for .*: succeeded/.test(m.text)),
        30_000,
      );
      expect(world.efs.callsTo("CreateReplicationConfiguration")).toHaveLength(1);
      expect((await world.github.commits()).filter((c) => c.message.startsWith("Re-protect"))).toHaveLength(
        1,
      );
      for (const c of children.splice(0)) c.kill("SIGKILL");

      world.kube.secondary.seed({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "shop", namespace: "ns-0" },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "shop" } },
          template: {
            metadata: { labels: { app: "shop" } },
            spec: {
              containers: [{ name: "shop", image: "shop:1" }],
              volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-0" } }],
            },
          },
        },
      });
      world.efs.setSyncInterval(100);
      await killAtEveryBoundary(world, children, "dr-switchover", "failback", [
        "plan",
        "lock",
        "stop-writers",
        "wait-sync",
        "delete-replication",
        "wait-writable",
        "apply",
        "disable-protection",
        "reverse-replication",
        "wait-enabled",
        "commit",
      ]);
      const done = await world.until(
        "the failback",
        () => world.cards().find((m) => /^DR failback for .*: (succeeded|failed)/.test(m.text)),
        30_000,
      );
      expect(done.text).toMatch(/succeeded/);
      // The writers' previous replicas are remembered across every kill, not the 0 seen after one.
      expect(JSON.stringify(done.blocks)).toContain("Deployment/ns-0/shop=3");
      expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(2);
      expect(world.efs.callsTo("CreateReplicationConfiguration")).toHaveLength(2);
      expect((await world.github.commits()).filter((c) => c.message.startsWith("Fail back"))).toHaveLength(1);
      for (const pv of world.kube.primary.objects("PersistentVolume"))
        expect(world.kube.primary.applyCount("PersistentVolume", pv.metadata.name)).toBeLessThanOrEqual(2);
      expect((await world.redis.hgetall(`${world.prefix}:state:active-site`)).site).toBe("primary");
    } finally {
      for (const c of children) c.kill("SIGKILL");
      await world.close();
    }
  }, 240_000);
});
