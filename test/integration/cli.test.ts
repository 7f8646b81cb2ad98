// The drbot executable, run as a user would: `config check`, `volume create --follow`, `dr status`,
// `dr unlock` and `audit`.

import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Approvals } from "../../src/core/approvals.ts";
import { AuditLog } from "../../src/core/audit.ts";
import type { JobEnvelope } from "../../src/core/steps.ts";
import { jobIdFor } from "../../src/jobs/queues.ts";
import { createVolume } from "../support/volumes.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

const BIN = new URL("../../bin/drbot.js", import.meta.url).pathname;

function drbot(world: World, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: {
        ...process.env,
        ...world.env,
        DRBOT_REDIS_PREFIX: world.prefix,
        DRBOT_GITHUB_PACE_WRITES: "false",
        ...env,
      },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

describe("drbot config check", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
  });
  afterAll(async () => {
    await world?.close();
  });

  it("reports every dependency reachable against the fakes", async () => {
    const { code, out } = await drbot(world, ["config", "check"]);
    const lines = out.trim().split("\n");
    for (const what of [
      "configuration",
      "redis",
      "cluster primary",
      "cluster secondary",
      "efs primary",
      "efs secondary",
      "git",
      "slack",
      "mount primary",
      "mount secondary",
    ]) {
      expect(
        lines.find((l) => l.slice(6).startsWith(what)),
        `${what} in\n${out}`,
      ).toMatch(/^ok /);
    }
    expect(out).toMatch(
      /redis\s+redis:\/\/127\.0\.0\.1:\d+: standalone master with 0 replicas; answered PONG/,
    );
    expect(out).toMatch(/cluster primary\s+rosa-primary: Kubernetes v1\.31\.2/);
    expect(out).toMatch(
      /efs primary\s+fs-0aaa1111 in us-east-1: available, 2 mount targets.*replicating to fs-0bbb2222 \(us-west-2\)/,
    );
    expect(out).toMatch(/git\s+acme\/dr-volumes@main \(head [0-9a-f]{7}\)/);
    expect(code).toBe(0);
  });

  it("fails, naming the dependency, when one is down", async () => {
    world.efs.setRegionDown("us-west-2", true);
    try {
      const { code, out } = await drbot(world, ["config", "check"]);
      expect(out).toMatch(/^FAIL\s+efs secondary\s+.*us-west-2/m);
      expect(out).toMatch(/^ok\s+efs primary/m);
      expect(code).toBe(1);
    } finally {
      world.efs.setRegionDown("us-west-2", false);
    }
  });

  it("names the field of a broken configuration and opens no connection", async () => {
    const broken = join(world.dir, "broken.yaml");
    await writeFile(broken, "sites:\n  primary: {}\n");
    const before = world.slack.http.requests.length + world.github.http.requests.length;
    const { code, out } = await drbot(world, ["config", "check"], { DRBOT_CONFIG: broken });
    expect(out).toMatch(/sites\.primary\.cluster: is required/);
    expect(out).toMatch(/sites\.secondary: is required/);
    expect(code).toBe(1);
    expect(world.slack.http.requests.length + world.github.http.requests.length).toBe(before);
  });

  it("refuses to start a service on a broken configuration, with the field in the message", async () => {
    const broken = join(world.dir, "broken-id.yaml");
    const text = (await import("node:fs/promises")).readFile(join(world.dir, "drbot.yaml"), "utf8");
    await writeFile(broken, (await text).replace("fs-0bbb2222", "fs-nope"));
    const { code, err } = await drbot(world, ["serve"], { DRBOT_CONFIG: broken });
    expect(err).toMatch(/sites\.secondary\.efs\.fileSystemId: expected fs-xxxxxxxx/);
    expect(code).toBe(1);
  });
});

describe("drbot volume create --follow", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start("worker");
  });
  afterAll(async () => {
    await world?.close();
  });

  it("prints each step and exits 0 when the volume is created", async () => {
    const { code, out } = await drbot(world, [
      "volume",
      "create",
      "--business-unit",
      "sales",
      "--application",
      "shipping",
      "--namespace",
      "ci",
      "--pvc",
      "data",
      "--size",
      "5Gi",
      "--follow",
    ]);
    expect(out).toMatch(/^queued sales\.shipping\.ci\.data as request vol-/m);
    expect(out).toMatch(/\[done\] 4\. Apply to the cluster/);
    expect(out).toMatch(/^succeeded$/m);
    expect(code).toBe(0);
    expect(
      await world.github.readFile("PV-PVCs/primary/sales/rosa-primary/shipping/ci/pv-pvc_data.yaml"),
    ).toContain("storage: 5Gi");
  });

  it("exits non-zero with the reason when the job fails, and 2 on bad input", async () => {
    world.kube.primary.holdBinding("stuck");
    const failed = await drbot(world, [
      "volume",
      "create",
      "--business-unit",
      "sales",
      "--application",
      "shipping",
      "--namespace",
      "ci",
      "--pvc",
      "stuck",
      "--size",
      "1",
      "--follow",
    ]);
    expect(failed.out).toMatch(
      /^failed: Wait until the PVC is Bound failed: PVC ci\/stuck is still Pending/m,
    );
    expect(failed.code).toBe(1);
    const bad = await drbot(world, [
      "volume",
      "create",
      "--business-unit",
      "sales",
      "--application",
      "Ship",
      "--namespace",
      "ci",
      "--pvc",
      "x",
      "--size",
      "1",
    ]);
    expect(bad.out).toMatch(/application "Ship" has capital letters/);
    expect(bad.code).toBe(2);
  });
});

describe("drbot volume resize and delete --follow", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    await createVolume(world, "data", 10);
  }, 60_000);
  afterAll(async () => {
    await world?.close();
  });
  const volume = [
    "--business-unit",
    "sales",
    "--application",
    "shipping",
    "--namespace",
    "shipping-dev",
    "--pvc",
    "data",
  ];

  it("resizes with each step printed, exit 0; refuses a shrink with exit 1 and bad input with 2", async () => {
    const { code, out } = await drbot(world, ["volume", "resize", ...volume, "--size", "12Gi", "--follow"]);
    expect(out).toMatch(/^queued the resize of sales\.shipping\.shipping-dev\.data to 12Gi as request vol-/m);
    expect(out).toMatch(/\[done\] 2\. Grow the PV/);
    expect(out).toMatch(/\[skipped\] 3\. Grow the PVC request/);
    expect(out).toMatch(/^succeeded$/m);
    expect(code).toBe(0);
    const shrink = await drbot(world, ["volume", "resize", ...volume, "--size", "5"]);
    expect(shrink.out).toMatch(/was not resized: it is 12Gi, and volumes only grow/);
    expect(shrink.code).toBe(1);
    const bad = await drbot(world, ["volume", "resize", ...volume, "--size", "1.5Gi"]);
    expect(bad.out).toMatch(/pvc_size: size "1\.5Gi" must be a whole number of GiB/);
    expect(bad.code).toBe(2);
  });

  it("queues a deletion, says where its approval card is, and with --follow waits for the approval and the steps", async () => {
    const running = drbot(world, ["volume", "delete", ...volume, "--channel", "C0DRBOT", "--follow"]);
    const card = await world.until("the approval card", () =>
      world.cards().find((m) => JSON.stringify(m.blocks ?? []).includes('"action_id":"approval_approve"')),
    );
    const id = /"value":"(vol-[0-9a-f]{8})"/.exec(JSON.stringify(card.blocks))?.[1] as string;
    // The CLI's user is the requester: an approver in Slack approves it.
    expect(card.text).toMatch(/requested by cli:/);
    await world.click(USERS.approver1, "approval_approve", id, card.ts);
    const { code, out } = await running;
    expect(out).toMatch(
      new RegExp(
        `^queued the deletion of sales\\.shipping\\.shipping-dev\\.data as request ${id} .*its approval card is in Slack channel C0DRBOT`,
        "m",
      ),
    );
    expect(out).toMatch(/from U0APR1, U0APR2 or members of S0SRE$/m);
    expect(out).toMatch(/\[done\] 2\. Approval done .*approved by U0APR1/);
    expect(out).toMatch(/\[done\] 6\. Move the directory into the trash/);
    expect(out).toMatch(/^succeeded$/m);
    expect(code).toBe(0);
    expect(world.kube.primary.object("PersistentVolume", "sales.shipping.shipping-dev.data")).toBeUndefined();
    const none = await drbot(world, ["volume", "delete", ...volume, "--channel", "C0DRBOT"]);
    expect(none.out).toMatch(/was not deleted: it is not recorded in Git for the primary site/);
    expect(none.code).toBe(1);
  }, 60_000);
});

describe("drbot dr status", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
  });
  afterAll(async () => {
    await world?.close();
  });

  it("prints the status as text and as JSON", async () => {
    const text = await drbot(world, ["dr", "status"]);
    expect(text.out).toMatch(/^Active site: primary \(rosa-primary\)/m);
    expect(text.out).toMatch(
      /^secondary file system: fs-0bbb2222 \(us-west-2\) available.*replica of fs-0aaa1111/m,
    );
    expect(text.code).toBe(0);
    const json = await drbot(world, ["dr", "status", "--json"]);
    const report = JSON.parse(json.out);
    expect(report.activeSite.site).toBe("primary");
    expect(report.fileSystems).toHaveLength(2);
    expect(report.volumes).toEqual({ primary: 0, secondary: 0 });
  });
});

describe("drbot dr unlock", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
  });
  afterAll(async () => {
    await world?.close();
  });

  it("releases a lock whose failover is gone, and only that one", async () => {
    const key = `${world.prefix}:lock:dr`;
    expect((await drbot(world, ["dr", "unlock", "dr-0000000a"])).out).toMatch(/No DR lock is held/);
    await world.redis.set(key, "dr-0000000b");
    const wrong = await drbot(world, ["dr", "unlock", "dr-0000000a"]);
    expect(wrong.out).toMatch(/held by dr-0000000b, not dr-0000000a/);
    expect(wrong.code).toBe(1);
    expect(await world.redis.get(key)).toBe("dr-0000000b");
    const ok = await drbot(world, ["dr", "unlock", "dr-0000000b"]);
    expect(ok.out).toMatch(/Released the DR lock of dr-0000000b \(its job is missing\)/);
    expect(ok.code).toBe(0);
    expect(await world.redis.get(key)).toBeNull();
    expect((await drbot(world, ["dr", "unlock", "nonsense"])).code).toBe(2);
  });
});

describe("drbot dr unlock while an operation holds the lock", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    await world.seedVolumes(2);
  });
  afterAll(async () => {
    await world?.close();
  });

  const lock = () => world.redis.get(`${world.prefix}:lock:dr`);
  const stepOf = async (kind: "dr-failover" | "dr-reprotect", id: string, step: string) =>
    ((await world.queue(kind).getJob(jobIdFor(kind, id)))?.data as JobEnvelope | undefined)?.steps[step]
      ?.status;
  const released = async (id: string) =>
    (await drbot(world, ["audit", "--request", id, "--json"])).out
      .trim()
      .split("\n")
      .filter((l) => l.includes("lock.released-by-operator"))
      .map((l) => JSON.parse(l));

  async function approved(text: string): Promise<string> {
    const answer = await world.answer(await world.slash(text, USERS.incident, "/dr"));
    const id = /`(dr-[0-9a-f]{8})`/.exec(answer)?.[1] as string;
    const card = await world.until("its approval card", () =>
      world.cards().find((m) => JSON.stringify(m.blocks ?? []).includes(`"value":"${id}"`)),
    );
    await world.click(USERS.approver1, "approval_approve", id, card.ts);
    await world.click(USERS.approver2, "approval_approve", id, card.ts);
    return id;
  }

  it("refuses while the failover runs and while it is halted past its point of no return; releases, audited, once it ended", async () => {
    // The standby stays read-only until told otherwise: the failover waits in wait-writable.
    world.efs.setDeletionBehaviour({ never: true });
    const id = await approved("failover");
    await world.until("the failover to wait for the standby", async () =>
      (await stepOf("dr-failover", id, "wait-writable")) === "running" ? true : undefined,
    );
    const running = await drbot(world, ["dr", "unlock", id], { USER: "oncall" });
    expect(running.code).toBe(1);
    expect(running.out).toMatch(
      new RegExp(`The failover ${id} is past its point of no return and not finished \\(active\\)`),
    );
    expect(await lock()).toBe(id);

    // GitHub refuses the commit for good: the failover halts, holding the lock.
    world.github.http.injectFault({
      method: "PATCH",
      path: /\/git\/refs\//,
      reply: { status: 403, body: { message: "Resource not accessible by integration" } },
    });
    world.efs.setDeletionBehaviour({ afterDescribes: 1 });
    await world.until("the failover to halt", () =>
      world.cards().find((m) => /^DR failover for .*failed — incomplete, waiting to be resumed/.test(m.text)),
    );
    const halted = await drbot(world, ["dr", "unlock", id], { USER: "oncall" });
    expect(halted.code).toBe(1);
    expect(halted.out).toMatch(/past its point of no return and not finished \(halted\)/);
    expect(halted.out).toContain(`/dr failover resume ${id}`);
    expect(await lock()).toBe(id);
    expect(await released(id)).toEqual([]);

    world.github.http.clearFaults();
    expect(await world.answer(await world.slash(`failover resume ${id}`, USERS.approver1, "/dr"))).toMatch(
      /Resuming/,
    );
    await world.until("the failover to succeed", () =>
      world.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
    );
    expect(await lock()).toBeNull();

    // A lock that outlived its (finished) operation is released, and the release is audited.
    await world.redis.set(`${world.prefix}:lock:dr`, id);
    const ok = await drbot(world, ["dr", "unlock", id], { USER: "oncall" });
    expect(ok.out).toMatch(`Released the DR lock of ${id} (its job is completed)`);
    expect(ok.code).toBe(0);
    expect(await lock()).toBeNull();
    const [entry, ...more] = await released(id);
    expect(more).toEqual([]);
    expect(entry).toMatchObject({
      event: "lock.released-by-operator",
      request: id,
      user: "cli:oncall",
      fields: { kind: "dr-failover", job: "completed" },
    });
  }, 90_000);

  it("refuses while a re-protect (not only a failover) holds the lock", async () => {
    // The new replication stays ENABLING: the re-protect waits in wait-enabled, holding the lock.
    world.efs.setEnablingMs(3_600_000);
    const id = await approved("reprotect");
    await world.until("the re-protect to wait for replication", async () =>
      (await stepOf("dr-reprotect", id, "wait-enabled")) === "running" ? true : undefined,
    );
    const refused = await drbot(world, ["dr", "unlock", id]);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(new RegExp(`The reprotect ${id} is past its point of no return`));
    expect(await lock()).toBe(id);
    expect(await released(id)).toEqual([]);
  }, 60_000);
});

describe("drbot audit", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
  });
  afterAll(async () => {
    await world?.close();
  });

  it("prints the trail oldest first, as lines or JSON, for a window or one request", async () => {
    const audit = new AuditLog(world.redis, world.prefix);
    const approvals = new Approvals(world.redis, world.prefix, audit);
    // Ten days ago, as Redis would have stamped it then.
    await world.redis.xadd(
      audit.key,
      `${Date.now() - 10 * 86_400_000}-0`,
      "event",
      "drill.succeeded",
      "user",
      "U0SRE1",
    );
    await approvals.create({
      id: "dr-0000000f",
      action: "failover",
      requester: "U0REQ1",
      digest: "abc123",
      plan: ["move 1 volume"],
      approversText: "<@U0APR1>",
      required: 2,
      createdAt: Date.now(),
      expiresAt: Date.now() + 60_000,
    });
    await approvals.transition("dr-0000000f", "deny", "U0APR1", Date.now(), "primary is back");
    await audit.record({
      event: "volume.created",
      request: "vol-00000001",
      user: "U0REQ2",
      detail: "sales/app",
    });
    await world.redis.set(`${world.prefix}:lock:dr`, "dr-0000000f");
    expect((await drbot(world, ["dr", "unlock", "dr-0000000f"], { USER: "oncall" })).code).toBe(0);

    const everything = await drbot(world, ["audit"]);
    expect(everything.code).toBe(0);
    const lines = everything.out.trim().split("\n");
    expect(lines.map((l) => l.split("  ")[1])).toEqual([
      "drill.succeeded",
      "approval.requested",
      "approval.denied",
      "volume.created",
      "lock.released-by-operator",
    ]);
    expect(lines[2]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {2}approval\.denied {2}dr-0000000f {2}U0APR1 {2}abc123 {2}action=failover state=denied reason="primary is back"$/,
    );
    expect(lines[4]).toMatch(/lock\.released-by-operator {2}dr-0000000f {2}cli:oncall {2}- {2}job=missing$/);

    const week = await drbot(world, ["audit", "--since", "7d"]);
    expect(week.out.trim().split("\n")).toHaveLength(4);
    expect(week.out).not.toContain("drill.succeeded");

    const one = await drbot(world, ["audit", "--request", "dr-0000000f", "--json"]);
    const objects = one.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(objects.map((o) => [o.event, o.request, o.user])).toEqual([
      ["approval.requested", "dr-0000000f", "U0REQ1"],
      ["approval.denied", "dr-0000000f", "U0APR1"],
      ["lock.released-by-operator", "dr-0000000f", "cli:oncall"],
    ]);
    expect(objects[1].fields).toEqual({ action: "failover", state: "denied", reason: "primary is back" });
    expect(new Date(objects[0].at).getTime()).toBeGreaterThan(Date.now() - 60_000);

    const none = await drbot(world, ["audit", "--request", "dr-nothing0"]);
    expect(none.out).toMatch(/^no audit entries for dr-nothing0 \(entries are kept 400d\)/);
    expect(none.code).toBe(0);
  });

  it("exits 2 on bad arguments, before connecting anywhere", async () => {
    // Every refusal is unit-tested (test/core/audit.test.ts); here the exit code and the usage.
    for (const args of [["--since", "yesterday"], ["--verbose"]]) {
      const run = await drbot(world, ["audit", ...args], { REDIS_URL: "redis://127.0.0.1:1" });
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.out).toContain("usage: drbot audit [--since 7d] [--request <id>] [--json]");
    }
  });
});
