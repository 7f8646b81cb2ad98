// A volume deletion and a resize whose worker process is killed (SIGKILL) after every one of
// their steps in turn: each kill lands while the job is unfinished (a pause before every step
// makes sure), a new worker takes it over, and every effect happens once — one DELETE per object,
// one rename of the directory with its content, one commit.

import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { JobEnvelope } from "../../src/core/steps.ts";
import { createQueue, type JobKind, jobIdFor, redisConnection } from "../../src/jobs/queues.ts";
import { APPROVE, createVolume, requestDelete } from "../support/volumes.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

/** A worker process whose lock expires quickly, pausing before every step so a kill lands between steps. */
async function startWorker(world: World, stepDelayMs = 0): Promise<ChildProcess> {
  return (
    await world.spawn("worker", {
      DRBOT_WORKER_LOCK_MS: "1000",
      LOG_LEVEL: "info",
      DRBOT_STEP_DELAY_MS: String(stepDelayMs),
    })
  ).child;
}

async function envelopeOf(world: World, kind: JobKind, volume: string): Promise<JobEnvelope | undefined> {
  const queue = createQueue(kind, redisConnection(world.redisUrl), world.prefix);
  try {
    return (await queue.getJob(jobIdFor(kind, volume)))?.data as JobEnvelope | undefined;
  } finally {
    await queue.close();
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

describe("volume jobs killed after every step", () => {
  let world: World;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start("bot");
    const creator = await startWorker(world);
    children.push(creator);
    await createVolume(world, "data", 10);
    await createVolume(world, "logs", 10);
    await kill(creator);
    await writeFile(
      join(world.mounts.primary, "k8s-static-volumes/sales/shipping/shipping-dev/data/rows"),
      "r".repeat(777),
    );
    // A little latency so each kill lands before the next step is over.
    world.kube.primary.http.latencyMs = 20;
    world.github.http.latencyMs = 20;
  }, 60_000);
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    await world?.close();
  });

  /** Waits for `step` of the job to end, kills the worker, proves the job unfinished, starts another. */
  async function killAfter(
    kind: JobKind,
    volume: string,
    step: string,
    worker: ChildProcess,
    statuses = ["done", "skipped"],
  ) {
    await world.until(
      `${kind} step ${step} to be ${statuses.join(" or ")}`,
      async () => {
        const status = (await envelopeOf(world, kind, volume))?.steps[step]?.status;
        return status && statuses.includes(status) ? true : undefined;
      },
      30_000,
    );
    await kill(worker);
    expect((await envelopeOf(world, kind, volume))?.outcome, `killed after ${step}`).toBeUndefined();
    const next = await startWorker(world, 400);
    children.push(next);
    return next;
  }

  it("a deletion finishes with one DELETE per object, the directory moved once with its content, one commit", async () => {
    const volume = "sales.shipping.shipping-dev.data";
    let worker = await startWorker(world, 400);
    children.push(worker);
    const { id, card } = await requestDelete(world, "delete bu=sales app=shipping ns=shipping-dev pvc=data");
    // Killed while it waits for its approval (parked, holding no worker).
    worker = await killAfter("volume-delete", volume, "approval", worker, ["waiting"]);
    await world.click(USERS.approver1, APPROVE, id, card.ts);
    for (const step of ["approval", "check", "delete-pvc", "delete-pv", "trash"]) {
      worker = await killAfter("volume-delete", volume, step, worker);
    }
    await world.until(
      "the deletion to succeed",
      () =>
        world
          .cards()
          .find((m) => m.text.startsWith(`Deletion of volume ${volume}`) && /succeeded/.test(m.text)),
      30_000,
    );
    await kill(worker);

    expect(world.kube.primary.calls("DELETE", /\/persistentvolumeclaims\/data$/)).toHaveLength(1);
    expect(
      world.kube.primary.calls("DELETE", new RegExp(`/persistentvolumes/${volume.replaceAll(".", "\\.")}$`)),
    ).toHaveLength(1);
    expect(world.kube.primary.object("PersistentVolume", volume)).toBeUndefined();
    const trashed = join(
      world.mounts.primary,
      "k8s-static-volumes/.drbot-trash",
      id,
      "sales/shipping/shipping-dev/data",
    );
    expect(await readFile(join(trashed, "rows"), "utf8")).toHaveLength(777);
    expect(
      existsSync(join(world.mounts.primary, "k8s-static-volumes/sales/shipping/shipping-dev/data")),
    ).toBe(false);
    const commits = (await world.github.commits()).filter((c) => c.message.startsWith("Delete volume"));
    expect(commits).toHaveLength(1);
    expect(commits[0]?.message).toContain(`Approved-by: ${USERS.approver1}`);
    // One status card (and one approval card), drawn again by each worker, never posted twice.
    expect(world.cards().filter((m) => m.text.startsWith(`Deletion of volume ${volume} for `))).toHaveLength(
      1,
    );
    expect(
      world.cards().filter((m) => m.text.startsWith(`Deletion of volume ${volume} approved`)),
    ).toHaveLength(1);
  }, 180_000);

  it("a resize finishes with the PV and the claim applied once each and one commit", async () => {
    const volume = "sales.shipping.shipping-dev.logs";
    const appliedBefore = {
      pv: world.kube.primary.applyCount("PersistentVolume", volume),
      pvc: world.kube.primary.applyCount("PersistentVolumeClaim", "logs", "shipping-dev"),
    };
    let worker = await startWorker(world, 400);
    children.push(worker);
    await world.answer(await world.slash("resize bu=sales app=shipping ns=shipping-dev pvc=logs size=30"));
    for (const step of ["check", "grow-pv", "grow-pvc"]) {
      worker = await killAfter("volume-resize", volume, step, worker);
    }
    await world.until(
      "the resize to succeed",
      () =>
        world
          .cards()
          .find((m) => m.text.startsWith(`Resize of volume ${volume}`) && /succeeded/.test(m.text)),
      30_000,
    );
    await kill(worker);
    expect(world.kube.primary.applyCount("PersistentVolume", volume)).toBe(appliedBefore.pv + 1);
    expect(world.kube.primary.applyCount("PersistentVolumeClaim", "logs", "shipping-dev")).toBe(
      appliedBefore.pvc + 1,
    );
    expect((world.kube.primary.object("PersistentVolume", volume)?.spec as any)?.capacity?.storage).toBe(
      "30Gi",
    );
    expect((await world.github.commits()).filter((c) => c.message.startsWith("Resize volume"))).toHaveLength(
      1,
    );
  }, 120_000);
});
