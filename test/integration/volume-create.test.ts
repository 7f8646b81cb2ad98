import { chmod, chown, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { parseManifests } from "../../src/core/manifests.ts";
import { jobIdFor } from "../../src/jobs/queues.ts";
import { CHANNEL, createWorld, USERS, type World } from "../support/world.ts";

const GIT_PATH = "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml";
const PV = "sales.shipping.shipping-dev.data";

describe("/volume create, end to end", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
  });
  afterEach(async () => {
    await world?.close();
  });

  it("creates exactly the directory, objects and Git file of the contract, and says so in the channel", async () => {
    const res = await world.slash("create bu=sales app=shipping ns=shipping-dev pvc=data size=10Gi");
    // Acknowledged within Slack's 3 s (the stand-in drops a later answer, as Slack does).
    expect(res.timedOut).toBe(false);
    expect(res.status).toBe(200);

    const card = await world.until("the card to say succeeded", () =>
      world.cards().find((m) => /succeeded/.test(m.text)),
    );
    expect(card.text).toContain(`Volume ${PV} (10Gi) for <@${USERS.requester}>: succeeded`);

    // EFS directory with the configured mode.
    const dir = join(world.mounts.primary, "k8s-static-volumes/sales/shipping/shipping-dev/data");
    expect(((await stat(dir)).mode & 0o7777).toString(8)).toBe("770");

    // PV and PVC on the primary cluster, bound both ways.
    const pv = world.kube.primary.object("PersistentVolume", PV);
    const pvc = world.kube.primary.object("PersistentVolumeClaim", "data", "shipping-dev");
    expect(pv?.spec).toMatchObject({
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: "",
      nfs: {
        server: "fs-0aaa1111.efs.us-east-1.amazonaws.com",
        path: "/k8s-static-volumes/sales/shipping/shipping-dev/data",
      },
      claimRef: { name: "data", namespace: "shipping-dev" },
    });
    expect(pvc?.spec).toMatchObject({ volumeName: PV, storageClassName: "" });
    expect(pvc?.status).toMatchObject({ phase: "Bound" });
    expect(world.kube.primary.object("Namespace", "shipping-dev")).toBeDefined();
    expect(world.kube.primary.objects("PersistentVolume")).toHaveLength(1);
    expect(world.kube.secondary.objects("PersistentVolume")).toHaveLength(0);

    // One commit with both documents at the contract path.
    const file = await world.github.readFile(GIT_PATH);
    expect(file).not.toBeNull();
    expect(parseManifests(file as string).map((o) => o.kind)).toEqual([
      "PersistentVolume",
      "PersistentVolumeClaim",
    ]);
    const commits = await world.github.commits();
    expect(commits).toHaveLength(2); // the initial commit and ours
    expect(commits[0]?.message).toMatch(
      new RegExp(`^Add volume ${PV.replaceAll(".", "\\.")} \\(10Gi\\) on primary`),
    );
    expect(commits[0]?.message).toContain(
      `Requested-by: ${USERS.requester.toLowerCase()} (${USERS.requester})`,
    );

    // One status card, a thread reply per step, and the final summary.
    expect(world.cards()).toHaveLength(1);
    const replies = world.slack.replies(CHANNEL, card.ts);
    expect(replies.map((r) => r.text.replace(/^:[a-z_]+: /, "").split(" ")[0])).toEqual([
      "1.",
      "2.",
      "3.",
      "4.",
      "5.",
      "6.",
      "7.",
    ]);
    expect(JSON.stringify(card.blocks)).toContain("pv-pvc_data.yaml");
    // Slack Web API calls for one job: the card, its updates (coalesced), a reply per step. The
    // job completes in BullMQ only once its final card is delivered: count after that.
    const job = await world.queue("volume-create").getJob(jobIdFor("volume-create", PV));
    await world.until("the job to complete", async () =>
      (await job?.getState()) === "completed" ? true : undefined,
    );
    const calls = world.slack.http.requests.filter((r) => r.path.startsWith("/api/chat."));
    const posts = calls.filter((r) => r.path === "/api/chat.postMessage").length;
    const updates = calls.filter((r) => r.path === "/api/chat.update").length;
    expect(posts).toBe(8);
    expect(updates).toBeLessThanOrEqual(8);
  });
});

describe("/volume create: the directory's owner and mode", () => {
  let world: World;
  afterEach(async () => {
    await world?.close();
  });

  it("gives the levels it creates the configured owner and mode, and leaves existing ones as they are", async () => {
    // An owner other than the process's: tests run as root, whose own directories would pass anyway.
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.volumes.directory = { mode: "0750", uid: 4242, gid: 4243 }),
    });
    await world.start();
    const root = join(world.mounts.primary, "k8s-static-volumes");
    await mkdir(join(root, "sales"), { recursive: true });
    await chmod(join(root, "sales"), 0o755);
    await chown(join(root, "sales"), 1001, 1002);
    const owner = async (path: string) => {
      const s = await stat(join(root, path));
      return `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid}`;
    };
    const before = { root: await owner(""), sales: await owner("sales") };

    await world.answer(await world.slash("create bu=sales app=shipping ns=shipping-dev pvc=data size=1"));
    const card = await world.until("the card to end", () =>
      world.cards().find((m) => /succeeded|failed/.test(m.text)),
    );
    expect(card.text).toMatch(/succeeded/);

    expect({ root: await owner(""), sales: await owner("sales") }).toEqual(before);
    expect(before.sales).toBe("755 1001:1002");
    for (const level of ["sales/shipping", "sales/shipping/shipping-dev", "sales/shipping/shipping-dev/data"])
      expect(`${level}: ${await owner(level)}`).toBe(`${level}: 750 4242:4243`);
  });
});

describe("/volume create under concurrency", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
  });
  afterEach(async () => {
    await world?.close();
  });

  it("turns a double submit into one job, one card and one commit", async () => {
    const text = "create bu=sales app=shipping ns=shipping-dev pvc=data size=10Gi";
    const [a, b, c] = await Promise.all([
      world.slash(text),
      world.slash(text),
      world.slash(text, USERS.groupRequester),
    ]);
    const answers = await Promise.all([a, b, c].map((r) => world.answer(r)));
    expect(answers.filter((t) => t.startsWith("Accepted"))).toHaveLength(1);
    for (const refused of answers.filter((t) => !t.startsWith("Accepted"))) {
      expect(refused).toMatch(/being requested right now|already being created/);
    }
    await world.until("success", () => world.cards().find((m) => /succeeded/.test(m.text)));
    expect(world.cards()).toHaveLength(1);
    expect(await world.github.commits()).toHaveLength(2);
    expect(world.kube.primary.applyCount("PersistentVolume", PV)).toBe(1);
  });

  it("refuses a request for a volume that now exists", async () => {
    const text = "create bu=sales app=shipping ns=shipping-dev pvc=data size=10Gi";
    await world.answer(await world.slash(text));
    await world.until("success", () => world.cards().find((m) => /succeeded/.test(m.text)));
    const again = await world.answer(await world.slash(text));
    expect(again).toMatch(`Volume ${PV} was not requested: it is already recorded in Git at ${GIT_PATH}`);
    expect(world.cards()).toHaveLength(1);
    expect(await world.github.commits()).toHaveLength(2);
  });

  it("creates 10 different volumes in parallel without losing or duplicating anything", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `vol-${i}`);
    const answers = await Promise.all(
      names.map(async (pvc, i) =>
        world.answer(
          await world.slash(`create bu=sales app=app${i % 3} ns=ns-${i % 4} pvc=${pvc} size=${i + 1}`),
        ),
      ),
    );
    expect(answers.every((a) => a.startsWith("Accepted"))).toBe(true);
    await world.until(
      "ten successes",
      () => world.cards().filter((m) => /succeeded/.test(m.text)).length === 10 || undefined,
      30_000,
    );
    const commits = await world.github.commits();
    expect(commits).toHaveLength(11);
    const files = await world.github.listFiles("PV-PVCs/primary");
    expect(files).toHaveLength(10);
    expect(world.kube.primary.objects("PersistentVolume")).toHaveLength(10);
    for (const pv of world.kube.primary.objects("PersistentVolume")) {
      expect(world.kube.primary.applyCount("PersistentVolume", pv.metadata.name)).toBe(1);
    }
    expect(await world.github.fsck()).toBeDefined();
  });

  it("fails with the step, the reason and what to check when the claim never binds, recording nothing", async () => {
    world.kube.primary.holdBinding("data");
    await world.answer(await world.slash("create bu=sales app=shipping ns=shipping-dev pvc=data size=10Gi"));
    const card = await world.until(
      "failure",
      () => world.cards().find((m) => /: failed/.test(m.text)),
      20_000,
    );
    expect(card.text).toMatch(
      /Wait until the PVC is Bound failed: PVC shipping-dev\/data is still Pending after/,
    );
    expect(JSON.stringify(card.blocks)).toMatch(/kubectl describe pvc -n shipping-dev data/);
    expect(await world.github.commits()).toHaveLength(1);
  });
});

describe("/volume create from the form, /volume list, and Slack trouble", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
  });
  afterEach(async () => {
    await world?.close();
  });

  const submit = (viewId: string, values: Record<string, string>, user = USERS.requester) =>
    world.slack.sendInteraction(world.receiverUrl, {
      type: "view_submission",
      user_id: user,
      view_id: viewId,
      values: Object.fromEntries(
        Object.entries(values).map(([block, value]) => [
          block,
          {
            value:
              block === "business_unit"
                ? { type: "static_select", selected_option: { value } }
                : { type: "plain_text_input", value },
          },
        ]),
      ),
    });

  it("opens a form, shows input errors beside the fields, and creates the volume on a good submission", async () => {
    const res = await world.slash("create");
    expect(res.status).toBe(200);
    const view = await world.until("the form", () => world.slack.views[0]);
    expect(JSON.stringify(view)).toContain("Request a volume");

    const bad = await submit(view.id, {
      business_unit: "sales",
      application: "Shipping",
      namespace: "kube-system",
      pvc_name: "data",
      pvc_size: "0",
    });
    expect(bad.json).toMatchObject({
      response_action: "errors",
      errors: {
        application: expect.stringMatching(/capital letters/),
        namespace: expect.stringMatching(/reserved/),
        pvc_size: expect.stringMatching(/at least 1 GiB/),
      },
    });
    const good = await submit(view.id, {
      business_unit: "sales",
      application: "shipping",
      namespace: "form",
      pvc_name: "data",
      pvc_size: "3",
    });
    expect(good.status).toBe(200);
    await world.until("success", () =>
      world.cards().find((m) => /sales\.shipping\.form\.data \(3Gi\).*succeeded/.test(m.text)),
    );
    const told = await world.until("the ephemeral acceptance", () =>
      world.slack.ephemerals.find((e) => /^Accepted: volume sales\.shipping\.form\.data/.test(e.text)),
    );
    expect(told.user).toBe(USERS.requester);
  });

  it("lists the volumes recorded in Git, filtered", async () => {
    for (const [app, pvc] of [
      ["shipping", "a"],
      ["shipping", "b"],
      ["billing", "c"],
    ]) {
      await world.answer(await world.slash(`create bu=sales app=${app} ns=dev pvc=${pvc} size=1`));
    }
    await world.until(
      "three volumes",
      () => world.cards().filter((m) => /succeeded/.test(m.text)).length === 3 || undefined,
    );
    const all = await world.answer(await world.slash("list"));
    expect(all).toMatch(/3 volumes on the primary site/);
    const filtered = await world.answer(await world.slash("list app=shipping"));
    expect(filtered).toMatch(/2 volumes on the primary site \(app=shipping\)/);
    expect(filtered).not.toContain("billing");
    expect(await world.answer(await world.slash("list colour=red"))).toMatch(/unknown key "colour"/);
  });

  it("finishes the job while Slack answers 429 and 500, and the card catches up", async () => {
    // Slack refuses every card until the test lets it through.
    world.slack.rateLimit("chat.update", { retryAfterSeconds: 1, forMs: 600_000 });
    world.slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, forMs: 600_000 });
    await world.answer(await world.slash("create bu=sales app=shipping ns=shipping-dev pvc=data size=10Gi"));
    // The work itself is not held up by Slack: the Git commit lands while Slack still refuses.
    await world.until("the commit", async () => ((await world.github.readFile(GIT_PATH)) ? true : undefined));
    const refused = world.slack.http.requests.filter((r) => r.path === "/api/chat.postMessage");
    expect(refused.length).toBeGreaterThan(0);
    expect(world.cards()).toHaveLength(0);
    // Slack answers again, with a few 500s first.
    world.slack.clearFaults();
    world.slack.serverError("chat.update", { status: 500, times: 3 });
    const card = await world.until(
      "the card to catch up",
      () => world.cards().find((m) => /succeeded/.test(m.text)),
      20_000,
    );
    expect(card.text).toContain("succeeded");
    expect(world.cards()).toHaveLength(1);
  });
});
