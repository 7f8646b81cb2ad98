// `/dr drill`: a rehearsal that changes nothing. Each step is a check with pass / warn / fail and
// the figure behind it: replication and lag, the standby file system and its mount targets, the
// standby cluster and a server-side dry run of every recorded volume, the data itself (every old
// enough file present with the same size, a sample checksummed), and an estimate of how long a
// failover would take. No mutating EFS call, no cluster write but dry runs, nothing on a mount;
// Git gets only the report (Markdown for people, JSON for machines) in one commit.

import { z } from "zod";
import { checkReplicaData, type DataCheckResult } from "../../core/data-check.ts";
import { otherSite } from "../../core/dr-record.ts";
import { formatDuration } from "../../core/duration.ts";
import { DrbotError, errorMessage } from "../../core/errors.ts";
import { code, Mrkdwn, md } from "../../core/mrkdwn.ts";
import { nfsPath, type SiteName } from "../../core/paths.ts";
import type { JobDefinition, JobEnvelope, Step, StepContext } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import { listRecorded, planVolumeMoves } from "./volumes.ts";

export const drillInput = z.strictObject({
  /** Started by `drills.schedule`, not by a person. */
  scheduled: z.boolean().optional(),
});
export type DrillInput = z.output<typeof drillInput>;

export type CheckResult = "pass" | "warn" | "fail";

export interface DrillCheck {
  name: string;
  title: string;
  result: CheckResult;
  /** The figure behind the result, one line. */
  figure: string;
  /** Details (mismatches, refused volumes, mount targets), first ones only. */
  details?: string[];
}

export interface DrillState {
  active?: SiteName;
  standby?: SiteName;
  checks?: DrillCheck[];
  /** Latencies measured during the drill, for the estimate. */
  dryRunMsPerVolume?: number;
  efsCallMs?: number;
  volumes?: number;
  lastReplicated?: string | null;
  lagSeconds?: number | null;
  estimateSeconds?: number;
  report?: { markdown: string; json: string; url: string | null };
}

type DrillStep = Step<DrillInput, DrillState, JobDeps>;
type Ctx = StepContext<DrillInput, DrillState, JobDeps>;

const MARK: Record<CheckResult, string> = { pass: ":white_check_mark:", warn: ":warning:", fail: ":x:" };

/** Records a check in the state and turns it into the step's card line. */
function record(state: DrillState, check: DrillCheck) {
  state.checks = [...(state.checks ?? []).filter((c) => c.name !== check.name), check];
  const details = check.details?.length
    ? ` — ${check.details.slice(0, 3).join("; ")}${check.details.length > 3 ? "; …" : ""}`
    : "";
  return {
    detail: md`${new Mrkdwn(MARK[check.result])} ${check.result.toUpperCase()}: ${check.figure}${details}`,
  };
}

function sites(ctx: Ctx) {
  const active = ctx.state.active as SiteName;
  const standby = ctx.state.standby as SiteName;
  return { active, standby, a: ctx.deps.config.sites[active], b: ctx.deps.config.sites[standby] };
}

async function timed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const value = await run();
  return [value, performance.now() - t];
}

/** 1. Replication from the active file system, and the lag against the objective. */
const replication: DrillStep = {
  name: "replication",
  title: "Replication and lag (RPO now)",
  async run(ctx) {
    const { deps, state } = ctx;
    const record_ = await deps.dr.record();
    state.active = record_.activeSite;
    state.standby = otherSite(record_.activeSite);
    const { a, b } = sites(ctx);
    const objective = deps.config.dr.rpoObjective;
    const [r, ms] = await timed(() => deps.efs.describeReplication(a.efs.region, a.efs.fileSystemId));
    state.efsCallMs = ms;
    const dest =
      r?.sourceFileSystemId === a.efs.fileSystemId
        ? r.destinations.find((d) => d.fileSystemId === b.efs.fileSystemId)
        : undefined;
    if (!dest) {
      state.lastReplicated = null;
      return record(state, {
        name: "replication",
        title: "Replication and lag (RPO now)",
        result: "fail",
        figure: `no replication from ${a.efs.fileSystemId} to ${b.efs.fileSystemId}: the data has no disaster-recovery copy`,
      });
    }
    const last = dest.lastReplicatedTimestamp;
    state.lastReplicated = last?.toISOString() ?? null;
    state.lagSeconds = last ? Math.round((Date.now() - last.getTime()) / 1000) : null;
    const lag = state.lagSeconds === null ? "unknown" : formatDuration(state.lagSeconds * 1000);
    const over = state.lagSeconds === null || state.lagSeconds * 1000 > objective;
    const result: CheckResult =
      dest.status !== "ENABLED" || over ? (dest.status === "ENABLING" && !last ? "warn" : "fail") : "pass";
    return record(state, {
      name: "replication",
      title: "Replication and lag (RPO now)",
      result,
      figure: `${a.efs.fileSystemId} → ${b.efs.fileSystemId} ${dest.status}; lag ${lag} (objective ${formatDuration(objective)})`,
    });
  },
};

/** 2. The standby file system is available, with mount targets available in each zone. */
const standbyFileSystem: DrillStep = {
  name: "standby-fs",
  title: "Standby file system and mount targets",
  async run(ctx) {
    const { deps, state } = ctx;
    const { b } = sites(ctx);
    try {
      const fs = await deps.efs.describeFileSystem(b.efs.region, b.efs.fileSystemId);
      const targets = await deps.efs.describeMountTargets(b.efs.region, b.efs.fileSystemId);
      const details = targets.map((t) => `${t.availabilityZoneName}: ${t.lifeCycleState}`);
      const available = targets.filter((t) => t.lifeCycleState === "available").length;
      const result: CheckResult =
        fs.lifeCycleState !== "available" || available === 0
          ? "fail"
          : available < targets.length
            ? "warn"
            : "pass";
      return record(state, {
        name: "standby-fs",
        title: "Standby file system and mount targets",
        result,
        figure: `${b.efs.fileSystemId} (${b.efs.region}) ${fs.lifeCycleState}; ${available}/${targets.length} mount targets available`,
        details,
      });
    } catch (err) {
      return record(state, {
        name: "standby-fs",
        title: "Standby file system and mount targets",
        result: "fail",
        figure: `${b.efs.fileSystemId} (${b.efs.region}) does not answer: ${errorMessage(err)}`,
      });
    }
  },
};

/** 3. The standby cluster answers, and every recorded volume passes a server-side dry run there. */
const standbyCluster: DrillStep = {
  name: "standby-cluster",
  title: "Standby cluster and a dry run of every volume",
  async run(ctx) {
    const { deps, state } = ctx;
    const { active, standby, b } = sites(ctx);
    try {
      await deps.clusters[standby].version();
    } catch (err) {
      return record(state, {
        name: "standby-cluster",
        title: "Standby cluster and a dry run of every volume",
        result: "fail",
        figure: `${b.cluster.name} does not answer: ${errorMessage(err)}`,
      });
    }
    const [moves, ms] = await timed(() =>
      planVolumeMoves(deps, active, standby, { dryRun: true, progress: ctx.progress }),
    );
    state.volumes = moves.volumes.length + moves.excluded.length + moves.differing.length;
    state.dryRunMsPerVolume = moves.volumes.length > 0 ? ms / moves.volumes.length : 0;
    const namespaces = new Set<string>();
    for (const v of moves.volumes) {
      if (!(await deps.clusters[standby].get("Namespace", v.namespace))) namespaces.add(v.namespace);
    }
    const refused = [
      ...moves.excluded.map((e) => `${e.path}: ${e.reason}`),
      ...moves.differing.map(
        (d) => `${d.path} differs from what drbot recorded: ${d.differences.join("; ")}`,
      ),
    ];
    return record(state, {
      name: "standby-cluster",
      title: "Standby cluster and a dry run of every volume",
      result: refused.length > 0 ? "fail" : "pass",
      figure: `${moves.volumes.length}/${state.volumes} volumes pass a dry run on ${b.cluster.name}${namespaces.size > 0 ? `; namespaces that would be created: ${[...namespaces].sort().join(", ")}` : ""}`,
      details: refused.slice(0, 100),
    });
  },
};

/** 4. The data: what is on the active mount and older than the last replication is on the standby. */
const data: DrillStep = {
  name: "data",
  title: "The data on the standby",
  async run(ctx) {
    const { deps, state, envelope } = ctx;
    const { active, a, b } = sites(ctx);
    if (!state.lastReplicated) {
      return record(state, {
        name: "data",
        title: "The data on the standby",
        result: "fail",
        figure: "no completed replication to compare against",
      });
    }
    const volumes = (await listRecorded(deps, active)).map((e) =>
      nfsPath(deps.config.volumes.rootDirectory, e.id).slice(1),
    );
    let result: DataCheckResult;
    try {
      result = await checkReplicaData({
        activeRoot: a.efs.mountPath,
        standbyRoot: b.efs.mountPath,
        volumes,
        lastReplicated: Date.parse(state.lastReplicated),
        checksumSample: deps.config.drills.checksumSample,
        seed: envelope.requestId,
        signal: ctx.signal,
        onProgress: (p) => ctx.progress(`${p.volumesDone}/${volumes.length} volumes, ${p.files} files`),
      });
    } catch (err) {
      return record(state, {
        name: "data",
        title: "The data on the standby",
        result: "fail",
        figure: `the mounts could not be read: ${errorMessage(err)}`,
      });
    }
    const mb = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MB`;
    return record(state, {
      name: "data",
      title: "The data on the standby",
      result: result.mismatchCount > 0 ? "fail" : "pass",
      figure: `${result.files} files (${mb(result.bytes)}) in ${result.volumes} volumes present with the same size; ${result.checksummed.files} SHA-256 compared; ${result.tooNew} newer than the last replication skipped; ${result.mismatchCount} mismatch(es)`,
      details: result.mismatches.map((m) => `${m.volume} ${m.path}: ${m.detail}`),
    });
  },
};

/** 5. How long a failover would take now, from the volume count and the latencies seen. */
const estimate: DrillStep = {
  name: "estimate",
  title: "Estimated failover time",
  async run(ctx) {
    const { deps, state } = ctx;
    const volumes = state.volumes ?? 0;
    const concurrency = deps.config.failover.applyConcurrency;
    // A failover applies each volume (PV + PVC) at the apply concurrency, as the dry run did one at
    // a time per volume; the deletion of replication is AWS's and takes minutes, not counted.
    const applyMs = Math.ceil(volumes / concurrency) * (state.dryRunMsPerVolume ?? 0);
    const seconds = Math.round((applyMs + 20 * (state.efsCallMs ?? 0) + 5_000) / 1000);
    state.estimateSeconds = seconds;
    return record(state, {
      name: "estimate",
      title: "Estimated failover time",
      result: "pass",
      figure: `about ${formatDuration(seconds * 1000)} after the approvals for ${volumes} volumes, plus the time AWS takes to delete replication (minutes)`,
    });
  },
};

/** 6. The report in Git, passed or failed: a failed drill is evidence too. */
const report: DrillStep = {
  name: "report",
  title: "Record the report in Git",
  async run(ctx) {
    const { deps, state, envelope } = ctx;
    const day = new Date(envelope.startedAt ?? envelope.createdAt).toISOString().slice(0, 10);
    const base = `dr/drills/${day}-${envelope.requestId}`;
    const markdown = renderMarkdown(envelope, deps);
    const json = `${JSON.stringify(reportJson(envelope, deps), null, 2)}\n`;
    const failed = (state.checks ?? []).filter((c) => c.result === "fail").map((c) => c.name);
    const result = await deps.git.commitFiles(
      [
        { path: `${base}.md`, content: markdown },
        { path: `${base}.json`, content: json },
      ],
      [
        `DR drill ${envelope.requestId}: ${failed.length === 0 ? "succeeded" : `failed (${failed.join(", ")})`}`,
        "",
        `Drbot-Request: ${envelope.requestId}`,
        `Requested-by: ${envelope.requester.id}`,
      ].join("\n"),
    );
    state.report = {
      markdown: `${base}.md`,
      json: `${base}.json`,
      url: result?.url ?? state.report?.url ?? null,
    };
    await deps.dr.setLastDrill({
      id: envelope.requestId,
      at: Date.now(),
      outcome: failed.length === 0 ? "succeeded" : "failed",
      report: `${base}.md`,
    });
    return {
      detail: md`${code(`${base}.md`)} and ${code(`${base}.json`)}${result ? md` in ${new Mrkdwn(`<${result.url}|one commit>`)}` : " (already recorded)"}`,
    };
  },
};

/** 7. The verdict: the drill fails when any check failed. */
const verdict: DrillStep = {
  name: "verdict",
  title: "Verdict",
  async run({ state }) {
    const failed = (state.checks ?? []).filter((c) => c.result === "fail");
    if (failed.length > 0) {
      throw new DrbotError(
        "conflict",
        "drill.failed",
        `failed checks: ${failed.map((c) => c.title.toLowerCase()).join("; ")}`,
        { hint: "The report in Git has each check's figures; fix what they name, then run /dr drill again." },
      );
    }
    const warned = (state.checks ?? []).filter((c) => c.result === "warn").length;
    return {
      detail: `every check passed${warned > 0 ? ` (${warned} warning${warned === 1 ? "" : "s"})` : ""}`,
    };
  },
};

export const drillJob: JobDefinition<DrillInput, DrillState, JobDeps> = {
  kind: "dr-drill",
  describe: (input) => (input.scheduled ? "Scheduled DR drill" : "DR drill"),
  input: drillInput,
  initialState: () => ({}),
  steps: [replication, standbyFileSystem, standbyCluster, data, estimate, report, verdict],
  summarize(envelope) {
    const { state } = envelope;
    return [
      md`*Drill passed*: a failover to the ${state.standby} site would find its file system, its cluster and the data in place.`,
      md`*RPO now* ${state.lagSeconds == null ? "unknown" : formatDuration(state.lagSeconds * 1000)} · *estimate* ${formatDuration((state.estimateSeconds ?? 0) * 1000)} after the approvals.`,
      state.report
        ? md`*Report* ${code(state.report.markdown)}${state.report.url ? md` (${new Mrkdwn(`<${state.report.url}|commit>`)})` : ""}`
        : "",
    ].filter((l) => l !== "");
  },
  nextSteps: () =>
    md`The report in Git (\`dr/drills/\`) has every check's figures; fix what the failed checks name, then run \`/dr drill\` again.`,
};

function reportJson(envelope: JobEnvelope<DrillInput, DrillState>, deps: JobDeps) {
  const { state } = envelope;
  const failed = (state.checks ?? []).filter((c) => c.result === "fail").map((c) => c.name);
  return {
    kind: "drbot.dr-drill",
    version: 1,
    request: envelope.requestId,
    requestedBy: envelope.requester.id,
    scheduled: Boolean(envelope.input.scheduled),
    startedAt: new Date(envelope.startedAt ?? envelope.createdAt).toISOString(),
    finishedAt: new Date().toISOString(),
    outcome: failed.length === 0 ? "succeeded" : "failed",
    failedChecks: failed,
    activeSite: state.active,
    standbySite: state.standby,
    activeFileSystem: state.active ? deps.config.sites[state.active].efs.fileSystemId : null,
    standbyFileSystem: state.standby ? deps.config.sites[state.standby].efs.fileSystemId : null,
    lastReplicated: state.lastReplicated ?? null,
    rpoSeconds: state.lagSeconds ?? null,
    rpoObjectiveSeconds: deps.config.dr.rpoObjective / 1000,
    volumes: state.volumes ?? 0,
    estimatedFailoverSeconds: state.estimateSeconds ?? null,
    checks: state.checks ?? [],
  };
}

function renderMarkdown(envelope: JobEnvelope<DrillInput, DrillState>, deps: JobDeps): string {
  const j = reportJson(envelope, deps);
  const icon = { pass: "PASS", warn: "WARN", fail: "FAIL" } as const;
  const lines = [
    `# DR drill ${j.request}: ${j.outcome}`,
    "",
    `- Run by: ${j.requestedBy}${j.scheduled ? " (scheduled)" : ""}`,
    `- Started: ${j.startedAt}; finished: ${j.finishedAt}`,
    `- Active site: ${j.activeSite} (${j.activeFileSystem}); standby: ${j.standbySite} (${j.standbyFileSystem})`,
    `- Observed RPO: ${j.rpoSeconds === null ? "unknown" : formatDuration(j.rpoSeconds * 1000)} (objective ${formatDuration(j.rpoObjectiveSeconds * 1000)}); last replicated ${j.lastReplicated ?? "never"}`,
    `- Estimated failover time: ${j.estimatedFailoverSeconds === null ? "unknown" : formatDuration(j.estimatedFailoverSeconds * 1000)} after the approvals, for ${j.volumes} volumes`,
    "",
    "## Checks",
    "",
    "| check | result | figure |",
    "|---|---|---|",
    ...j.checks.map((c) => `| ${cell(c.title)} | ${icon[c.result]} | ${cell(c.figure)} |`),
  ];
  for (const c of j.checks.filter((c) => c.details?.length)) {
    lines.push("", `### ${c.title}`, "", ...(c.details ?? []).map((d) => `- ${cell(d)}`));
  }
  return `${lines.join("\n")}\n`;
}

/** Table-safe text: no pipes or line breaks from outside values. */
function cell(text: string): string {
  return text.replace(/[\r\n]+/g, " ").replaceAll("|", "\\|");
}
