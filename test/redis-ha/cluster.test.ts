// drbot on a real Redis Cluster (three masters made by `redis-cli --cluster create`): with the
// key prefix hash-tagged, every key of drbot and of BullMQ lands in one slot, so their multi-key
// scripts and transactions work, and the usual flows pass — including a worker killed mid-job.

import { once } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { configCheck } from "../../src/cli/config-check.ts";
import type { JobEnvelope } from "../../src/core/steps.ts";
import { jobIdFor } from "../../src/jobs/queues.ts";
import { type ClusterDeployment, startClusterDeployment } from "../support/redis-cluster.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

const APPROVE = "approval_approve";

const cardFor = (world: World, pattern: RegExp, timeoutMs = 30_000) =>
  world.until(`a card matching ${pattern}`, () => world.cards().find((m) => pattern.test(m.text)), timeoutMs);

describe("Redis Cluster", () => {
  let cluster: ClusterDeployment;
  let world: World | undefined;
  beforeAll(async () => {
    cluster = await startClusterDeployment();
  });
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  const newWorld = async () => {
    world = await createWorld(cluster.url);
    return world;
  };

  it("creates a volume, with every key of drbot and BullMQ in the one slot of the hash-tagged prefix", async () => {
    const w = await newWorld();
    expect(w.keyPrefix).toBe(`{${w.prefix}}`);
    await w.start();
    expect(await w.answer(await w.slash("create bu=sales app=cl ns=cl pvc=data size=1"))).toMatch(
      /^Accepted/,
    );
    const card = await cardFor(w, /sales\.cl\.cl\.data.*succeeded/);
    expect(card.text).toMatch(/succeeded/);
    expect(w.cards()).toHaveLength(1);
    expect((await w.github.commits()).filter((c) => c.message.includes("sales.cl.cl.data"))).toHaveLength(1);
    expect(w.kube.primary.applyCount("PersistentVolume", "sales.cl.cl.data")).toBe(1);

    // One look at every key of the cluster (this test's own): every one lies inside the
    // hash-tagged prefix, so all of them share one slot.
    const keys = await w.keys("*");
    expect(keys.some((k) => k.startsWith(`${w.keyPrefix}:volume-create:`))).toBe(true);
    expect(keys.filter((k) => !k.startsWith(`${w.keyPrefix}:`))).toEqual([]);
    const slots = new Set(await Promise.all(keys.map((k) => w.redis.cluster("KEYSLOT", k))));
    expect(slots.size).toBe(1);

    // config check names the masters and the slot (and its node) that holds drbot's keys.
    const [slot] = slots;
    const lines: string[] = [];
    await configCheck({ ...w.env, DRBOT_REDIS_PREFIX: w.prefix }, (l) => lines.push(l));
    const ports = cluster.servers.map((s) => s.port).sort();
    expect(lines.find((l) => /^\S+\s+redis\s/.test(l))).toMatch(
      new RegExp(
        `^ok\\s+redis\\s+redis-cluster://\\S+: cluster of 3 masters \\((127\\.0\\.0\\.1:(${ports.join("|")})(, )?){3}\\) and 0 replicas, cluster_state ok; keys of \\{${w.prefix}\\} in slot ${slot} on 127\\.0\\.0\\.1:(${ports.join("|")}); answered PONG`,
      ),
    );
  });

  it("runs a failover through two approvals", async () => {
    const w = await newWorld();
    await w.start();
    await w.seedVolumes(10);
    await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await w.approvalCard();
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/recorded \(1\/2\)/);
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/You already approved/);
    expect(await w.click(USERS.approver2, APPROVE, id, card.ts)).toMatch(
      /completed .* The failover starts now/,
    );
    await cardFor(w, /^DR failover for .*: succeeded/);

    expect((await w.approvalsOf(id))?.state).toBe("approved");
    expect(w.kube.secondary.objects("PersistentVolume")).toHaveLength(10);
    expect((await w.github.commits()).filter((c) => c.message.startsWith("Fail over"))).toHaveLength(1);
    expect((await w.redis.hgetall(`${w.keyPrefix}:state:active-site`)).site).toBe("secondary");
    expect(await w.redis.get(`${w.keyPrefix}:lock:dr`)).toBeNull();
    expect(await w.redis.scard(`${w.keyPrefix}:failover:${id}:applied`)).toBe(10);
  });

  it("finishes a volume create whose worker process is killed mid-job, under a new worker", async () => {
    const w = await newWorld();
    await w.start("bot");
    const worker = () => w.spawn("worker", { DRBOT_WORKER_LOCK_MS: "1000" });
    const first = await worker();
    w.kube.primary.holdBinding("restart");
    await w.answer(await w.slash("create bu=sales app=cl ns=cl pvc=restart size=1"));
    await w.until("the job to wait for binding", () =>
      w.cards().find((m) => /Wait until the PVC is Bound _running_/.test(JSON.stringify(m.blocks))),
    );
    first.child.kill("SIGKILL");
    await once(first.child, "exit");

    await worker();
    w.kube.primary.releaseBinding("restart");
    await cardFor(w, /sales\.cl\.cl\.restart.*succeeded/);
    expect(w.cards().filter((m) => m.text.includes("sales.cl.cl.restart"))).toHaveLength(1);
    expect((await w.github.commits()).filter((c) => c.message.includes("sales.cl.cl.restart"))).toHaveLength(
      1,
    );
    expect(w.kube.primary.applyCount("PersistentVolume", "sales.cl.cl.restart")).toBe(1);
    const job = await w.queue("volume-create").getJob(jobIdFor("volume-create", "sales.cl.cl.restart"));
    expect((job?.data as JobEnvelope | undefined)?.outcome?.state).toBe("succeeded");
  });
});
