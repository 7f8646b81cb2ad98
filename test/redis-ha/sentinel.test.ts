// drbot on a real Sentinel deployment (one master, one replica, three redis-sentinel processes),
// whose master is killed (SIGKILL) in the middle of the work: Sentinel promotes the replica,
// drbot's clients and BullMQ's find the new master through the sentinels, and the work finishes
// with nothing lost and nothing done twice.

import { afterEach, describe, expect, it } from "vitest";
import { configCheck } from "../../src/cli/config-check.ts";
import { type SentinelDeployment, startSentinelDeployment } from "../support/redis-sentinel.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

const APPROVE = "approval_approve";

const cardFor = (world: World, pattern: RegExp, timeoutMs = 30_000) =>
  world.until(`a card matching ${pattern}`, () => world.cards().find((m) => pattern.test(m.text)), timeoutMs);

/** One line of figures in the test output, for the README and the report. */
const measured = (what: string, figures: Record<string, number>) =>
  console.info(
    `[sentinel] ${what}: ${Object.entries(figures)
      .map(([k, v]) => `${k} ${v} ms`)
      .join(", ")}`,
  );

/** The redis line of `drbot config check` against the world. */
async function redisLine(world: World): Promise<string> {
  const lines: string[] = [];
  await configCheck({ ...world.env, DRBOT_REDIS_PREFIX: world.prefix }, (l) => lines.push(l));
  return lines.find((l) => /^\S+\s+redis\s/.test(l)) ?? lines.join("\n");
}

describe("Redis Sentinel: the master dies", () => {
  let sentinel: SentinelDeployment | undefined;
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    await sentinel?.stop();
    world = undefined;
    sentinel = undefined;
  });

  async function setUp(configure?: (c: Record<string, any>) => void): Promise<World> {
    sentinel = await startSentinelDeployment();
    world = await createWorld(sentinel.url, configure ? { configure } : {});
    await world.start();
    return world;
  }

  it("during a volume create: the job finishes once, and the workers take new jobs from the new master", async () => {
    const w = await setUp();
    const s = sentinel as SentinelDeployment;
    const masterBefore = await s.master();
    expect(await redisLine(w)).toMatch(
      new RegExp(
        `^ok\\s+redis\\s+redis-sentinel://.*: sentinel master "mymaster" at 127\\.0\\.0\\.1:${masterBefore.port}, 1 replica connected, 3 sentinels watching \\(3/3 listed answered\\); answered PONG`,
      ),
    );

    w.kube.primary.holdBinding("through-failover");
    await w.answer(await w.slash("create bu=sales app=ha ns=ha pvc=through-failover size=1"));
    await w.until("the job to wait for binding", () =>
      w.cards().find((m) => /Wait until the PVC is Bound _running_/.test(JSON.stringify(m.blocks))),
    );

    // The rest of the job (bind, Git commit, checkpoints) runs while the master is gone.
    const killed = performance.now();
    const promotion = s.killMaster();
    w.kube.primary.releaseBinding("through-failover");
    const { promotedAfterMs, master } = await promotion;
    expect(master.port).not.toBe(masterBefore.port);
    const card = await cardFor(w, /sales\.ha\.ha\.through-failover.*succeeded/);
    const finishedAfterMs = Math.round(performance.now() - killed);

    expect(w.cards().filter((m) => m.text.includes("sales.ha.ha.through-failover"))).toHaveLength(1);
    expect(card.text).toMatch(/succeeded/);
    expect((await w.github.commits()).filter((c) => c.message.includes("through-failover"))).toHaveLength(1);
    expect(w.kube.primary.applyCount("PersistentVolume", "sales.ha.ha.through-failover")).toBe(1);
    expect(w.kube.primary.applyCount("PersistentVolumeClaim", "through-failover", "ha")).toBe(1);

    // config check names the new master, and warns that nothing is left to promote.
    expect(await redisLine(w)).toMatch(
      new RegExp(
        `^warn\\s+redis\\s+.*master "mymaster" at 127\\.0\\.0\\.1:${master.port}, 0 replicas connected`,
      ),
    );

    // Workers blocked on the dead master now take jobs from the promoted one.
    const asked = performance.now();
    await w.answer(await w.slash("create bu=sales app=ha ns=ha pvc=after-failover size=1"));
    await cardFor(w, /sales\.ha\.ha\.after-failover.*succeeded/);
    measured("volume create across a failover", {
      "promotion (kill to every sentinel naming the replica)": promotedAfterMs,
      "kill to job succeeded": finishedAfterMs,
      "next volume, command to succeeded": Math.round(performance.now() - asked),
    });
  }, 60_000);

  it("through a planned switchover (SENTINEL FAILOVER) during a volume create: the job finishes once", async () => {
    const w = await setUp();
    const s = sentinel as SentinelDeployment;
    w.kube.primary.holdBinding("switchover");
    await w.answer(await w.slash("create bu=sales app=ha ns=ha pvc=switchover size=1"));
    await w.until("the job to wait for binding", () =>
      w.cards().find((m) => /Wait until the PVC is Bound _running_/.test(JSON.stringify(m.blocks))),
    );
    // The old master stays up: until Sentinel makes it a replica it refuses writes (NOREPLICAS),
    // then answers READONLY; drbot asks the sentinels again instead of failing.
    const started = performance.now();
    const switching = s.switchover();
    w.kube.primary.releaseBinding("switchover");
    const { promotedAfterMs } = await switching;
    await cardFor(w, /sales\.ha\.ha\.switchover.*succeeded/);
    const finishedAfterMs = Math.round(performance.now() - started);
    expect(w.cards().filter((m) => m.text.includes("sales.ha.ha.switchover"))).toHaveLength(1);
    expect(
      (await w.github.commits()).filter((c) => c.message.includes("sales.ha.ha.switchover")),
    ).toHaveLength(1);
    expect(w.kube.primary.applyCount("PersistentVolume", "sales.ha.ha.switchover")).toBe(1);
    const asked = performance.now();
    await w.answer(await w.slash("create bu=sales app=ha ns=ha pvc=after-switchover size=1"));
    await cardFor(w, /sales\.ha\.ha\.after-switchover.*succeeded/);
    measured("volume create across a switchover", {
      "SENTINEL FAILOVER to every sentinel naming the replica": promotedAfterMs,
      "to job succeeded": finishedAfterMs,
      "next volume, command to succeeded": Math.round(performance.now() - asked),
    });
  }, 60_000);

  it("while a failover waits for approval: the recorded approval survives and the failover runs once", async () => {
    const w = await setUp();
    const s = sentinel as SentinelDeployment;
    await w.seedVolumes(5);
    await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await w.approvalCard();
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/recorded \(1\/2\)/);

    const { promotedAfterMs } = await s.killMaster();
    // Read from the promoted master: the first approval is there.
    expect((await w.approvalsOf(id))?.approvals.map((a) => a.user)).toEqual([USERS.approver1]);
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/You already approved/);
    const clicked = performance.now();
    expect(await w.click(USERS.approver2, APPROVE, id, card.ts)).toMatch(
      /completed .* The failover starts now/,
    );

    await cardFor(w, /^DR failover for .*: succeeded/);
    measured("failover approved after a Redis failover", {
      promotion: promotedAfterMs,
      "last approval to succeeded": Math.round(performance.now() - clicked),
    });
    expect((await w.approvalsOf(id))?.state).toBe("approved");
    expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(1);
    expect((await w.github.commits()).filter((c) => c.message.startsWith("Fail over"))).toHaveLength(1);
    expect(w.kube.secondary.objects("PersistentVolume")).toHaveLength(5);
    expect(w.cards().filter((m) => m.text.startsWith("DR failover for"))).toHaveLength(1);
  }, 60_000);

  it("mid-apply of a 200-volume failover: it finishes and applies each volume exactly once", async () => {
    const VOLUMES = 200;
    const w = await setUp((c) => (c.failover = { applyConcurrency: 8 }));
    const s = sentinel as SentinelDeployment;
    await w.seedVolumes(VOLUMES);
    // Slow enough that the kill lands inside the apply step.
    w.kube.secondary.http.latencyMs = 10;
    await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await w.approvalCard();
    await w.click(USERS.approver1, APPROVE, id, card.ts);
    await w.click(USERS.approver2, APPROVE, id, card.ts);

    const appliedKey = `${w.keyPrefix}:failover:${id}:applied`;
    await w.until("a quarter of the volumes applied", async () =>
      (await w.redis.scard(appliedKey)) >= VOLUMES / 4 ? true : undefined,
    );
    const killed = performance.now();
    const { promotedAfterMs } = await s.killMaster();
    const appliedAtPromotion = await w.redis.scard(appliedKey);
    expect(appliedAtPromotion).toBeLessThan(VOLUMES);

    await cardFor(w, /^DR failover for .*: succeeded/, 60_000);
    measured("200-volume failover across a Redis failover", {
      promotion: promotedAfterMs,
      "kill to succeeded": Math.round(performance.now() - killed),
    });
    const pvs = w.kube.secondary.objects("PersistentVolume");
    expect(pvs).toHaveLength(VOLUMES);
    // Each volume is applied once, except those whose apply was in flight while Redis changed
    // master (their checkpoint write failed, so the step ran them again): at most the apply
    // concurrency, and server-side apply of the same object changes nothing.
    const twice = pvs.filter((pv) => w.kube.secondary.applyCount("PersistentVolume", pv.metadata.name) > 1);
    expect(twice.length).toBeLessThanOrEqual(8);
    expect(pvs.every((pv) => w.kube.secondary.applyCount("PersistentVolume", pv.metadata.name) <= 2)).toBe(
      true,
    );
    expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(1);
    const commits = (await w.github.commits()).filter((c) => c.message.startsWith("Fail over"));
    expect(commits).toHaveLength(1);
    expect(commits[0]?.message).toMatch(/^Fail over 200 volumes/);
    expect(await w.redis.scard(appliedKey)).toBe(VOLUMES);
  }, 90_000);
});
