// `npm run bench`: every benchmark against the local fakes and a throw-away Redis, each beside
// its baseline measured in the same run; prints a table of figures and ratios.
// `npm run bench -- failover --volumes 50` runs one, smaller.

import { parseArgs } from "node:util";
import { startRedisServer } from "../test/support/redis-server.ts";
import { benchAckLatency } from "./ack-latency.ts";
import { benchDrillData } from "./drill-data.ts";
import { benchFailover, benchPlaybookBaseline } from "./failover.ts";
import { benchSwitchover } from "./switchover.ts";
import { benchThroughput } from "./throughput.ts";

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
    // `--volumes 1000,5000,10000`: the fleet sizes; the playbook baseline runs up to 1,000 (it
    // takes minutes per thousand).
    const sizes = String(values.volumes).split(",").map(Number);
    let first: { volumes: number; afterApprovalMs: number; planMs: number } | undefined;
    for (const volumes of [...new Set([50, ...sizes])]) {
      process.stderr.write(`failover: ${volumes} volumes…\n`);
      const ours = await benchFailover(redis.url, volumes);
      const base =
        values["skip-baseline"] || volumes > 1000
          ? { volumes, ms: Number.NaN }
          : await benchPlaybookBaseline(redis.url, volumes);
      row(
        `failover of ${volumes} volumes after the last approval (25 ms k8s latency, GitHub pacing on)`,
        s(ours.afterApprovalMs),
        Number.isNaN(base.ms) ? "-" : s(base.ms),
        Number.isNaN(base.ms) ? "-" : `${(base.ms / ours.afterApprovalMs).toFixed(1)}x faster`,
      );
      const perVolume = (ms: number) => `${((ms / volumes) * 1000).toFixed(0)} µs/volume`;
      first ??= ours;
      row(
        `  cost per volume, ${volumes} volumes (linear or better: compare with ${first.volumes})`,
        `plan ${perVolume(ours.planMs)}, execution ${perVolume(ours.afterApprovalMs)}`,
        `plan ${perVolume(first.planMs * (volumes / first.volumes))}, execution ${perVolume(first.afterApprovalMs * (volumes / first.volumes))} if linear from ${first.volumes}`,
        "-",
      );
      row(
        `  GitHub requests, ${volumes} volumes`,
        `plan ${ours.githubRequests.plan}, execution ${ours.githubRequests.execution}`,
        `previous design: plan ${volumes + 3} (one per volume)`,
        "constant",
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
      row(
        `  memory of drbot serve (own process), ${volumes}-volume failover`,
        `${ours.serveIdleRssMb} MB idle, ${ours.servePeakRssMb} MB peak`,
        "-",
        "target < 200 MB",
      );
    }
  }
  if (want("switchover")) {
    const volumes = Math.min(1000, Number(String(values.volumes).split(",")[0]));
    process.stderr.write(`switchover: ${volumes} volumes…\n`);
    const sw = await benchSwitchover(redis.url, volumes);
    row(
      `switchover of ${sw.volumes} volumes after the last approval, without the final sync (25 ms k8s latency)`,
      s(sw.withoutSyncMs),
      "-",
      `target < 15 s; the final sync took ${s(sw.syncMs)}; total ${s(sw.afterApprovalMs)}; peak RSS ${sw.servePeakRssMb} MB`,
    );
  }
  if (want("ack")) {
    process.stderr.write("acknowledgement latency…\n");
    const fmt = (l: { p50: number; p95: number; p99: number }) =>
      `p50 ${l.p50} / p95 ${l.p95} / p99 ${l.p99} ms`;
    const split = await benchAckLatency(redis.url, 1000, "bot+worker");
    row(
      "ack latency, 1,000 signed commands, concurrency 20, `drbot bot` + `drbot worker` (as the chart runs it)",
      fmt(split.drbot),
      fmt(split.baseline),
      `p99 ${(split.drbot.p99 / split.baseline.p99).toFixed(1)}x the bare Bolt app`,
    );
    const { drbot, baseline } = await benchAckLatency(redis.url, 1000, "serve");
    row(
      "ack latency of 1,000 signed slash commands, concurrency 20 (limit 3,000 ms)",
      fmt(drbot),
      fmt(baseline),
      `p99 ${(drbot.p99 / baseline.p99).toFixed(1)}x the bare Bolt app`,
    );
  }
  if (want("throughput")) {
    process.stderr.write("volume-create throughput…\n");
    const ours = await benchThroughput(redis.url, 100, 2, 4);
    const base = await benchThroughput(redis.url, 100, 1, 1);
    row(
      "volume create, 100 requests: volumes per second (2 workers × 4 vs 1 at a time)",
      String(ours.perSecond),
      String(base.perSecond),
      `${(ours.perSecond / base.perSecond).toFixed(1)}x`,
    );
    row(
      "  command to Bound, p50 / p95",
      `${ours.boundP50Ms} / ${ours.boundP95Ms} ms`,
      `${base.boundP50Ms} / ${base.boundP95Ms} ms`,
      "-",
    );
  }
  if (want("drill")) {
    process.stderr.write("drill data check: 1,000 volumes × 100 files…\n");
    const d = await benchDrillData(1_000, 100);
    const mb = (n: number | undefined) => (n === undefined ? "-" : `${n.toFixed(0)} MB`);
    row(
      `drill data check, ${d.volumes.toLocaleString("en")} volumes × ${d.files / d.volumes} files, both sides (median of ${d.runs}, ${d.where})`,
      s(d.drbotMs),
      `${s(d.baselineMs)} (find -printf '%s %p', once per tree)`,
      `${(d.drbotMs / d.baselineMs).toFixed(1)}x the time of the baseline`,
    );
    row(
      "  peak RSS of the check's process (baseline: the larger find)",
      `${mb(d.drbotPeakRssMb)} (an idle node: ${mb(d.nodeIdleRssMb)})`,
      mb(d.baselinePeakRssMb),
      `${d.checked.files.toLocaleString("en")} files, ${(d.checked.bytes / 1e6).toFixed(0)} MB compared, ${d.checked.checksummed} SHA-256`,
    );
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
