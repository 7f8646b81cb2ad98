// The faults that come with a disaster: Redis restarting, Slack refusing for a while, EFS and
// Kubernetes and GitHub failing in their own ways. Each test asserts that nothing is lost and
// nothing is done twice, and that a job that cannot finish says why.

import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, inject, it } from "vitest";
import { type RedisServer, startRedisServer } from "../support/redis-server.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

async function failover(world: World, approve = true): Promise<string> {
  await world.answer(await world.slash("failover", USERS.incident, "/dr"));
  const { card, id } = await world.approvalCard(30_000);
  if (approve) {
    await world.click(USERS.approver1, "approval_approve", id, card.ts);
    await world.click(USERS.approver2, "approval_approve", id, card.ts);
  }
  return id;
}
const failoverCard = (world: World, word: RegExp, timeoutMs = 30_000) =>
  world.until(
    `the failover card to say ${word}`,
    () => world.cards().find((m) => /^DR failover for /.test(m.text) && word.test(m.text)),
    timeoutMs,
  );

describe("faults", () => {
  let world: World | undefined;
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await world?.close();
    await redis?.stop();
    world = undefined;
    redis = undefined;
  });

  it("loses neither a running job nor a pending approval when Redis restarts (AOF)", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "drbot-aof-"));
    redis = await startRedisServer({ appendOnly: true, dir: dataDir });
    world = await createWorld(redis.url);
    await world.start();
    await world.seedVolumes(3);

    world.kube.primary.holdBinding("through-restart");
    await world.answer(await world.slash("create bu=sales app=redis ns=redis pvc=through-restart size=1"));
    await world.until("the job to wait for binding", () =>
      world?.cards().find((m) => /Wait until the PVC is Bound _running_/.test(JSON.stringify(m.blocks))),
    );
    const id = await failover(world, false);

    // Restart Redis on the same port and data directory.
    const { port, dir } = redis;
    await redis.stop();
    redis = await startRedisServer({ appendOnly: true, port, dir });

    world.kube.primary.releaseBinding("through-restart");
    await world.until(
      "the volume",
      () => world?.cards().find((m) => /sales\.redis\.redis\.through-restart.*succeeded/.test(m.text)),
      30_000,
    );
    const card = world.cards().find((m) => JSON.stringify(m.blocks ?? []).includes(id));
    expect(await world.click(USERS.approver1, "approval_approve", id, card?.ts)).toMatch(/recorded \(1\/2\)/);
    expect(await world.click(USERS.approver2, "approval_approve", id, card?.ts)).toMatch(/completed/);
    // The approval survived the restart and the job resumed. The volume created meanwhile was not
    // in the approved plan, so the failover stops before changing anything, and says why.
    const stale = await failoverCard(world, /failed/);
    expect(stale.text).toMatch(
      /The recorded volumes changed since the plan was approved \(0 changed, 1 added\)/,
    );
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    // Asked again, it plans the four volumes and runs.
    const again = await failover(world);
    expect(again).not.toBe(id);
    await world.until(
      "the second failover",
      () => world?.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
      30_000,
    );
    expect((await world.github.commits()).filter((c) => c.message.includes("through-restart"))).toHaveLength(
      1,
    );
    expect(await world.github.listFiles("PV-PVCs/secondary")).toHaveLength(4);
  }, 90_000);

  it("finishes jobs while Slack answers 429 and 500, for as long as it does, and the cards catch up", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.seedVolumes(5);
    const id = await failover(w, true);
    // From now on Slack refuses everything drbot sends, until the test lets it through.
    for (const method of ["chat.postMessage", "chat.update", "chat.postEphemeral"]) {
      w.slack.rateLimit(method, { retryAfterSeconds: 1, forMs: 600_000 });
    }
    // The work completes meanwhile: Git has the commit while Slack still refuses.
    await w.until(
      "the failover commit",
      async () => ((await w.github.listFiles("PV-PVCs/secondary")).length === 5 ? true : undefined),
      20_000,
    );
    expect(w.cards().some((m) => /^DR failover for .*: succeeded/.test(m.text))).toBe(false);
    w.slack.clearFaults();
    w.slack.serverError("chat.update", { status: 500, times: 5 });
    const card = await failoverCard(w, /succeeded/, 30_000);
    expect(card.text).toContain("succeeded");
    expect(w.cards().filter((m) => m.text.startsWith("DR failover for"))).toHaveLength(1);
    expect(id).toMatch(/^dr-/);
  }, 90_000);

  it("retries EFS throttling and 500s; a deletion that never ends halts the failover, which keeps the DR lock", async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.failover = { writableTimeout: "1s" }),
    });
    await world.start();
    await world.seedVolumes(2);
    world.efs.failOperation("DescribeReplicationConfigurations", "ThrottlingException", {
      times: 2,
      region: "us-west-2",
    });
    world.efs.failOperation("DeleteReplicationConfiguration", "InternalServerError", { times: 1 });
    world.efs.setDeletionBehaviour({ never: true });
    await failover(world);
    const card = await failoverCard(world, /failed/, 60_000);
    // Past the point of no return: halted, not over. The lock holds; resume is the way on.
    expect(card.text).toMatch(
      /failed — incomplete, waiting to be resumed: Wait until the target is writable failed: fs-0bbb2222 is still not writable after \d/,
    );
    expect(JSON.stringify(card.blocks)).toMatch(/Check the replication in the EFS console \(us-west-2\)/);
    expect(JSON.stringify(card.blocks)).toMatch(/\/dr failover resume dr-[0-9a-f]{8}/);
    expect(world.kube.secondary.objects("PersistentVolume")).toHaveLength(0);
    expect(await world.github.listFiles("PV-PVCs/secondary")).toHaveLength(0);
    expect(await world.redis.get(`${world.prefix}:lock:dr`)).toMatch(/^dr-/);
    const status = await world.answer(await world.slash("status", USERS.stranger, "/dr"));
    expect(status).toMatch(
      /FAILOVER INCOMPLETE\*: replication deleted, 0\/2 volumes applied, Git not recorded/,
    );
  }, 90_000);

  it("blocks the plan when the secondary file system does not exist", async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.sites.secondary.efs.fileSystemId = "fs-0ccc3333"),
    });
    await world.start();
    await world.seedVolumes(1);
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const card = await failoverCard(world, /failed/);
    expect(card.text).toMatch(
      /Plan failed: The failover is blocked: .*The secondary file system is not reachable/,
    );
    expect(world.cards().some((m) => JSON.stringify(m.blocks ?? []).includes("approval_approve"))).toBe(
      false,
    );
  });

  it("rides out Kubernetes 409s and 500s, and leaves out (with the reason) a PV that clashes with one already there", async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    const paths = await world.seedVolumes(4);
    // A PV already on the secondary with another source: the apply is refused with 422.
    const taken = paths[0]?.split("/").slice(-4) as string[];
    const pvName = `sales.app.${taken[2]}.${(taken[3] as string).replace(/^pv-pvc_|\.yaml$/g, "")}`;
    world.kube.secondary.seed({
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: pvName },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteMany"],
        nfs: { server: "old.example.com", path: "/old" },
      },
    });
    const notDryRun = (req: { query: URLSearchParams }) => !req.query.has("dryRun");
    world.kube.secondary.injectFault({
      method: "PATCH",
      path: /persistentvolumeclaims/,
      match: notDryRun,
      reply: {
        status: 500,
        body: {
          kind: "Status",
          status: "Failure",
          code: 500,
          reason: "InternalError",
          message: "etcd timeout",
        },
      },
      times: 2,
    });
    world.kube.secondary.injectFault({
      method: "PATCH",
      path: /persistentvolumes\//,
      match: notDryRun,
      reply: {
        status: 409,
        body: {
          kind: "Status",
          status: "Failure",
          code: 409,
          reason: "Conflict",
          message: "the object has been modified",
        },
      },
      times: 1,
    });
    await failover(world);
    const card = await failoverCard(world, /succeeded/, 60_000);
    // The plan already found the clash (server-side dry run) and left that volume out, saying why.
    expect(JSON.stringify(card.blocks)).toMatch(/3 volumes, 1 left out/);
    expect(JSON.stringify(card.blocks)).toMatch(/3\/3 applied, 3 bound/);
    const approvalCard = world.cards().find((m) => JSON.stringify(m.blocks ?? []).includes("*Left out* 1"));
    expect(JSON.stringify(approvalCard?.blocks)).toMatch(/another field manager owns fields|immutable/);
    expect(world.kube.secondary.objects("PersistentVolumeClaim")).toHaveLength(3);
    expect(await world.github.listFiles("PV-PVCs/secondary")).toHaveLength(3);
  }, 90_000);

  it("commits once through GitHub 5xx, a secondary rate limit and a racing pusher", async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    await world.seedVolumes(6);
    world.github.injectFault({
      method: "POST",
      path: /\/git\/trees$/,
      reply: { status: 502, body: { message: "Bad gateway" } },
      times: 1,
    });
    world.github.secondaryRateLimit({
      method: "POST",
      path: /\/git\/commits$/,
      retryAfterSeconds: 1,
      times: 1,
    });
    world.github.raceRefUpdate({ times: 1 });
    await failover(world);
    await failoverCard(world, /succeeded/, 60_000);
    const commits = (await world.github.commits()).filter((c) => c.message.startsWith("Fail over"));
    expect(commits).toHaveLength(1);
    expect(await world.github.listFiles("PV-PVCs/secondary")).toHaveLength(6);
    await world.github.fsck();
  }, 90_000);
});
