// `/dr failover` end to end: plan, two distinct approvers, then stop replication through the
// secondary region, wait until writable, apply every volume to the secondary cluster, one commit.

import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { parseManifests } from "../../src/core/manifests.ts";
import { jobIdFor } from "../../src/jobs/queues.ts";
import { CHANNEL, createWorld, FS, USERS, type World } from "../support/world.ts";

const APPROVE = "approval_approve";
const DENY = "approval_deny";

const statusCard = (world: World, word: RegExp) =>
  world.until(
    `a failover card saying ${word}`,
    () => world.cards().find((m) => m.text.startsWith("DR failover for") && word.test(m.text)),
    30_000,
  );

describe("/dr failover", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld(inject("redisUrl"), { replicationLagSeconds: 90 });
    await world.start();
  });
  afterEach(async () => {
    await world?.close();
  });

  it("moves 50 volumes after two distinct approvals, through the secondary region, in one commit", async () => {
    const paths = await world.seedVolumes(50);
    const before = (await world.github.commits()).length;

    const ack = await world.slash("failover", USERS.incident, "/dr");
    expect(await world.answer(ack)).toMatch(/^Failover requested as `dr-[0-9a-f]{8}`/);
    const { card, id } = await world.approvalCard();
    const text = JSON.stringify(card.blocks);
    expect(text).toContain("*Move* 50 volumes from *rosa-primary*");
    expect(text).toMatch(/last completed 1m3\ds ago/);
    expect(text).toMatch(/plan digest\* `[0-9a-f]{12}`/);
    expect(text).toContain(`<@${USERS.approver1}>, <@${USERS.approver2}> or members of <!subteam^S0SRE>`);
    expect(card.text).toContain(`requested by <@${USERS.incident}>`);

    // Nothing has happened yet.
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    expect(world.kube.secondary.objects("PersistentVolume")).toHaveLength(0);

    expect(await world.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(
      /recorded \(1\/2\)\. 1 more approver is needed/,
    );
    expect(await world.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/You already approved/);
    expect(await world.click(USERS.sre, APPROVE, id, card.ts)).toMatch(
      /completed .* The failover starts now/,
    );

    const done = await statusCard(world, /succeeded/);
    expect(done.text).toMatch(/DR failover for <@U0INC1>: succeeded in/);

    // Replication stopped through the secondary region only.
    expect(world.efs.callsTo("DeleteReplicationConfiguration", "us-west-2")).toHaveLength(1);
    expect(world.efs.callsTo("DeleteReplicationConfiguration", "us-east-1")).toHaveLength(0);
    expect(world.efs.fileSystem("fs-0bbb2222")?.writable).toBe(true);

    // Every PV on the secondary points at the secondary file system, every claim is Bound.
    const pvs = world.kube.secondary.objects("PersistentVolume");
    expect(pvs).toHaveLength(50);
    for (const pv of pvs) {
      expect((pv.spec as { nfs: { server: string } }).nfs.server).toBe(
        "fs-0bbb2222.efs.us-west-2.amazonaws.com",
      );
      expect(pv.metadata.labels?.["drbot.io/cluster"]).toBe("rosa-secondary");
      expect(world.kube.secondary.applyCount("PersistentVolume", pv.metadata.name)).toBe(1);
    }
    for (const pvc of world.kube.secondary.objects("PersistentVolumeClaim"))
      expect(pvc.status).toMatchObject({ phase: "Bound" });

    // One commit under PV-PVCs/secondary/, with the requester and the approvers as trailers.
    const commits = await world.github.commits();
    expect(commits.length - before).toBe(1);
    const message = commits[0]?.message ?? "";
    expect(message).toMatch(/^Fail over 50 volumes to rosa-secondary \(fs-0bbb2222\)/);
    expect(message).toContain(`Requested-by: ${USERS.incident}`);
    expect(message).toContain(`Approved-by: ${USERS.approver1}`);
    expect(message).toContain(`Approved-by: ${USERS.sre}`);
    const secondaryFiles = await world.github.listFiles("PV-PVCs/secondary");
    expect(secondaryFiles).toHaveLength(50);
    expect(secondaryFiles).toContain(paths[0]?.replace("PV-PVCs/primary/", "PV-PVCs/secondary/"));
    const one = parseManifests((await world.github.readFile(secondaryFiles[0] as string)) ?? "");
    expect(one[0]?.metadata.uid).toBeUndefined();

    // The approval card shows the outcome with names, without buttons; the secondary is active.
    const resolved = world.slack.message(CHANNEL, card.ts);
    expect(JSON.stringify(resolved?.blocks)).not.toContain(APPROVE);
    expect(JSON.stringify(resolved?.blocks)).toContain(
      `*Approved* by <@${USERS.approver1}>, <@${USERS.sre}>`,
    );
    expect((await world.redis.hgetall(`${world.prefix}:state:active-site`)).site).toBe("secondary");
    expect(await world.redis.get(`${world.prefix}:lock:dr`)).toBeNull();

    // A volume requested now is provisioned on the secondary site.
    await world.answer(await world.slash("create bu=sales app=after ns=after pvc=data size=1"));
    await world.until("the new volume", () =>
      world.cards().find((m) => /sales\.after\.after\.data.*succeeded/.test(m.text)),
    );
    expect(world.kube.secondary.object("PersistentVolume", "sales.after.after.data")).toBeDefined();
    expect(
      await world.github.readFile("PV-PVCs/secondary/sales/rosa-primary/after/after/pv-pvc_data.yaml"),
    ).toContain("fs-0bbb2222");
  });

  it("fails over while the primary region does not answer at all, deleting the standby's side only", async () => {
    await world.seedVolumes(10);
    world.efs.setRegionDown("us-east-1", true);
    await world.kube.primary.close();
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard();
    const plan = JSON.stringify(card.blocks);
    expect(plan).toMatch(/does not answer; expected in a regional outage/);
    // The approved plan names the mode: AWS cannot finish a deletion on both sides while the
    // other region is down (the stand-in keeps such a deletion DELETING, as AWS does).
    expect(plan).toMatch(
      /on the secondary side only \(LOCAL_CONFIGURATION_ONLY\), because the primary region does not answer/,
    );
    await world.click(USERS.approver1, APPROVE, id, card.ts);
    await world.click(USERS.approver2, APPROVE, id, card.ts);

    const [deletion] = await world.until("the deletion of replication", () => {
      const calls = world.efs.callsTo("DeleteReplicationConfiguration");
      return calls.length > 0 ? calls : undefined;
    });
    expect(deletion?.url).toMatch(/^\/us-west-2\//);
    expect(deletion?.query.get("deletionMode")).toBe("LOCAL_CONFIGURATION_ONLY");

    const done = await statusCard(world, /succeeded/);
    expect(JSON.stringify(done.blocks)).toContain("deleted (LOCAL_CONFIGURATION_ONLY)");
    expect(world.efs.callsTo("DeleteReplicationConfiguration", "us-east-1")).toHaveLength(0);
    expect(world.efs.fileSystem(FS.secondary)?.writable).toBe(true);
    expect(world.kube.secondary.objects("PersistentVolume")).toHaveLength(10);
    // The primary's side of the configuration is left for /dr reprotect to remove once its
    // region is back: that region still shows it.
    world.efs.setRegionDown("us-east-1", false);
    expect(world.efs.replicationOf(FS.primary)?.regions).toEqual(["us-east-1"]);
  });

  it("refuses clicks that may not count, and a deny ends it with nothing changed", async () => {
    await world.seedVolumes(3);
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard();
    expect(await world.click(USERS.incident, APPROVE, id, card.ts)).toMatch(
      /You are not an approver|You asked for/,
    );
    expect(await world.click(USERS.stranger, APPROVE, id, card.ts)).toMatch(
      /You are not an approver for failovers/,
    );
    expect(await world.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/recorded \(1\/2\)/);
    expect(await world.click(USERS.approver2, DENY, id, card.ts)).toMatch(/You denied/);
    expect(await world.click(USERS.sre, APPROVE, id, card.ts)).toMatch(
      /already denied; your click changed nothing/,
    );

    const done = await statusCard(world, /cancelled/);
    expect(JSON.stringify(done.blocks)).toMatch(/denied by <@U0APR2>/);
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    expect(world.kube.secondary.objects("PersistentVolume")).toHaveLength(0);
    expect(await world.github.listFiles("PV-PVCs/secondary")).toHaveLength(0);
    expect((await world.redis.hgetall(`${world.prefix}:state:active-site`)).site).not.toBe("secondary");
  });

  it("lets the requester cancel, and refuses a second failover while one waits", async () => {
    await world.seedVolumes(2);
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard();
    expect(await world.answer(await world.slash("failover", USERS.incident, "/dr"))).toMatch(
      /A failover is already under way or awaiting approval/,
    );
    expect(await world.answer(await world.slash(`cancel ${id}`, USERS.approver1, "/dr"))).toMatch(
      /Only <@U0INC1>, who asked for it, can cancel/,
    );
    expect(await world.answer(await world.slash(`cancel ${id}`, USERS.incident, "/dr"))).toMatch(
      /Cancelled `dr-/,
    );
    await statusCard(world, /cancelled/);
    expect(await world.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/already cancelled/);
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
  });

  it("plans without changing anything on a dry run", async () => {
    await world.seedVolumes(4);
    await world.answer(await world.slash("failover dry-run", USERS.incident, "/dr"));
    const done = await world.until(
      "the plan",
      () => world.cards().find((m) => /DR failover plan \(dry run\).*succeeded/.test(m.text)),
      20_000,
    );
    expect(JSON.stringify(done.blocks)).toContain("*Move* 4 volumes");
    expect(world.cards().some((m) => JSON.stringify(m.blocks ?? []).includes(APPROVE))).toBe(false);
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    expect(world.kube.secondary.objects("PersistentVolume")).toHaveLength(0);
  });

  it("refuses a requester who is neither a listed requester nor an approver", async () => {
    expect(await world.answer(await world.slash("failover", USERS.requester, "/dr"))).toMatch(
      /You may not ask for a failover: requests come from members of <!subteam\^S0INCIDENT>/,
    );
  });

  it("reports status: active site, replication and lag, recorded volumes", async () => {
    await world.seedVolumes(3);
    const text = await world.answer(await world.slash("status", USERS.stranger, "/dr"));
    expect(text).toMatch(/\*Active site\*: primary \(rosa-primary\)/);
    expect(text).toMatch(
      /\*primary file system\*: fs-0aaa1111 \(us-east-1\) available.*replicating to fs-0bbb2222 \(us-west-2\), ENABLED, last replicated 1m3\ds ago/,
    );
    expect(text).toMatch(/\*Volumes recorded\*: 3 for the primary site, 0 for the secondary site/);
    expect(text).toMatch(/\*DR operation\*: none/);
  });
});

describe("/dr failover approvals under pressure", () => {
  let world: World;
  afterEach(async () => {
    await world?.close();
  });

  it("expires unanswered: the card says so, the job is cancelled, nothing changes", async () => {
    // Nobody clicks before the expiry, so nothing races it: the job wakes at its expiry and ends.
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.approvals.failover.expiresAfter = "2s"),
    });
    await world.start();
    await world.seedVolumes(2);
    const answer = await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const id = /`(dr-[0-9a-f]{8})`/.exec(answer)?.[1] as string;
    const done = await statusCard(world, /cancelled/);
    expect(JSON.stringify(done.blocks)).toMatch(
      /the approval request expired with 0\/2 approvals; nothing was changed/,
    );
    const expired = world.cards().find((m) => JSON.stringify(m.blocks ?? []).includes("*Expired*"));
    expect(JSON.stringify(expired?.blocks)).not.toContain(APPROVE);
    expect(await world.click(USERS.approver2, APPROVE, id, expired?.ts)).toMatch(
      /already expired; your click changed nothing/,
    );
    expect((await world.approvalsOf(id))?.state).toBe("expired");
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    expect(world.kube.secondary.objects("PersistentVolume")).toHaveLength(0);
  });

  it("wakes the parked job with the click that completes the approval, not with its own timer", async () => {
    // Every timeout of this test is below the 30 s after which a parked job wakes by itself.
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.approvals.failover.expiresAfter = "1h"),
    });
    await world.start();
    await world.seedVolumes(2);
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard();
    const jobId = jobIdFor("dr-failover", id);
    const queue = world.queue("dr-failover");
    await world.until("the job to be put aside", async () =>
      (await (await queue.getJob(jobId))?.getState()) === "delayed" ? true : undefined,
    );
    await world.click(USERS.approver1, APPROVE, id, card.ts);
    expect(await world.click(USERS.approver2, APPROVE, id, card.ts)).toMatch(/The failover starts now/);
    await world.until(
      "the failover to succeed",
      () => world.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
      20_000,
    );

    await world.until("the job to complete", async () =>
      (await (await queue.getJob(jobId))?.getState()) === "completed" ? true : undefined,
    );
    // BullMQ's own record of the job (Redis's clock): put aside until `due`, taken out at `woken`.
    const events = (await world.redis.xrange(`${world.keyPrefix}:dr-failover:events`, "-", "+"))
      .map(([streamId, fields]): Record<string, string> => {
        const entry: Record<string, string> = { at: streamId.split("-")[0] ?? "" };
        for (let i = 0; i + 1 < fields.length; i += 2) entry[fields[i] as string] = fields[i + 1] as string;
        return entry;
      })
      .filter((e) => e.jobId === jobId);
    const woken = events.findIndex((e) => e.event === "waiting" && e.prev === "delayed");
    expect(woken).toBeGreaterThan(0);
    const parked = events.slice(0, woken).findLast((e) => e.event === "delayed");
    const due = Number(parked?.delay);
    const wokenAt = Number(events[woken]?.at);
    // Its own wake-up was still about 30 s away: the click promoted it.
    expect(due - wokenAt).toBeGreaterThan(20_000);
    // Woken once, it ran to the end without being put aside again (progress reports aside).
    const lifecycle = events.slice(woken).filter((e) => e.event !== "progress");
    expect(lifecycle.map((e) => e.event)).toEqual(["waiting", "active", "completed"]);
  });

  it("starts exactly one execution from 50 simultaneous clicks by two approvers", async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    await world.seedVolumes(5);
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard();
    const clicks = Array.from({ length: 50 }, (_, i) =>
      world.slack.sendInteraction(world.receiverUrl, {
        type: "block_actions",
        user_id: i % 2 === 0 ? USERS.approver1 : USERS.approver2,
        channel_id: CHANNEL,
        message_ts: card.ts,
        actions: [{ action_id: APPROVE, value: id, type: "button" }],
      }),
    );
    const results = await Promise.all(clicks);
    expect(results.every((r) => r.status === 200)).toBe(true);
    await statusCard(world, /succeeded/);
    const answers = await world.until("every click answered", () => {
      const mine = world.slack.responses.filter((r) => results.some((c) => c.responseUrl === r.url));
      return mine.length === 50 ? mine : undefined;
    });
    expect(answers.filter((a) => /completed/.test(a.text))).toHaveLength(1);
    expect(answers.filter((a) => /recorded \(1\/2\)/.test(a.text))).toHaveLength(1);
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(1);
    expect(world.cards().filter((m) => /DR failover for .*: succeeded/.test(m.text))).toHaveLength(1);
    expect(await world.github.listFiles("PV-PVCs/secondary")).toHaveLength(5);
    expect((await world.github.commits()).filter((c) => c.message.startsWith("Fail over"))).toHaveLength(1);
  });
});

describe("/dr failover and volume requests under way", () => {
  let world: World;
  afterEach(async () => {
    await world?.close();
  });

  it("lets a running volume request finish first, then stops because the plan is no longer current", async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    await world.seedVolumes(2);
    world.kube.primary.holdBinding("inflight");
    await world.answer(await world.slash("create bu=sales app=race ns=race pvc=inflight size=1"));
    await world.until("the volume job to wait for binding", () =>
      world.cards().find((m) => /Wait until the PVC is Bound _running_/.test(JSON.stringify(m.blocks))),
    );

    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard();
    await world.click(USERS.approver1, APPROVE, id, card.ts);
    await world.click(USERS.approver2, APPROVE, id, card.ts);
    await world.until("the failover to wait for the volume request", () =>
      world.cards().find((m) => /waiting for 1 volume request\(s\) to finish/.test(JSON.stringify(m.blocks))),
    );
    // Meanwhile new volume requests are refused.
    expect(
      await world.answer(await world.slash("create bu=sales app=race ns=race pvc=later size=1")),
    ).toMatch(/a DR operation \(dr-[0-9a-f]{8}\) is in progress/);

    world.kube.primary.releaseBinding("inflight");
    await world.until("the volume", () =>
      world.cards().find((m) => /sales\.race\.race\.inflight.*succeeded/.test(m.text)),
    );
    const stopped = await statusCard(world, /failed/);
    expect(stopped.text).toMatch(
      /The recorded volumes changed since the plan was approved \(0 changed, 1 added\)/,
    );
    expect(world.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    expect(await world.redis.get(`${world.prefix}:lock:dr`)).toBeNull();
  });
});
