// `/dr drill` through signed Slack requests against the stand-ins: a healthy setup passes and
// writes both report files; each kind of problem fails its own check, naming what is wrong; and a
// drill never makes a mutating EFS call or a cluster write other than a dry run.

import { mkdir, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, inject, it } from "vitest";
import { createWorld, FS, USERS, type World } from "../support/world.ts";

const VOLUMES = 3;
const FILES = 5;

/**
 * The same files on both mounts, then a replication that completes after them (a data check
 * compares only files older than the last replication, by mtime and ctime).
 */
async function seedData(world: World, lagSeconds = 0): Promise<void> {
  const old = new Date(Date.now() - 10 * 60_000);
  for (const mount of [world.mounts.primary, world.mounts.secondary]) {
    for (let v = 0; v < VOLUMES; v++) {
      const dir = join(mount, `k8s-static-volumes/sales/app/ns-${v}/data-${v}`);
      await mkdir(dir, { recursive: true });
      for (let f = 0; f < FILES; f++) {
        const file = join(dir, `file-${f}.bin`);
        await writeFile(file, `volume ${v} file ${f} `.repeat(50));
        await utimes(file, old, old);
      }
    }
  }
  await new Promise((r) => setTimeout(r, 20));
  world.efs.setLastReplicated(FS.primary, new Date(Date.now() - lagSeconds * 1000));
}

async function drill(world: World) {
  const answer = await world.answer(await world.slash("drill", USERS.incident, "/dr"));
  expect(answer).toMatch(/^Drill `dr-[0-9a-f]{8}` started/);
  const id = /`(dr-[0-9a-f]{8})`/.exec(answer)?.[1] as string;
  const card = await world.until(
    "the drill to end",
    () =>
      world
        .cards()
        .find(
          (m) => /^DR drill for .*: (succeeded|failed)/.test(m.text) && JSON.stringify(m.blocks).includes(id),
        ),
    60_000,
  );
  return { id, card, text: `${card.text}\n${JSON.stringify(card.blocks)}` };
}

/** Cluster writes that were not dry runs. */
const realWrites = (world: World) =>
  [world.kube.primary, world.kube.secondary].flatMap((k) =>
    k.http.requests.filter(
      (r) => ["POST", "PUT", "PATCH", "DELETE"].includes(r.method) && !/[?&]dryRun=All(&|$)/.test(r.url),
    ),
  );

describe("/dr drill", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  async function healthyWorld(lagSeconds = 0) {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    await world.seedVolumes(VOLUMES);
    await seedData(world, lagSeconds);
    return world;
  }

  it("passes on a healthy setup, commits the report as Markdown and JSON, and changes nothing else", async () => {
    const w = await healthyWorld();
    const efsBefore = w.efs.mutatingCalls().length;
    const writesBefore = realWrites(w).length;
    const { id, card, text } = await drill(w);
    expect(card.text).toMatch(/: succeeded/);
    expect(text).toMatch(/PASS: fs-0aaa1111 → fs-0bbb2222 ENABLED; lag [\d.ms]+ \(objective 30m\)/);
    expect(text).toMatch(/PASS: fs-0bbb2222 \(us-west-2\) available; 2\/2 mount targets available/);
    expect(text).toMatch(/PASS: 3\/3 volumes pass a dry run on rosa-secondary/);
    expect(text).toMatch(/PASS: 15 files .* in 3 volumes present with the same size; 15 SHA-256 compared/);
    const files = (await w.github.listFiles("dr/drills")).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(new RegExp(`^dr/drills/\\d{4}-\\d\\d-\\d\\d-${id}\\.json$`));
    const json = JSON.parse((await w.github.readFile(files[0] as string)) as string);
    expect(json).toMatchObject({ request: id, outcome: "succeeded", failedChecks: [], volumes: 3 });
    expect(await w.github.readFile(files[1] as string)).toMatch(/^# DR drill dr-[0-9a-f]{8}: succeeded/);
    expect((await w.github.commits()).filter((c) => c.message.startsWith("DR drill"))).toHaveLength(1);
    // Nothing else changed anywhere.
    expect(w.efs.mutatingCalls().length).toBe(efsBefore);
    expect(
      realWrites(w)
        .slice(writesBefore)
        .map((r) => `${r.method} ${r.url}`),
    ).toEqual([]);
    const status = await w.answer(await w.slash("status", USERS.stranger, "/dr"));
    expect(status).toMatch(new RegExp(`\\*Last drill\\*: \\S+ succeeded \\(${id}`));
    const metrics = await (await fetch(`${w.service.url}/metrics`)).text();
    expect(metrics).toMatch(/drbot_drill_last_success_timestamp_seconds \d+/);
  }, 90_000);

  it.each([
    [
      "a file deleted from the standby",
      "missing",
      async (w: World) => rm(join(w.mounts.secondary, "k8s-static-volumes/sales/app/ns-1/data-1/file-2.bin")),
    ],
    [
      "a file whose size differs",
      "size",
      async (w: World) => {
        const f = join(w.mounts.secondary, "k8s-static-volumes/sales/app/ns-2/data-2/file-0.bin");
        await writeFile(f, "short");
        const old = new Date(Date.now() - 10 * 60_000);
        await utimes(f, old, old);
      },
    ],
    [
      "a checksum mismatch",
      "checksum",
      async (w: World) => {
        const f = join(w.mounts.secondary, "k8s-static-volumes/sales/app/ns-0/data-0/file-3.bin");
        await writeFile(f, `volume 0 file X `.repeat(50));
        const old = new Date(Date.now() - 10 * 60_000);
        await utimes(f, old, old);
      },
    ],
  ])(
    "fails on %s, naming the volume and the path",
    async (_, kind, damage) => {
      const w = await healthyWorld();
      await damage(w);
      const { card, text } = await drill(w);
      expect(card.text).toMatch(/: failed .*failed checks: the data on the standby/);
      expect(text).toMatch(/FAIL: .*1 mismatch\(es\)/);
      const path = {
        missing: "ns-1/data-1 file-2.bin",
        size: "ns-2/data-2 file-0.bin",
        checksum: "ns-0/data-0 file-3.bin",
      }[kind];
      expect(text).toContain(path);
      // A failed drill is evidence too: its report is committed.
      const json = (await w.github.listFiles("dr/drills")).find((f) => f.endsWith(".json")) as string;
      expect(JSON.parse((await w.github.readFile(json)) as string)).toMatchObject({
        outcome: "failed",
        failedChecks: ["data"],
      });
    },
    90_000,
  );

  it("fails its checks on lag above the objective, a standby without mount targets, and a dry run the standby refuses", async () => {
    const w = await healthyWorld(2 * 3600);
    w.efs.setMountTargets(FS.secondary, 0);
    w.kube.secondary.injectFault({
      method: "PATCH",
      path: /persistentvolumes\/sales\.app\.ns-1\.data-1/,
      reply: {
        status: 422,
        body: {
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: "admission webhook denied the PV",
          reason: "Invalid",
          code: 422,
        },
      },
    });
    const efsBefore = w.efs.mutatingCalls().length;
    const { card, text } = await drill(w);
    expect(card.text).toMatch(
      /failed checks: replication and lag \(rpo now\); standby file system and mount targets; standby cluster and a dry run of every volume/,
    );
    expect(text).toMatch(/FAIL: fs-0aaa1111 → fs-0bbb2222 ENABLED; lag 2h\d*m?\d*s? \(objective 30m\)/);
    expect(text).toMatch(/FAIL: fs-0bbb2222 \(us-west-2\) available; 0\/0 mount targets available/);
    expect(text).toMatch(/FAIL: 2\/3 volumes pass a dry run on rosa-secondary/);
    // The card shows the start of each reason; the report in Git has all of it.
    const json = (await w.github.listFiles("dr/drills")).find((f) => f.endsWith(".json")) as string;
    expect(await w.github.readFile(json)).toContain("admission webhook denied the PV");
    expect(w.efs.mutatingCalls().length).toBe(efsBefore);
  }, 90_000);

  it("is refused to someone who may neither ask for nor approve a failover", async () => {
    const w = await healthyWorld();
    expect(await w.answer(await w.slash("drill", USERS.requester, "/dr"))).toMatch(
      /You may not run a DR drill/,
    );
    expect(await w.github.listFiles("dr/drills")).toHaveLength(0);
  }, 60_000);
});
