// `/volume list` through signed Slack requests: per volume its size, site, whether it is Bound
// on the active cluster now and its directory's size (measured by a worker within a time
// budget); tenant totals against quotas; pages within one Slack message; need to know.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createQueue, redisConnection } from "../../src/jobs/queues.ts";
import { createVolume } from "../support/volumes.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

const MARKETING = "U0MKT1";

describe("/volume list", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => {
        c.volumes.tenants.sales.quota = { volumes: 100, totalGi: 2048 };
        c.volumes.tenants.marketing = { requesters: { users: [MARKETING] } };
      },
    });
    await world.start();
    await world.seedVolumes(60); // recorded in Git only: no objects, no directories
    await createVolume(world, "data", 10);
    await writeFile(
      join(world.mounts.primary, "k8s-static-volumes/sales/shipping/shipping-dev/data/rows.bin"),
      "x".repeat(3000),
    );
  }, 60_000);
  afterAll(async () => {
    await world?.close();
  });

  it("shows size, site, Bound now and the directory's measured size, with tenant totals against the quota, paged", async () => {
    const first = await world.answer(await world.slash("list"));
    expect(first).toMatch(/^\*61 volumes on the primary site\* \(you see sales\), from Git, page 1 of 2\./);
    const lines = first.split("\n").filter((l) => l.startsWith("• "));
    expect(lines).toHaveLength(50);
    // Seeded volumes: recorded, but no PV on the cluster and no directory.
    expect(lines[0]).toMatch(
      /^• `sales\.app\.ns-0\.data-0` — 1Gi · primary · not on rosa-primary · no directory$/,
    );
    expect(first).toContain("*Totals* sales: 61 volumes, 190Gi of a quota of 100 volumes, 2048Gi");
    expect(first).toContain("Page 1 of 2; for more: `/volume list page=2`");
    expect(first.length).toBeLessThan(40_000);

    const second = await world.answer(await world.slash("list page=2"));
    expect(second).toMatch(/page 2 of 2/);
    expect(second.split("\n").filter((l) => l.startsWith("• "))).toHaveLength(11);
    expect(second).toContain(
      "• `sales.shipping.shipping-dev.data` — 10Gi · primary · Bound · 2.9 KiB in 1 file",
    );
    expect(second).not.toContain("for more");

    expect(await world.answer(await world.slash("list page=3"))).toMatch(
      /Page 3 is past the last page \(2\)/,
    );
    const filtered = await world.answer(await world.slash("list bu=sales app=shipping"));
    expect(filtered).toMatch(/^\*1 volume on the primary site \(bu=sales app=shipping\)\*/);
    expect(filtered).toContain("Bound · 2.9 KiB in 1 file");
  });

  it("keeps to need to know: other tenants' requesters see none of them, strangers nothing", async () => {
    expect(await world.answer(await world.slash("list", MARKETING))).toMatch(
      /^No volumes recorded for the primary site \(you see marketing\)\./,
    );
    expect(await world.answer(await world.slash("list bu=sales", MARKETING))).toMatch(
      /You may not list the volumes of business unit sales: you request volumes for marketing/,
    );
    expect(await world.answer(await world.slash("list", USERS.stranger))).toMatch(
      /you are not a requester of any/,
    );
    // Approvers see every tenant.
    expect(await world.answer(await world.slash("list", USERS.approver1))).toMatch(/^\*61 volumes/);
  });

  it("says 'not measured' when no worker answers within the budget, and 'unknown' when the cluster does not answer", async () => {
    await world.services[0]?.stop();
    world.services.splice(0);
    await world.start("bot");
    world.kube.primary.injectFault({ method: "GET", path: /\/persistentvolumes\//, reply: "reset" });
    try {
      const started = Date.now();
      const answer = await world.answer(await world.slash("list bu=sales app=shipping"));
      expect(answer).toContain(
        "• `sales.shipping.shipping-dev.data` — 10Gi · primary · Bound: unknown · not measured",
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      // The withdrawn request is not left for a worker to walk later.
      const queue = createQueue("volume-measure", redisConnection(world.redisUrl), world.prefix);
      try {
        const counts = await queue.getJobCounts("wait", "delayed", "active", "prioritized");
        expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
      } finally {
        await queue.close();
      }
    } finally {
      world.kube.primary.clearFaults();
    }
  }, 30_000);
});
