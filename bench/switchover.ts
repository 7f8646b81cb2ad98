// Benchmark: a planned switchover of N volumes with 25 ms added to every Kubernetes request, drbot
// as its own `serve` process with production timing: the time from the last approval to
// `succeeded`, and the same without the wait for the final sync (which is AWS's, not drbot's).

import type { JobEnvelope } from "../src/core/steps.ts";
import { createWorld, FS, USERS } from "../test/support/world.ts";

const K8S_LATENCY_MS = 25;

export async function benchSwitchover(redisUrl: string, volumes: number) {
  const world = await createWorld(redisUrl, { replicationLagSeconds: 5 });
  try {
    const serve = await world.spawn("serve", {
      NODE_OPTIONS: "--max-semi-space-size=2",
      DRBOT_GITHUB_PACE_WRITES: "true",
    });
    await world.seedVolumes(volumes);
    // One writer per namespace mounts the first claim there.
    for (let ns = 0; ns < Math.min(10, volumes); ns++) {
      world.kube.primary.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: `ns-${ns}` } });
      world.kube.primary.seed({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: `app-${ns}`, namespace: `ns-${ns}` },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: `app-${ns}` } },
          template: {
            metadata: { labels: { app: `app-${ns}` } },
            spec: {
              containers: [{ name: "app", image: "app:1" }],
              volumes: [{ name: "data", persistentVolumeClaim: { claimName: `data-${ns}` } }],
            },
          },
        },
      });
    }
    world.efs.setSyncInterval(1_000);
    world.efs.setLastReplicated(FS.primary, new Date());
    world.kube.secondary.http.latencyMs = K8S_LATENCY_MS;
    world.kube.primary.http.latencyMs = K8S_LATENCY_MS;

    const answer = await world.answer(await world.slash("switchover", USERS.incident, "/dr"));
    const id = /`(dr-[0-9a-f]{8})`/.exec(answer)?.[1];
    if (!id) throw new Error(`switchover refused: ${answer}`);
    const card = await world.until(
      "the approval card",
      () =>
        world
          .cards()
          .find((m) => JSON.stringify(m.blocks ?? []).includes(`"value":"${id}"`) && /approval/.test(m.text)),
      600_000,
    );
    await world.click(USERS.approver1, "approval_approve", id, card.ts);
    const approved = Date.now();
    await world.click(USERS.approver2, "approval_approve", id, card.ts);
    const done = await world.until(
      "the switchover to end",
      () => world.cards().find((m) => /^DR switchover for .*: (succeeded|failed)/.test(m.text)),
      600_000,
    );
    const afterApprovalMs = Date.now() - approved;
    if (!done.text.includes("succeeded")) throw new Error(`switchover did not succeed: ${done.text}`);
    const envelope = (await world.queue("dr-switchover").getJob(`dr-switchover.${id}`))?.data as JobEnvelope;
    const sync = envelope.steps["wait-sync"];
    const syncMs = sync?.startedAt && sync.finishedAt ? sync.finishedAt - sync.startedAt : 0;
    return {
      volumes,
      afterApprovalMs,
      withoutSyncMs: afterApprovalMs - syncMs,
      syncMs,
      servePeakRssMb: Math.round(await serve.peakRssMb()),
    };
  } finally {
    await world.close();
  }
}
