// The daily trash purge with two drbot replicas on one Redis: a deleted volume's trash entry is
// kept while it is younger than volumes.trashRetention; once older it goes from both file
// systems and the channel the delete was asked in gets one line, however many purges run.

import { existsSync } from "node:fs";
import { cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, inject, it } from "vitest";
import { createQueue, redisConnection } from "../../src/jobs/queues.ts";
import { APPROVE, createVolume, requestDelete } from "../support/volumes.ts";
import { CHANNEL, createWorld, USERS, type World } from "../support/world.ts";

const DAY = 86_400_000;

describe("the trash purge", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it("removes only expired trash, from both file systems, with one line in the delete's channel", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start();
    await w.start(); // a second replica: its worker competes for the same purge jobs

    const deleted: string[] = [];
    for (const pvc of ["old", "fresh"]) {
      await createVolume(w, pvc);
      await writeFile(join(w.mounts.primary, `k8s-static-volumes/sales/shipping/shipping-dev/${pvc}/f`), pvc);
      const { id, card } = await requestDelete(w, `delete bu=sales app=shipping ns=shipping-dev pvc=${pvc}`);
      await w.click(USERS.approver1, APPROVE, id, card.ts);
      await w.until(`${pvc} deleted`, () =>
        w
          .cards()
          .find(
            (m) =>
              m.text.startsWith(`Deletion of volume sales.shipping.shipping-dev.${pvc}`) &&
              /succeeded/.test(m.text),
          ),
      );
      deleted.push(id);
    }
    const [oldId, freshId] = deleted as [string, string];
    const trash = (site: "primary" | "secondary", id: string) =>
      join(w.mounts[site], "k8s-static-volumes/.drbot-trash", id);
    // The old one was deleted 31 days ago (its entry file says when), and replication copied it.
    const entryFile = join(trash("primary", oldId), ".drbot-entry.json");
    const info = JSON.parse(await readFile(entryFile, "utf8"));
    await writeFile(entryFile, JSON.stringify({ ...info, movedAt: Date.now() - 31 * DAY }));
    await cp(trash("primary", oldId), trash("secondary", oldId), { recursive: true });

    // Two purges at once, as two days' ticks landing on two replicas could.
    const queue = createQueue("trash-purge", redisConnection(w.redisUrl), w.prefix);
    try {
      const jobs = await Promise.all([queue.add("purge", {} as never), queue.add("purge", {} as never)]);
      await w.until("both purges to finish", async () => {
        const done = await Promise.all(
          jobs.map(async (j) => (await queue.getJob(j.id as string))?.finishedOn),
        );
        return done.every(Boolean) || undefined;
      });
      expect(existsSync(trash("primary", oldId))).toBe(false);
      expect(existsSync(trash("secondary", oldId))).toBe(false);
    } finally {
      await queue.close();
    }
    const lines = w.slack.messages(CHANNEL).filter((m) => m.text.includes("Purged from the trash"));
    expect(lines).toHaveLength(1);
    expect(lines[0]?.text).toContain("`sales.shipping.shipping-dev.old`");
    expect(lines[0]?.text).toContain(`request \`${oldId}\``);
    expect(lines[0]?.text).toContain("primary and secondary file systems after 30d");
    // The young entry is untouched, content and all.
    expect(
      await readFile(join(trash("primary", freshId), "sales/shipping/shipping-dev/fresh/f"), "utf8"),
    ).toBe("fresh");
  }, 60_000);
});
