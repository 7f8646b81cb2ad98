// Regressions for the problems found by attacking drbot (issue #9; proofs of concept in
// shared/repro/redteam.test.ts). Each test asserts the behaviour that must hold now.

import { readFile, writeFile } from "node:fs/promises";
import { afterEach, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/core/config.ts";
import { parseManifests, serializeManifests } from "../../src/core/manifests.ts";
import { renderVolume, volumeGitPath } from "../../src/core/volumes.ts";
import { CHANNEL, createWorld, USERS, type World } from "../support/world.ts";

const APPROVE = "approval_approve";
const DENY = "approval_deny";

async function requestFailover(world: World) {
  const ack = await world.answer(await world.slash("failover", USERS.incident, "/dr"));
  const { card, id } = await world.approvalCard(30_000);
  return { ack, card, id };
}
const failoverCard = (world: World, word: RegExp, timeoutMs = 30_000) =>
  world.until(
    `the failover card to say ${word}`,
    () => world.cards().find((m) => /^DR failover for /.test(m.text) && word.test(m.text)),
    timeoutMs,
  );
const drLock = (world: World) => world.redis.get(`${world.prefix}:lock:dr`);
const activeSite = async (world: World) =>
  (await world.redis.hgetall(`${world.prefix}:state:active-site`)).site;

describe("red-team regressions", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("P1: a replication deletion that takes longer than the writable timeout is progress, not a failure; volume requests wait until the failover is done", async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.failover = { writableTimeout: "1s" }),
    });
    const w = world;
    await w.start();
    await w.seedVolumes(1);
    // Real EFS takes minutes; here the deletion goes on until the test ends it.
    w.efs.setDeletionBehaviour({ never: true });
    const { card, id } = await requestFailover(w);
    await w.click(USERS.approver1, APPROVE, id, card.ts);
    await w.click(USERS.approver2, APPROVE, id, card.ts);
    await w.until(
      "the deletion request",
      () => w.efs.callsTo("DeleteReplicationConfiguration").length === 1 || undefined,
    );
    // Meanwhile no new volume lands on a file system nobody replicates.
    expect(await w.answer(await w.slash("create bu=sales app=late ns=late pvc=data size=1"))).toMatch(
      /a DR operation \(dr-[0-9a-f]{8}\) is in progress/,
    );
    // The card shows the deletion still under way past the writable timeout (1 s): progress.
    await w.until("the deletion to outlast the writable timeout", () =>
      w.cards().find((m) => {
        const seconds = /replication DELETING, (\d+(?:\.\d)?)s so far/.exec(JSON.stringify(m.blocks))?.[1];
        return seconds !== undefined && Number(seconds) >= 1;
      }),
    );
    w.efs.setDeletionBehaviour({ afterDescribes: 1 });
    const done = await failoverCard(w, /succeeded|failed/, 30_000);
    expect(done.text).toMatch(/: succeeded in/);
    expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(1);
    expect(await drLock(w)).toBeNull();
    expect(await activeSite(w)).toBe("secondary");
    // Git records the active site too.
    expect(await w.github.readFile("dr/state.yaml")).toMatch(/activeSite: secondary/);
    // Now volumes go to the active (secondary) site.
    await w.answer(await w.slash("create bu=sales app=late ns=late pvc=data size=1"));
    await w.until("the late volume", () =>
      w.cards().find((m) => /sales\.late\.late\.data.*succeeded/.test(m.text)),
    );
    expect(w.kube.secondary.object("PersistentVolume", "sales.late.late.data")).toBeDefined();
    expect(w.kube.primary.object("PersistentVolume", "sales.late.late.data")).toBeUndefined();
  }, 90_000);

  it("P11: GitHub refusing the commit halts the failover past its point of no return; the lock holds, volume requests are refused with why, and resume finishes it", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.seedVolumes(2);
    w.github.http.injectFault({
      method: "PATCH",
      path: /\/git\/refs\//,
      reply: {
        status: 403,
        body: {
          message: "Resource not accessible by integration",
          documentation_url: "https://docs.github.com",
        },
      },
    });
    const { card, id } = await requestFailover(w);
    await w.click(USERS.approver1, APPROVE, id, card.ts);
    await w.click(USERS.approver2, APPROVE, id, card.ts);
    const halted = await failoverCard(w, /failed/, 60_000);
    expect(halted.text).toMatch(/failed — incomplete, waiting to be resumed: Record the manifests/);
    expect(JSON.stringify(halted.blocks)).toContain(`/dr failover resume ${id}`);
    expect(await drLock(w)).toBe(id);
    expect(await activeSite(w)).not.toBe("secondary");
    expect(w.kube.secondary.objects("PersistentVolume")).toHaveLength(2);
    const status = await w.answer(await w.slash("status", USERS.stranger, "/dr"));
    expect(status).toMatch(
      /FAILOVER INCOMPLETE\*: replication deleted, 2\/2 volumes applied, Git not recorded/,
    );
    expect(await w.answer(await w.slash("create bu=sales app=after ns=after pvc=data size=1"))).toMatch(
      /INCOMPLETE .* holds the DR lock until an approver resumes it/,
    );
    expect(w.kube.primary.object("PersistentVolume", "sales.after.after.data")).toBeUndefined();

    // Someone who did not approve cannot resume on their own; an approver of the request can.
    expect(await w.answer(await w.slash(`failover resume ${id}`, USERS.stranger, "/dr"))).toMatch(
      /Only an approver of/,
    );
    w.github.http.clearFaults();
    expect(await w.answer(await w.slash(`failover resume ${id}`, USERS.approver1, "/dr"))).toMatch(
      /Resuming `dr-/,
    );
    await failoverCard(w, /succeeded/, 60_000);
    expect(await drLock(w)).toBeNull();
    expect(await activeSite(w)).toBe("secondary");
    expect(await w.github.listFiles("PV-PVCs/secondary")).toHaveLength(2);
    // Nothing ran twice: each PV was applied once, replication deleted once.
    for (const pv of w.kube.secondary.objects("PersistentVolume"))
      expect(w.kube.secondary.applyCount("PersistentVolume", pv.metadata.name)).toBe(1);
    expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(1);
    // The whole story is in the audit trail, for approvers only.
    expect(await w.answer(await w.slash(`audit ${id}`, USERS.requester, "/dr"))).toMatch(/for approvers/);
    const trail = await w.answer(await w.slash(`audit ${id}`, USERS.approver1, "/dr"));
    const events = [...trail.matchAll(/\*([a-z.-]+)\*/g)].map((m) => m[1]);
    expect(events).toEqual(
      expect.arrayContaining([
        "request",
        "approval.requested",
        "approval.recorded",
        "approval.approved",
        "operation.halted",
        "resume.requested",
        "outcome.succeeded",
      ]),
    );
    expect(events.indexOf("resume.requested")).toBeLessThan(events.indexOf("outcome.succeeded"));
  }, 120_000);

  it("P2: a manifest edited in Git is listed as differing, with its fields, and never applied; its values cannot inject markup", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    const config = loadConfig(w.env.DRBOT_CONFIG as string);
    const ids: any[] = [0, 1, 2].map((i) => ({
      businessUnit: "sales",
      application: "app",
      namespace: `ns-${i}`,
      pvcName: `data-${i}`,
    }));
    const files: Record<string, string> = {};
    const tampered = parseManifests(renderVolume(config, "primary", ids[0], 1));
    const pv = tampered.find((o) => o.kind === "PersistentVolume") as any;
    const pvc = tampered.find((o) => o.kind === "PersistentVolumeClaim") as any;
    pv.spec.nfs.path = "/";
    pvc.metadata.namespace = "ns-1";
    pvc.metadata.name = "stolen";
    pv.spec.claimRef = { ...pv.spec.claimRef, namespace: "ns-1", name: "stolen" };
    files[volumeGitPath(config, "primary", ids[0])] = serializeManifests(tampered);
    files[volumeGitPath(config, "primary", ids[1])] = renderVolume(config, "primary", ids[1], 1);
    const hostile = parseManifests(renderVolume(config, "primary", ids[2], 1));
    (hostile.find((o) => o.kind === "PersistentVolume") as any).spec.nfs.server =
      "x <!channel> <https://evil.example/approve|Plan verified by SRE: safe, approve now>\n*Replication* replicating; last completed 0s ago — *nothing will be lost.*";
    files[volumeGitPath(config, "primary", ids[2])] = serializeManifests(hostile);
    w.github.commitFiles(files, "edit manifests");

    const { card, id } = await requestFailover(w);
    const blocks = JSON.stringify(card.blocks);
    expect(blocks).toContain("*Move* 1 volume from");
    expect(blocks).toMatch(/2 differ from what drbot recorded\* and will NOT be applied/);
    expect(blocks).toMatch(
      /PV spec.nfs.path is \\"\/\\" \(drbot wrote \\"\/k8s-static-volumes\/sales\/app\/ns-0\/data-0\\"\)/,
    );
    expect(blocks).not.toContain("<!channel>");
    expect(blocks).not.toContain("<https://evil.example");
    const lines = (card.blocks as any[]).flatMap((b) => String(b.text?.text ?? "").split("\n"));
    expect(lines.some((l) => l.startsWith("*Replication* replicating; last completed 0s"))).toBe(false);
    expect(blocks).toContain("&lt;!channel&gt;");
    await w.click(USERS.approver1, APPROVE, id, card.ts);
    await w.click(USERS.approver2, APPROVE, id, card.ts);
    await failoverCard(w, /succeeded/);
    expect(w.kube.secondary.object("PersistentVolume", "sales.app.ns-1.data-1")).toBeDefined();
    expect(w.kube.secondary.object("PersistentVolume", "sales.app.ns-0.data-0")).toBeUndefined();
    expect(w.kube.secondary.object("PersistentVolumeClaim", "stolen", "ns-1")).toBeUndefined();
    expect(await w.github.listFiles("PV-PVCs/secondary")).toHaveLength(1);
  }, 90_000);

  it("P3: unknown subcommands are counted as `unknown`: /metrics stays bounded", async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    for (let i = 0; i < 60; i++) {
      const r = await world.slash(`zz${i}${"x".repeat(200)}`, USERS.stranger, i % 2 ? "/dr" : "/volume");
      expect(r.status).toBe(200);
    }
    const text = await (await fetch(`${world.service.url}/metrics`)).text();
    const series = text.split("\n").filter((l) => l.startsWith("drbot_commands_total{"));
    expect(series.length).toBeLessThanOrEqual(4);
    expect(text).toContain('command="/dr unknown"');
    expect(text).toContain('command="/volume unknown"');
  }, 60_000);

  it("P4: a second failover when the secondary is already active and unprotected is refused, changing nothing", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.seedVolumes(2);
    const first = await requestFailover(w);
    await w.click(USERS.approver1, APPROVE, first.id, first.card.ts);
    await w.click(USERS.approver2, APPROVE, first.id, first.card.ts);
    await failoverCard(w, /succeeded/);
    const cards = w.cards().length;
    const again = await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    expect(again).toMatch(/nothing replicates from it .* Run `\/dr reprotect` first/);
    expect(w.cards().length).toBe(cards);
    expect(w.kube.secondary.applyCount("PersistentVolume", "sales.app.ns-0.data-0")).toBe(1);
    const status = await w.answer(await w.slash("status", USERS.stranger, "/dr"));
    expect(status).toMatch(/\*UNPROTECTED\*: fs-0bbb2222 has no replication/);
  }, 90_000);

  it("P5: echoed input is escaped for mrkdwn", async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    const answers = [
      await world.answer(await world.slash("<!channel>", USERS.stranger, "/dr")),
      await world.answer(await world.slash("failover <https://evil.example|click>", USERS.incident, "/dr")),
      await world.answer(await world.slash("create bu=<https://evil.example|x> app=a ns=n pvc=p size=1")),
      await world.answer(await world.slash("<!here> <@U0APR1>", USERS.stranger, "/volume")),
    ];
    for (const a of answers) {
      expect(a).not.toMatch(/<!channel>|<!here>|<https:\/\/evil/);
    }
    expect(answers[0]).toContain("&lt;!channel&gt;");
    expect(answers[2]).toContain("&lt;https://evil.example|x&gt;");
  }, 60_000);

  it("P6: one DR operation at a time, whatever Slack's latency", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.seedVolumes(1);
    // Posting the first card hangs until the second request has been answered: longer than any
    // admission lock would last.
    let answerSlack = () => {};
    w.slack.http.injectFault({
      path: "/api/chat.postMessage",
      holdUntil: new Promise<void>((resolve) => (answerSlack = resolve)),
      reply: { status: 500, headers: { "content-type": "text/html" }, body: "<html>slow</html>" },
      times: 1,
    });
    const first = w.slash("failover", USERS.incident, "/dr");
    await w.until(
      "the reservation",
      async () => (await w.redis.get(`${w.prefix}:dr:reservation`)) ?? undefined,
    );
    const second = await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    expect(second).toMatch(
      /A DR operation is being requested at this very moment \(request `dr-[0-9a-f]{8}`\)/,
    );
    expect(w.slack.messages(CHANNEL)).toHaveLength(0);
    answerSlack();
    expect(await w.answer(await first)).toMatch(/^Failover requested as `dr-/);
    await w.approvalCard();
    expect(await w.answer(await w.slash("failover", USERS.incident, "/dr"))).toMatch(
      /A failover is already under way or awaiting approval \(request `dr-[0-9a-f]{8}`/,
    );
    const jobs = await w.redis.keys(`${w.prefix}:dr-failover:dr-failover.*`);
    expect(jobs.filter((k) => !/:(lock|logs)$/.test(k))).toHaveLength(1);
  }, 60_000);

  it("P7: a kubeconfig with a YAML slip never shows its token, anywhere", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    const cfg = loadConfig(w.env.DRBOT_CONFIG as string);
    const tokens: string[] = [];
    for (const file of [
      cfg.sites.primary.cluster.kubeconfig,
      cfg.sites.secondary.cluster.kubeconfig,
    ] as string[]) {
      const text = await readFile(file, "utf8");
      tokens.push(/token: ([^\n]*)/.exec(text)?.[1] as string);
      await writeFile(file, text.replace(/(\n(\s*)token: [^\n]*)/, "$1\n$2 oops: ["));
    }
    await w.start();
    const answers = [
      await w.answer(await w.slash("create bu=sales app=a ns=n pvc=p size=1")),
      await w.answer(await w.slash("status", USERS.stranger, "/dr")),
    ];
    await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    const card = await failoverCard(w, /failed/);
    expect(JSON.stringify(card.blocks)).toMatch(/not valid YAML at line \d+/);
    const everything = [
      ...answers,
      JSON.stringify(w.slack.messages()),
      JSON.stringify(w.slack.responses),
      w.logs.join(""),
      JSON.stringify(await w.redis.keys(`${w.prefix}:*`)),
      ...(await Promise.all(
        (
          await w.redis.keys(`${w.prefix}:dr-failover:*`)
        ).map(async (k) =>
          (await w.redis.type(k)) === "hash" ? JSON.stringify(await w.redis.hgetall(k)) : "",
        ),
      )),
    ].join("\n");
    for (const token of tokens) {
      expect(token.length).toBeGreaterThan(8);
      expect(everything).not.toContain(token);
    }
  }, 60_000);

  it("P8: an approver removed from the approvers' group right after clicking no longer counts", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.seedVolumes(1);
    const { card, id } = await requestFailover(w);
    expect(await w.click(USERS.sre, APPROVE, id, card.ts)).toMatch(/recorded/);
    w.slack.setUsergroup("S0SRE", []); // off-boarded
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/completed/);
    const done = await failoverCard(w, /failed|cancelled|succeeded/);
    expect(done.text).toMatch(/failed/);
    expect(JSON.stringify(done.blocks)).toMatch(/<@U0SRE1> approved but is no longer an eligible approver/);
    expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    expect(await drLock(w)).toBeNull();
  }, 90_000);

  it("P9: approve and deny racing end in one consistent outcome", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.seedVolumes(1);
    const { card, id } = await requestFailover(w);
    await w.click(USERS.approver1, APPROVE, id, card.ts);
    await Promise.all(
      [
        [USERS.approver2, APPROVE],
        [USERS.sre, DENY],
      ].map(([user, action]) =>
        w.slack.sendInteraction(w.receiverUrl, {
          type: "block_actions",
          user_id: user as string,
          channel_id: CHANNEL,
          message_ts: card.ts,
          actions: [{ action_id: action as string, value: id, type: "button" }],
        }),
      ),
    );
    const done = await failoverCard(w, /succeeded|failed|cancelled/);
    const record = await w.approvalsOf(id);
    if (record?.state === "approved") {
      expect(done.text).toMatch(/succeeded/);
      expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(1);
    } else {
      expect(record?.state).toBe("denied");
      expect(done.text).toMatch(/cancelled/);
      expect(w.efs.callsTo("DeleteReplicationConfiguration")).toHaveLength(0);
    }
  }, 90_000);

  it("P10: a volume request retrying against a failing primary is cancelled when the failover takes the lock; the failover goes on at once", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start("serve", { timing: { pollMs: 20, bindTimeoutMs: 5_000 } });
    await w.seedVolumes(1);
    w.kube.primary.injectFault({
      method: "PATCH",
      reply: {
        status: 503,
        body: {
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: "unavailable",
          reason: "ServiceUnavailable",
          code: 503,
        },
      },
    });
    await w.answer(await w.slash("create bu=sales app=x ns=x pvc=x size=1"));
    await w.until("the volume request to retry", () =>
      w.cards().find((m) => /sales\.x\.x\.x/.test(m.text) && /retrying/.test(JSON.stringify(m.blocks))),
    );
    const { card, id } = await requestFailover(w);
    await w.click(USERS.approver1, APPROVE, id, card.ts);
    await w.click(USERS.approver2, APPROVE, id, card.ts);
    const done = await failoverCard(w, /succeeded|failed/, 60_000);
    expect(done.text).toMatch(/succeeded/);
    const volume = await w.until("the volume request's end", () =>
      w.cards().find((m) => /sales\.x\.x\.x.*(cancelled|failed|succeeded)/.test(m.text)),
    );
    expect(volume.text).toMatch(
      /cancelled in .*: a DR operation \(dr-[0-9a-f]{8}, failover\) started before this request applied anything/,
    );
  }, 120_000);

  it("P12: tenants own their namespaces", async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => {
        c.volumes.tenants.ops = { requesters: { users: ["U0OPS1"] } };
        c.volumes.tenants.shop = { requesters: { users: ["U0SHOP1"] }, namespaces: ["shop-*", "storefront"] };
      },
    });
    const w = world;
    await w.start();
    for (const ns of ["default", "istio-system", "kube-public", "openshift-ingress", "openshiftx"]) {
      expect(await w.answer(await w.slash(`create bu=sales app=x ns=${ns} pvc=db size=1`))).toMatch(
        /reserved for the platform/,
      );
    }
    expect(
      await w.answer(await w.slash("create bu=shop app=x ns=payments-prod pvc=db size=1", "U0SHOP1")),
    ).toMatch(/not one of business unit shop's namespaces \(shop-\*, storefront\)/);
    await w.answer(await w.slash("create bu=sales app=x ns=payments-prod pvc=db size=1"));
    await w.until("the sales volume", () =>
      w.cards().find((m) => /sales\.x\.payments-prod\.db.*succeeded/.test(m.text)),
    );
    expect(w.kube.primary.object("Namespace", "payments-prod")?.metadata.labels?.["drbot.io/tenant"]).toBe(
      "sales",
    );
    expect(
      await w.answer(await w.slash("create bu=ops app=y ns=payments-prod pvc=db2 size=1", "U0OPS1")),
    ).toMatch(/belongs to business unit sales/);
    expect(w.kube.primary.object("PersistentVolumeClaim", "db2", "payments-prod")).toBeUndefined();
  }, 60_000);

  it("P13: /volume list shows a tenant's requesters only their tenants' volumes; approvers see all; others none", async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.volumes.tenants.ops = { requesters: { users: ["U0OPS1"] } }),
    });
    const w = world;
    await w.start();
    await w.seedVolumes(2);
    await w.seedVolumes(1, "infra");
    const config = loadConfig(w.env.DRBOT_CONFIG as string);
    w.github.commitFiles(
      {
        [volumeGitPath(config, "primary", {
          businessUnit: "ops",
          application: "mon",
          namespace: "mon",
          pvcName: "db",
        } as never)]: renderVolume(
          config,
          "primary",
          { businessUnit: "ops", application: "mon", namespace: "mon", pvcName: "db" } as never,
          1,
        ),
      },
      "ops volume",
    );
    expect(await w.answer(await w.slash("list", USERS.stranger))).toMatch(/you are not a requester of any/);
    const sales = await w.answer(await w.slash("list", USERS.requester));
    expect(sales).toMatch(/3 volumes on the primary site\* \(you see sales\)/);
    expect(sales).not.toContain("ops.mon");
    expect(await w.answer(await w.slash("list bu=ops", USERS.requester))).toMatch(
      /may not list the volumes of business unit ops/,
    );
    expect(await w.answer(await w.slash("list", USERS.approver1))).toMatch(/4 volumes on the primary site/);
  }, 60_000);

  it("P14: the dashboard refuses every mutation even with the password; paths around it need auth", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    Object.assign(w.env, {
      DRBOT_DASHBOARD_PATH: "/admin/queues",
      DRBOT_DASHBOARD_USER: "ops",
      DRBOT_DASHBOARD_PASSWORD: "correct-horse-battery",
    });
    await w.start();
    await w.seedVolumes(1);
    const { id } = await requestFailover(w);
    const base = `${w.service.url}/admin/queues`;
    const auth = {
      authorization: `Basic ${btoa("ops:correct-horse-battery")}`,
      "content-type": "application/json",
    };
    const job = `dr-failover.${id}`;
    // Settled: the record knows where its card is, and the job waits for the approval (parked).
    await w.until("the request to settle", async () => {
      const record = JSON.parse((await w.redis.get(`${w.prefix}:approval:${id}`)) ?? "{}");
      const data = JSON.parse((await w.redis.hget(`${w.prefix}:dr-failover:${job}`, "data")) ?? "{}");
      return record.ts && data.steps?.approval?.status === "waiting" ? true : undefined;
    });
    const before = await w.redis.get(`${w.prefix}:approval:${id}`);
    const dataBefore = await w.redis.hget(`${w.prefix}:dr-failover:${job}`, "data");
    const tries: Array<[string, string, unknown?]> = [
      [
        "PATCH",
        `/api/queues/dr-failover/${job}/update-data`,
        { jobData: { steps: { approval: { status: "done" } } } },
      ],
      ["PUT", `/api/queues/dr-failover/${job}/promote`],
      ["PUT", `/api/queues/dr-failover/${job}/retry`],
      ["PUT", `/api/queues/dr-failover/${job}/clean`],
      ["POST", "/api/queues/dr-failover/add", { name: "dr-failover", data: {} }],
      ["PUT", "/api/queues/dr-failover/promote"],
      ["PUT", "/api/queues/dr-failover/retry/failed"],
      ["PUT", "/api/queues/dr-failover/pause"],
      ["PUT", "/api/queues/pause"],
      ["PUT", "/api/queues/dr-failover/empty"],
      ["PUT", "/api/queues/dr-failover/obliterate"],
      ["PATCH", `/api/queues/dr-failover/${job}/delay`, { delay: 1, runAt: Date.now() + 1 }],
    ];
    for (const [method, path, body] of tries) {
      const r = await fetch(base + path, {
        method,
        headers: auth,
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
    }
    expect(await w.redis.get(`${w.prefix}:approval:${id}`)).toBe(before);
    expect(await w.redis.hget(`${w.prefix}:dr-failover:${job}`, "data")).toBe(dataBefore);
    expect(await w.redis.exists(`${w.prefix}:dr-failover:meta-paused`)).toBe(0);
    for (const p of ["/admin/queues/api/queues", "/admin/queues/", "/admin/queues%2Fapi/queues"]) {
      expect((await fetch(w.service.url + p)).status, p).toBeGreaterThanOrEqual(401);
    }
    expect((await fetch(`${base}/api/queues`)).status).toBe(401);
  }, 60_000);
});
