// `/volume delete` end to end through signed Slack requests: one approval (never the
// requester's), then the PVC and the PV go, the directory moves into the trash with its content,
// both sites' Git files go in one commit, and the name can be requested again. Refusals (a pod
// mounting the claim, a DR operation holding the lock), denial, expiry, and a halt past the point
// of no return resumed by its requester.

import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, inject, it } from "vitest";
import { renderVolume } from "../../src/core/volumes.ts";
import type { PolicyRule } from "../../src/sandbox/stand-ins/kube-rbac.ts";
import { documentedClusterRole } from "../support/documented-rbac.ts";
import { APPROVE, createVolume, DENY, requestDelete } from "../support/volumes.ts";
import { createWorld, USERS, type World, type WorldOptions } from "../support/world.ts";

const ID = { businessUnit: "sales", application: "shipping", namespace: "shipping-dev", pvcName: "data" };
const VOLUME = "sales.shipping.shipping-dev.data";
const PRIMARY_GIT = "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml";
const SECONDARY_GIT = "PV-PVCs/secondary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml";
const DELETE = "delete bu=sales app=shipping ns=shipping-dev pvc=data";

const volumeDir = (world: World) =>
  join(world.mounts.primary, "k8s-static-volumes/sales/shipping/shipping-dev/data");
const trashDir = (world: World, id: string) =>
  join(world.mounts.primary, "k8s-static-volumes/.drbot-trash", id, "sales/shipping/shipping-dev/data");

const statusCard = (world: World, word: RegExp) =>
  world.until(
    `the deletion's card saying ${word}`,
    () =>
      world.cards().find((m) => m.text.startsWith(`Deletion of volume ${VOLUME} for `) && word.test(m.text)),
    30_000,
  );

async function started(options: WorldOptions = {}): Promise<World> {
  const world = await createWorld(inject("redisUrl"), options);
  await world.start();
  return world;
}

describe("/volume delete", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("moves the directory into the trash with its content, removes PV, PVC and both Git files in one commit, after one approval that is never the requester's", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    // What the tenant's pods wrote, and a copy of the manifest a failover left for the secondary.
    await mkdir(join(volumeDir(w), "db"), { recursive: true });
    await writeFile(join(volumeDir(w), "db", "rows.bin"), "x".repeat(5000));
    await writeFile(join(volumeDir(w), "hello.txt"), "hello\n");
    w.github.commitFiles(
      { [SECONDARY_GIT]: renderVolume(w.service.config, "secondary", ID as never, 10) },
      "copy",
    );
    const commitsBefore = (await w.github.commits()).length;

    const { id, card, answer } = await requestDelete(w, DELETE);
    expect(answer).toMatch(/An approval card follows in this channel: 1 approval from/);
    const plan = JSON.stringify(card.blocks);
    expect(plan).toContain(".drbot-trash/");
    expect(plan).toContain(id);
    expect(plan).toContain(PRIMARY_GIT);
    expect(plan).toContain(SECONDARY_GIT);
    expect(plan).toContain("Approve volume deletion");

    // The requester cannot approve their own deletion; a stranger is not an approver.
    expect(await w.click(USERS.requester, APPROVE, id, card.ts)).toMatch(
      /You asked for `vol-[0-9a-f]{8}`, so you cannot approve it/,
    );
    expect(await w.click(USERS.stranger, APPROVE, id, card.ts)).toMatch(/not an approver/);
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(volumeDir(w))).toBe(true);
    expect(w.kube.primary.object("PersistentVolume", VOLUME)).toBeDefined();

    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/completed/);
    const done = await statusCard(w, /succeeded/);
    expect(done.text).toContain(`Deletion of volume ${VOLUME} for <@${USERS.requester}>: succeeded`);

    // The data is all there, in the trash entry of this request.
    expect(existsSync(volumeDir(w))).toBe(false);
    expect(await readFile(join(trashDir(w, id), "hello.txt"), "utf8")).toBe("hello\n");
    expect((await readFile(join(trashDir(w, id), "db", "rows.bin"), "utf8")).length).toBe(5000);
    const entry = JSON.parse(
      await readFile(
        join(w.mounts.primary, "k8s-static-volumes/.drbot-trash", id, ".drbot-entry.json"),
        "utf8",
      ),
    );
    expect(entry).toMatchObject({
      requestId: id,
      volume: VOLUME,
      site: "primary",
      requester: USERS.requester,
    });
    expect(Math.abs(entry.movedAt - Date.now())).toBeLessThan(60_000);

    // Kubernetes objects gone (the protection finalizers had their say), Git files gone, one commit.
    expect(w.kube.primary.object("PersistentVolumeClaim", "data", "shipping-dev")).toBeUndefined();
    expect(w.kube.primary.object("PersistentVolume", VOLUME)).toBeUndefined();
    expect(await w.github.readFile(PRIMARY_GIT)).toBeNull();
    expect(await w.github.readFile(SECONDARY_GIT)).toBeNull();
    const commits = await w.github.commits();
    expect(commits).toHaveLength(commitsBefore + 1);
    expect(commits[0]?.message).toMatch(
      new RegExp(`^Delete volume ${VOLUME.replaceAll(".", "\\.")} on primary`),
    );
    expect(commits[0]?.message).toContain(
      `Requested-by: ${USERS.requester.toLowerCase()} (${USERS.requester})`,
    );
    expect(commits[0]?.message).toContain(`Approved-by: ${USERS.approver1}`);
    expect(commits[0]?.message).toContain(`Drbot-Request: ${id}`);

    // The approval card shows the outcome without buttons.
    const approval = w.cards().find((m) => m.ts === card.ts);
    expect(approval?.text).toMatch(/approved by <@U0APR1>/);
    expect(JSON.stringify(approval?.blocks)).not.toContain(APPROVE);

    // The name can be requested again: a fresh, empty directory, new objects, a new Git file.
    await createVolume(w);
    expect(existsSync(join(volumeDir(w), "hello.txt"))).toBe(false);
    expect(w.kube.primary.object("PersistentVolumeClaim", "data", "shipping-dev")?.status).toMatchObject({
      phase: "Bound",
    });
    expect(await w.github.readFile(PRIMARY_GIT)).not.toBeNull();
    expect(await readFile(join(trashDir(w, id), "hello.txt"), "utf8")).toBe("hello\n");
  }, 60_000);

  it("comes back from the trash as operations.md says: move the directory back and ask for the volume again", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    await writeFile(join(volumeDir(w), "hello.txt"), "still here\n");
    const { id, card } = await requestDelete(w, DELETE);
    await w.click(USERS.approver1, APPROVE, id, card.ts);
    await statusCard(w, /succeeded/);
    await rename(trashDir(w, id), volumeDir(w));
    await createVolume(w);
    expect(await readFile(join(volumeDir(w), "hello.txt"), "utf8")).toBe("still here\n");
    expect(w.kube.primary.object("PersistentVolumeClaim", "data", "shipping-dev")?.status).toMatchObject({
      phase: "Bound",
    });
  }, 60_000);

  it("redraws its approval card even when the card's place was lost (a worker died right after posting it)", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    const { id, card } = await requestDelete(w, DELETE);
    // As if the worker had died between Slack's answer and recording where the card is.
    const key = `${w.prefix}:approval:${id}`;
    const stored = JSON.parse((await w.redis.get(key)) as string);
    delete stored.ts;
    delete stored.channel;
    await w.redis.set(key, JSON.stringify(stored), "KEEPTTL");
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/completed/);
    await statusCard(w, /succeeded/);
    // The channel shows the outcome on a card of its own; the request ran once.
    const outcome = w
      .cards()
      .find((m) => m.text === `Deletion of volume ${VOLUME} approved by <@${USERS.approver1}>`);
    expect(outcome).toBeDefined();
    expect(JSON.stringify(outcome?.blocks)).not.toContain(APPROVE);
    expect((await w.github.commits()).filter((c) => c.message.startsWith("Delete volume"))).toHaveLength(1);
  }, 60_000);

  it("is refused, naming the pod, while a pod mounts the claim; nothing changes", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    w.kube.primary.seed(
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "shop-7d9f-x2k4", namespace: "shipping-dev" },
        spec: {
          containers: [{ name: "shop", image: "shop:1" }],
          volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
        },
      },
      { status: { phase: "Running" } },
    );
    const before = await w.snapshot();
    const answer = await w.answer(await w.slash(DELETE));
    expect(answer).toMatch(/was not deleted: a pod mounts the claim on rosa-primary: `shop-7d9f-x2k4`/);
    expect(answer).toMatch(/Nothing was changed/);
    expect(await w.snapshot()).toEqual(before);
    expect(await w.redis.keys(`${w.prefix}:approval:*`)).toEqual([]);
  });

  it("is refused while a DR operation holds the lock, and for a volume that is not recorded", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    const before = await w.snapshot();
    await w.redis.set(`${w.prefix}:lock:dr`, "dr-0badf00d");
    expect(await w.answer(await w.slash(DELETE))).toMatch(
      /was not deleted: a DR operation \(dr-0badf00d\) is in progress/,
    );
    await w.redis.del(`${w.prefix}:lock:dr`);
    expect(await w.answer(await w.slash("delete bu=sales app=shipping ns=shipping-dev pvc=other"))).toMatch(
      /was not deleted: it is not recorded in Git for the primary site/,
    );
    expect(await w.snapshot()).toEqual(before);
  });

  it("is cancelled, its approval withdrawn, when a failover takes the DR lock before it deleted anything", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    const { id, card } = await requestDelete(w, DELETE);
    await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    const failover = await w.until("the failover's approval card", () =>
      w.cards().find((m) => /"value":"dr-[0-9a-f]{8}"/.test(JSON.stringify(m.blocks ?? []))),
    );
    const drId = /"value":"(dr-[0-9a-f]{8})"/.exec(JSON.stringify(failover.blocks))?.[1] as string;
    await w.click(USERS.approver1, APPROVE, drId, failover.ts);
    await w.click(USERS.approver2, APPROVE, drId, failover.ts);
    const done = await statusCard(w, /cancelled/);
    expect(done.text).toMatch(
      new RegExp(
        `a DR operation \\(${drId}, failover\\) started before this deletion changed anything, so nothing was deleted`,
      ),
    );
    const approval = await w.until("the deletion's approval card to be withdrawn", () =>
      w.cards().find((m) => m.ts === card.ts && /withdrawn by drbot/.test(m.text)),
    );
    expect(JSON.stringify(approval.blocks)).not.toContain(APPROVE);
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/already cancelled/);
    await w.until(
      "the failover",
      () => w.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
      30_000,
    );
    // The volume is whole, now served from the secondary site.
    expect(existsSync(volumeDir(w))).toBe(true);
    expect(w.kube.primary.object("PersistentVolume", VOLUME)).toBeDefined();
    expect(w.kube.secondary.object("PersistentVolume", VOLUME)).toBeDefined();
  }, 60_000);

  it("ends with nothing changed when an approver denies it", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    const { id, card } = await requestDelete(w, DELETE);
    expect(await w.click(USERS.approver2, DENY, id, card.ts)).toMatch(/You denied/);
    const done = await statusCard(w, /cancelled/);
    expect(done.text).toMatch(/denied by <@U0APR2>/);
    expect(existsSync(volumeDir(w))).toBe(true);
    expect(w.kube.primary.object("PersistentVolume", VOLUME)).toBeDefined();
    expect(await w.github.readFile(PRIMARY_GIT)).not.toBeNull();
    // A later click on the resolved request changes nothing.
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/already denied/);
  });

  it("expires like a failover's request: nothing changed, the card says so", async () => {
    world = await started({
      configure: (c) => (c.approvals.volumeDelete = { required: 1, expiresAfter: "2s" }),
    });
    const w = world;
    await createVolume(w);
    const { id, card } = await requestDelete(w, DELETE);
    const done = await statusCard(w, /cancelled/);
    expect(done.text).toMatch(/the approval request expired with 0\/1 approvals; nothing was changed/);
    const approval = await w.until("the approval card to say expired", () =>
      w.cards().find((m) => m.ts === card.ts && /expired/.test(m.text)),
    );
    expect(JSON.stringify(approval.blocks)).not.toContain(APPROVE);
    expect(await w.click(USERS.approver1, APPROVE, id, card.ts)).toMatch(/already expired/);
    expect(existsSync(volumeDir(w))).toBe(true);
    expect(w.kube.primary.object("PersistentVolumeClaim", "data", "shipping-dev")).toBeDefined();
  }, 30_000);

  it("halts past the point of no return when a step fails for good, and its requester resumes it to the end", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    await writeFile(join(volumeDir(w), "keep.txt"), "kept\n");
    // The cluster lets drbot delete claims but, misconfigured, not volumes.
    const documented = documentedClusterRole();
    const rules: PolicyRule[] = documented.rules.flatMap((r) =>
      r.resources?.includes("persistentvolumes")
        ? [
            { ...r, resources: ["persistentvolumeclaims"] },
            { ...r, resources: ["persistentvolumes"], verbs: r.verbs.filter((v) => v !== "delete") },
          ]
        : [r],
    );
    w.kube.primary.setClusterRole({ ...documented, rules });
    const { id, card } = await requestDelete(w, DELETE);
    await w.click(USERS.approver1, APPROVE, id, card.ts);
    const halted = await statusCard(w, /incomplete, waiting to be resumed/);
    expect(halted.text).toMatch(/Delete the PV failed/);
    expect(JSON.stringify(halted.blocks)).toContain(`/volume delete resume ${id}`);
    expect(w.kube.primary.object("PersistentVolumeClaim", "data", "shipping-dev")).toBeUndefined();
    expect(await w.github.readFile(PRIMARY_GIT)).not.toBeNull();

    // Only its requester or an approver may resume it.
    expect(await w.answer(await w.slash(`delete resume ${id}`, USERS.stranger))).toMatch(/Only <@U0REQ1>/);
    w.kube.primary.setClusterRole(documented);
    expect(await w.answer(await w.slash(`delete resume ${id}`))).toMatch(/Resuming/);
    await statusCard(w, /succeeded/);
    expect(w.kube.primary.object("PersistentVolume", VOLUME)).toBeUndefined();
    expect(await readFile(join(trashDir(w, id), "keep.txt"), "utf8")).toBe("kept\n");
    expect(await w.github.readFile(PRIMARY_GIT)).toBeNull();
    expect(await w.answer(await w.slash(`delete resume ${id}`))).toMatch(/already ended \(succeeded\)/);
  }, 60_000);
});
