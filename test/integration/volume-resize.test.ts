// `/volume resize` and tenant quotas end to end through signed Slack requests: the PV and both
// sites' Git files grow in one commit; the static claim keeps its request (Kubernetes refuses to
// expand a claim without an expandable StorageClass) and the card says so, and the next failover
// applies the grown claim from Git; shrinking and quota overruns are refused with the reason.

import { afterEach, describe, expect, inject, it } from "vitest";
import { checkRecordedManifest } from "../../src/core/manifest-check.ts";
import { parseManifests } from "../../src/core/manifests.ts";
import { renderVolume } from "../../src/core/volumes.ts";
import { APPROVE, createVolume } from "../support/volumes.ts";
import { createWorld, USERS, type World, type WorldOptions } from "../support/world.ts";

const ID = { businessUnit: "sales", application: "shipping", namespace: "shipping-dev", pvcName: "data" };
const VOLUME = "sales.shipping.shipping-dev.data";
const PRIMARY_GIT = "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml";
const SECONDARY_GIT = "PV-PVCs/secondary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml";
const RESIZE = (size: string, pvc = "data") =>
  `resize bu=sales app=shipping ns=shipping-dev pvc=${pvc} size=${size}`;

const storage = (text: string | null | undefined) => {
  const objects = parseManifests(text ?? "");
  const pv = objects.find((o) => o.kind === "PersistentVolume")?.spec as any;
  const pvc = objects.find((o) => o.kind === "PersistentVolumeClaim")?.spec as any;
  return { pv: pv?.capacity?.storage, pvc: pvc?.resources?.requests?.storage };
};

const capacity = (o: { spec?: unknown } | undefined) => (o?.spec as any)?.capacity?.storage;
const requested = (o: { spec?: unknown } | undefined) => (o?.spec as any)?.resources?.requests?.storage;

async function started(options: WorldOptions = {}): Promise<World> {
  const world = await createWorld(inject("redisUrl"), options);
  await world.start();
  return world;
}

const resizeCard = (world: World, word: RegExp) =>
  world.until(
    `the resize card saying ${word}`,
    () => world.cards().find((m) => m.text.startsWith(`Resize of volume ${VOLUME}`) && word.test(m.text)),
    30_000,
  );

describe("/volume resize", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("grows the PV and both sites' Git files in one commit, says plainly why the static claim keeps its request, and the next failover applies the grown claim", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    const config = w.service.config;
    w.github.commitFiles({ [SECONDARY_GIT]: renderVolume(config, "secondary", ID as never, 10) }, "copy");
    const commitsBefore = (await w.github.commits()).length;

    const answer = await w.answer(await w.slash(RESIZE("20Gi")));
    expect(answer).toMatch(
      /^Accepted: volume sales\.shipping\.shipping-dev\.data grows to 20Gi as request `vol-[0-9a-f]{8}`/,
    );
    const done = await resizeCard(w, /succeeded/);
    const card = JSON.stringify(done.blocks);
    expect(card).toContain("10Gi → 20Gi");
    expect(card).toMatch(/keeps the claim&#39;s request at 10Gi|keeps the claim's request at 10Gi/);
    expect(card).toContain('storageClassName \\"\\"');
    expect(card).toContain("the next failover or switchover applies the grown claim from Git");

    expect(capacity(w.kube.primary.object("PersistentVolume", VOLUME))).toBe("20Gi");
    const pvc = w.kube.primary.object("PersistentVolumeClaim", "data", "shipping-dev");
    expect(requested(pvc)).toBe("10Gi");
    expect(pvc?.status).toMatchObject({ phase: "Bound" });

    for (const [site, path] of [
      ["primary", PRIMARY_GIT],
      ["secondary", SECONDARY_GIT],
    ] as const) {
      const text = await w.github.readFile(path);
      expect(storage(text), path).toEqual({ pv: "20Gi", pvc: "20Gi" });
      // Still exactly what drbot writes for a 20Gi volume: the next DR operation applies it.
      expect(checkRecordedManifest(config, site, ID as never, text as string)).toMatchObject({
        ok: true,
        sizeGi: 20,
      });
    }
    const commits = await w.github.commits();
    expect(commits).toHaveLength(commitsBefore + 1);
    expect(commits[0]?.message).toMatch(
      /^Resize volume sales\.shipping\.shipping-dev\.data from 10Gi to 20Gi/,
    );
    expect(commits[0]?.message).toContain(
      `Requested-by: ${USERS.requester.toLowerCase()} (${USERS.requester})`,
    );

    // A failover applies the grown claim on the secondary cluster.
    await w.answer(await w.slash("failover", USERS.incident, "/dr"));
    const { card: approval, id } = await w.approvalCard();
    await w.click(USERS.approver1, APPROVE, id, approval.ts);
    await w.click(USERS.approver2, APPROVE, id, approval.ts);
    await w.until(
      "the failover",
      () => w.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
      30_000,
    );
    const restored = w.kube.secondary.object("PersistentVolumeClaim", "data", "shipping-dev");
    expect(requested(restored)).toBe("20Gi");
    expect(capacity(w.kube.secondary.object("PersistentVolume", VOLUME))).toBe("20Gi");
  }, 60_000);

  it("refuses to shrink, to stay the same, to pass the size limit and to resize what is not recorded, with the reason; nothing changes", async () => {
    world = await started();
    const w = world;
    await createVolume(w);
    const before = await w.snapshot();
    expect(await w.answer(await w.slash(RESIZE("5Gi")))).toMatch(
      /was not resized: it is 10Gi, and volumes only grow: Kubernetes never shrinks a claim/,
    );
    expect(await w.answer(await w.slash(RESIZE("10")))).toMatch(/was not resized: it is already 10Gi/);
    expect(await w.answer(await w.slash(RESIZE("2000Gi")))).toMatch(
      /size 2000 GiB is above the limit of 1024 GiB/,
    );
    expect(await w.answer(await w.slash(RESIZE("20Gi", "other")))).toMatch(
      /was not resized: it is not recorded in Git for the primary site/,
    );
    expect(await w.answer(await w.slash(RESIZE("20Gi"), USERS.stranger))).toMatch(
      /You may not resize volumes of business unit sales/,
    );
    expect(await w.snapshot()).toEqual(before);
    expect(capacity(w.kube.primary.object("PersistentVolume", VOLUME))).toBe("10Gi");
  }, 30_000);
});

describe("tenant quotas", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("refuse a create or a resize beyond the tenant's quota, naming usage and limit, and let what fits through", async () => {
    world = await started({
      configure: (c) => (c.volumes.tenants.sales.quota = { volumes: 2, totalGi: 25 }),
    });
    const w = world;
    await createVolume(w, "data", 10);
    await createVolume(w, "logs", 10);
    const before = await w.snapshot();
    const third = await w.answer(
      await w.slash("create bu=sales app=shipping ns=shipping-dev pvc=more size=1"),
    );
    expect(third).toMatch(
      /Volume sales\.shipping\.shipping-dev\.more was not requested: business unit sales would exceed its quota: 2 volumes of 2 allowed are in use, and this would make 3/,
    );
    const grow = await w.answer(await w.slash(RESIZE("20Gi")));
    expect(grow).toMatch(
      /was not resized: business unit sales would exceed its quota: 20Gi of 25Gi allowed are in use, and this adds 10Gi \(30Gi\)/,
    );
    expect(await w.snapshot()).toEqual(before);
    // What fits goes through: 20Gi + 5Gi = 25Gi.
    expect(await w.answer(await w.slash(RESIZE("15Gi")))).toMatch(/^Accepted/);
    await resizeCard(w, /succeeded/);
    expect(storage(await w.github.readFile(PRIMARY_GIT))).toEqual({ pv: "15Gi", pvc: "15Gi" });
  }, 60_000);
});
