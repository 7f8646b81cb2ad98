// Benchmark 3: volume-create throughput, 100 requests through Slack, a bot process and two
// worker processes, against the seed's way (one request at a time: one worker, one job at a time).

import { CHANNEL, createWorld, USERS } from "../test/support/world.ts";

export interface Throughput {
  volumes: number;
  seconds: number;
  perSecond: number;
  /** Command to Bound claim, per volume. */
  boundP50Ms: number;
  boundP95Ms: number;
}

export async function benchThroughput(
  redisUrl: string,
  volumes: number,
  workers: number,
  concurrency: number,
): Promise<Throughput> {
  const world = await createWorld(redisUrl);
  try {
    await world.spawn("bot");
    for (let i = 0; i < workers; i++) {
      await world.spawn("worker", {
        DRBOT_WORKER_CONCURRENCY: String(concurrency),
        NODE_OPTIONS: "--max-semi-space-size=2",
      });
    }
    const asked = new Map<string, number>();
    const started = Date.now();
    let next = 0;
    const send = async () => {
      while (next < volumes) {
        const i = next++;
        asked.set(`v${i}`, Date.now());
        const res = await world.slack.sendSlashCommand(world.receiverUrl, {
          command: "/volume",
          text: `create bu=sales app=tp ns=tp-${i % 10} pvc=v${i} size=1`,
          user_id: USERS.requester,
          channel_id: CHANNEL,
        });
        if (res.status !== 200) throw new Error(`command answered ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: 20 }, send));
    // Bound times from the cluster's own view: poll the claims until all are Bound.
    const bound = new Map<string, number>();
    await world.until(
      "every claim Bound",
      () => {
        for (const pvc of world.kube.primary.objects("PersistentVolumeClaim")) {
          if (
            (pvc.status as { phase?: string } | undefined)?.phase === "Bound" &&
            !bound.has(pvc.metadata.name)
          )
            bound.set(pvc.metadata.name, Date.now());
        }
        return bound.size === volumes ? true : undefined;
      },
      600_000,
    );
    await world.until(
      "every card succeeded",
      () => (world.cards().filter((m) => /succeeded/.test(m.text)).length === volumes ? true : undefined),
      600_000,
    );
    const seconds = (Date.now() - started) / 1000;
    const waits = [...bound.entries()]
      .map(([name, at]) => at - (asked.get(name) ?? started))
      .sort((a, b) => a - b);
    const at = (q: number) => waits[Math.min(waits.length - 1, Math.floor(q * waits.length))] as number;
    if ((await world.github.listFiles("PV-PVCs/primary")).length !== volumes)
      throw new Error("not every volume was recorded");
    return {
      volumes,
      seconds: Math.round(seconds * 100) / 100,
      perSecond: Math.round((volumes / seconds) * 100) / 100,
      boundP50Ms: at(0.5),
      boundP95Ms: at(0.95),
    };
  } finally {
    await world.close();
  }
}
