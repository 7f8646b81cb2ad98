// `npm run bench`: every benchmark against the local fakes and a throw-away Redis, each beside
// its baseline measured in the same run; prints a table of figures and ratios.
// `npm run bench -- failover --volumes 50` runs one, smaller.

import { parseArgs } from "node:util";
import { startRedisServer } from "../test/support/redis-server.ts";
import { benchFailover, benchPlaybookBaseline } from "./failover.ts";

const { values, positionals } = parseArgs({
  options: {
    volumes: { type: "string", default: "1000" },
    "skip-baseline": { type: "boolean", default: false },
  },
  allowPositionals: true,
});
const only = new Set(positionals);
const want = (name: string) => only.size === 0 || only.has(name);
const rows: Array<[string, string, string, string]> = [];
const row = (what: string, drbot: string, baseline: string, ratio: string) =>
  rows.push([what, drbot, baseline, ratio]);
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const redis = await startRedisServer();
try {
  if (want("failover")) {
    const n = Number(values.volumes);
    for (const volumes of [...new Set([50, n])]) {
      process.stderr.write(`failover: ${volumes} volumes…\n`);
      const ours = await benchFailover(redis.url, volumes);
      const base = values["skip-baseline"]
        ? { volumes, ms: Number.NaN }
        : await benchPlaybookBaseline(redis.url, volumes);
      row(
        `failover of ${volumes} volumes after the last approval (25 ms k8s latency)`,
        s(ours.afterApprovalMs),
        s(base.ms),
        `${(base.ms / ours.afterApprovalMs).toFixed(1)}x faster`,
      );
      row(`  plan (command to approval card), ${volumes} volumes`, s(ours.planMs), "-", "-");
      row(
        `  seconds per step, ${volumes} volumes`,
        JSON.stringify(ours.steps),
        "-",
        `${ours.kubernetesRequests} k8s requests on ${ours.kubernetesConnections} connections`,
      );
      row(
        `  Slack API calls, ${volumes}-volume failover`,
        String(ours.slackApiCalls),
        "-",
        JSON.stringify(ours.slackCallsByMethod),
      );
      row(`  memory of drbot serve (own process), ${volumes}-volume failover`, `${ours.serveIdleRssMb} MB idle, ${ours.servePeakRssMb} MB peak`, "-", "target < 200 MB");
    }
  }
} finally {
  await redis.stop();
}

const widths = [0, 1, 2, 3].map((i) =>
  Math.max(...[["benchmark", "drbot", "baseline", "ratio"], ...rows].map((r) => (r[i] as string).length)),
);
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
console.log(line(["benchmark", "drbot", "baseline", "ratio"]));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const r of rows) console.log(line(r));
process.exit(0);
