// A worker process killed with SIGKILL between any two steps of /volume create: a new worker
// process takes the job over and finishes it with exactly the result of an uninterrupted run.

import type { ChildProcess } from "node:child_process";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { JobEnvelope } from "../../src/core/steps.ts";
import { createQueue, jobIdFor, redisConnection } from "../../src/jobs/queues.ts";
import { volumeCreateSteps } from "../../src/jobs/volume-create/steps.ts";
import { createWorld, type World } from "../support/world.ts";

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

describe("a worker killed between steps", () => {
  let world: World;
  let queue: ReturnType<typeof createQueue>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start("bot");
    queue = createQueue("volume-create", redisConnection(world.redisUrl), world.prefix);
  });
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    await queue?.close();
    await world?.close();
  });

  const steps = volumeCreateSteps.map((s) => s.name);

  // Every boundary, the late ones too: before the commit and before the report.
  it.each(steps)(
    "before step %s: the kill lands with the job unfinished, and a new worker finishes it with the same result",
    async (step) => {
      const pvc = `before-${step}`;
      const first = await startWorker(world, 600);
      children.push(first);
      const answer = await world.answer(
        await world.slash(`create bu=sales app=crash ns=crash pvc=${pvc} size=1`),
      );
      expect(answer).toMatch(/^Accepted/);
      const jobId = jobIdFor("volume-create", `sales.crash.crash.${pvc}`);
      const envelope = async () => (await queue.getJob(jobId))?.data as JobEnvelope | undefined;

      // The worker pauses before every step: once the previous one is over, the kill lands in
      // that pause (before the first step: as soon as the worker has taken the job).
      const previous = steps[steps.indexOf(step) - 1];
      await world.until(previous ? `step ${previous} to finish` : "the worker to take the job", async () => {
        if (!previous) return (await (await queue.getJob(jobId))?.getState()) === "active" || undefined;
        const status = (await envelope())?.steps[previous]?.status;
        return status === "done" || status === "skipped" || undefined;
      });
      first.kill("SIGKILL");
      await new Promise((r) => first.once("exit", r));
      const atKill = await envelope();
      expect(atKill?.outcome, "finished before the kill").toBeUndefined();
      expect(atKill?.steps[step]?.status, `step ${step} at the kill`).toBe("pending");

      const commitsBefore = (await world.github.commits()).length;
      const second = await startWorker(world);
      children.push(second);
      const card = await world
        .until(
          "the job to succeed under the new worker",
          () =>
            world
              .cards()
              .find((m) => m.text.includes(`sales.crash.crash.${pvc}`) && /succeeded/.test(m.text)),
          30_000,
        )
        .catch(async (err: unknown) => {
          const job = await queue.getJob(jobId);
          const base = `${world.prefix}:volume-create`;
          console.error(
            "REDIS",
            await world.redis.hgetall(`${base}:${jobId}`).then((h) => ({ ...h, data: undefined })),
            await world.redis.pttl(`${base}:${jobId}:lock`),
            await world.redis.get(`${base}:${jobId}:lock`),
            await world.redis.smembers(`${base}:stalled`),
            await world.redis.lrange(`${base}:active`, 0, -1),
            await world.redis.lrange(`${base}:wait`, 0, -1),
            "stalled-check",
            await world.redis.pttl(`${base}:stalled-check`),
            await world.redis.get(`${base}:stalled-check`),
            Date.now(),
            await world.redis.keys(`${base}:*`),
          );
          console.error(
            await job?.getState(),
            JSON.stringify(job?.data),
            job?.failedReason,
            world.logs.join("").slice(-20000),
          );
          throw err;
        });
      second.kill("SIGTERM");
      await new Promise((r) => second.once("exit", r));

      expect(card.text).toMatch(/succeeded/);
      expect(world.cards().filter((m) => m.text.includes(`sales.crash.crash.${pvc}`))).toHaveLength(1);
      await stat(join(world.mounts.primary, "k8s-static-volumes/sales/crash/crash", pvc));
      expect(
        world.kube.primary
          .objects("PersistentVolume")
          .filter((o) => o.metadata.name === `sales.crash.crash.${pvc}`),
      ).toHaveLength(1);
      expect(world.kube.primary.object("PersistentVolumeClaim", pvc, "crash")?.status).toMatchObject({
        phase: "Bound",
      });
      const ours = (await world.github.commits()).filter((c) =>
        c.message.includes(`sales.crash.crash.${pvc}`),
      );
      expect(ours).toHaveLength(1);
      expect((await world.github.commits()).length - commitsBefore).toBeLessThanOrEqual(1);
      const job = await queue.getJob(jobId);
      expect((job?.data as JobEnvelope | undefined)?.outcome?.state).toBe("succeeded");
    },
    60_000,
  );
});

describe("a worker stopped with SIGTERM while a step waits", () => {
  let world: World;
  let queue: ReturnType<typeof createQueue>;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start("bot");
    queue = createQueue("volume-create", redisConnection(world.redisUrl), world.prefix);
  });
  afterAll(async () => {
    await queue?.close();
    await world?.close();
  });

  it("exits promptly, puts the job back, and another worker finishes it", async () => {
    world.kube.primary.holdBinding("graceful");
    const first = await startWorker(world);
    await world.answer(await world.slash("create bu=sales app=term ns=term pvc=graceful size=1"));
    const jobId = jobIdFor("volume-create", "sales.term.term.graceful");
    await world.until("the bound step to wait", async () => {
      const job = await queue.getJob(jobId);
      return (job?.data as JobEnvelope | undefined)?.steps.bound?.status === "running" || undefined;
    });
    first.kill("SIGTERM");
    const code = await new Promise((r) => first.once("exit", r));
    expect(code).toBe(0);
    // Promptly: the waiting step was interrupted, not waited for until the shutdown grace ran out.
    expect(world.logs.join("")).not.toContain("steps still running at shutdown");
    const job = await queue.getJob(jobId);
    const data = job?.data as JobEnvelope;
    expect(data.steps.bound).toMatchObject({
      status: "pending",
      detail: expect.stringMatching(/interrupted by a worker shutdown/),
    });
    expect(data.outcome).toBeUndefined();

    world.kube.primary.releaseBinding("graceful");
    const second = await startWorker(world);
    await world.until(
      "success",
      () => world.cards().find((m) => /sales\.term\.term\.graceful.*succeeded/.test(m.text)),
      30_000,
    );
    second.kill("SIGTERM");
    await new Promise((r) => second.once("exit", r));
    expect(
      (await world.github.commits()).filter((c) => c.message.includes("sales.term.term.graceful")),
    ).toHaveLength(1);
  }, 60_000);
});
