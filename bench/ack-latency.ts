// Benchmark 2: acknowledgement latency of signed slash commands at concurrency 20, drbot serve
// (its own process, doing real work: every accepted command becomes a job) against a bare Bolt
// app, both measured in the same run against Slack's 3,000 ms limit.

import { spawn } from "node:child_process";
import { freePort } from "../test/support/free-port.ts";
import { CHANNEL, createWorld, USERS, type World } from "../test/support/world.ts";

export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  n: number;
}

const CONCURRENCY = 20;

async function load(world: World, url: string, total: number, text: (i: number) => string): Promise<Latency> {
  const times: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const res = await world.slack.sendSlashCommand(url, {
        command: "/volume",
        text: text(i),
        user_id: USERS.requester,
        channel_id: CHANNEL,
      });
      if (res.status !== 200) throw new Error(`command ${i} answered ${res.status}`);
      times.push(res.elapsedMs);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  times.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round((times[Math.min(times.length - 1, Math.floor(q * times.length))] as number) * 10) / 10;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1), n: times.length };
}

/** Half of the commands create a volume (a real job each), half ask for help. */
const mixed = (i: number) =>
  i % 2 === 0 ? `create bu=sales app=ack ns=ack-${i % 7} pvc=v${i} size=1` : "help";

export async function benchAckLatency(
  redisUrl: string,
  total = 1000,
  topology: "serve" | "bot+worker" = "serve",
): Promise<{ drbot: Latency; baseline: Latency }> {
  const world = await createWorld(redisUrl);
  try {
    const options = { NODE_OPTIONS: "--max-semi-space-size=2" };
    // `serve` runs everything in one process; the Helm chart runs the receiver (`bot`) apart from
    // the workers, which is what a user's command meets in production.
    const receiver = await world.spawn(topology === "serve" ? "serve" : "bot", options);
    if (topology === "bot+worker") await world.spawn("worker", options);
    await load(world, `${receiver.url}/slack/events`, 40, () => "help"); // warm up
    const drbot = await load(world, `${receiver.url}/slack/events`, total, mixed);

    const port = await freePort();
    const child = spawn(process.execPath, [new URL("./baseline-bolt.ts", import.meta.url).pathname], {
      env: { ...process.env, ...world.env, PORT: String(port) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve) => child.stdout?.once("data", () => resolve()));
    const url = `http://127.0.0.1:${port}/slack/events`;
    await load(world, url, 40, () => "help");
    const baseline = await load(world, url, total, mixed);
    child.kill("SIGTERM");
    return { drbot, baseline };
  } finally {
    await world.close();
  }
}
