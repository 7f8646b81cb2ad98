// `/dr failover`: in an outage of the active site, move to the other one. Stop replication
// through the region that is up, wait until the standby is writable, apply every recorded
// volume there, record them in one commit, make it the active site. Its point of no return is
// the deletion of replication: from then on it is finished, never abandoned.

import { type DrRecord, otherSite } from "../../core/dr-record.ts";
import { formatDuration } from "../../core/duration.ts";
import { DrbotError, errorMessage } from "../../core/errors.ts";
import { code, Mrkdwn, md } from "../../core/mrkdwn.ts";
import type { SiteName } from "../../core/paths.ts";
import type { EfsPort, ReplicationDeletionMode, ReplicationInfo } from "../../core/ports/efs.ts";
import { pause, pollDelay } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import { appliedManifests, applyStep, planStillCurrent } from "./apply.ts";
import {
  commitStep,
  type DrOperation,
  type DrStep,
  drJob,
  nextRecord,
  planOf,
  recordStep,
} from "./engine.ts";
import { digestOf, planVolumeMoves, recordedChanges } from "./volumes.ts";

const sites = (deps: JobDeps, from: SiteName, to: SiteName) => ({
  a: deps.config.sites[from],
  b: deps.config.sites[to],
});

/** Whether a site's EFS region answers at all (in a regional outage it does not). */
export async function regionAnswers(efs: EfsPort, region: string, fileSystemId: string): Promise<boolean> {
  try {
    await efs.describeFileSystem(region, fileSystemId);
    return true;
  } catch {
    return false;
  }
}

function lagOf(r: ReplicationInfo | null, destination: string): { lag: number | null; until: string | null } {
  const when = r?.destinations.find((d) => d.fileSystemId === destination)?.lastReplicatedTimestamp;
  return when
    ? { lag: Math.max(0, Math.round((Date.now() - when.getTime()) / 1000)), until: when.toISOString() }
    : { lag: null, until: null };
}

const failover: DrOperation = {
  kind: "failover",
  title: () => "DR failover",
  command: () => "/dr failover",

  async plan(ctx) {
    const { deps } = ctx;
    const record = await deps.dr.record();
    const from = record.activeSite;
    const to = otherSite(from);
    const { a, b } = sites(deps, from, to);
    const problems: Mrkdwn[] = [];
    const notes: Mrkdwn[] = [];
    if (record.replication?.source !== from) {
      problems.push(
        md`The ${to} site is not a replica of the active ${from} site: nothing replicates from ${a.efs.fileSystemId} since ${record.operation ?? "the last DR operation"} ${record.requestId ?? ""}, so a failover would lose every write made since. Run \`/dr reprotect\` first (or \`/dr status\` to see the state).`,
      );
    }
    let lag: { lag: number | null; until: string | null } = { lag: null, until: null };
    let replication = "unknown";
    try {
      const r = await deps.efs.describeReplication(b.efs.region, b.efs.fileSystemId);
      if (!r) {
        replication = "stopped";
        notes.push(md`Replication into ${b.efs.fileSystemId} is already stopped.`);
      } else {
        replication = "replicating";
        if (r.sourceFileSystemId !== a.efs.fileSystemId) {
          problems.push(
            md`${b.efs.fileSystemId} replicates from ${r.sourceFileSystemId}, not from the active ${from} file system ${a.efs.fileSystemId}.`,
          );
        }
        const dest = r.destinations.find((d) => d.fileSystemId === b.efs.fileSystemId);
        lag = lagOf(r, b.efs.fileSystemId);
        if (dest && dest.status !== "ENABLED") notes.push(md`Replication status is ${dest.status}.`);
      }
    } catch (err) {
      problems.push(md`Replication status could not be read in ${b.efs.region}: ${errorMessage(err)}`);
    }
    try {
      const fs = await deps.efs.describeFileSystem(b.efs.region, b.efs.fileSystemId);
      if (fs.lifeCycleState !== "available")
        problems.push(md`The ${to} file system ${fs.fileSystemId} is ${fs.lifeCycleState}, not available.`);
    } catch (err) {
      problems.push(md`The ${to} file system is not reachable: ${errorMessage(err)}`);
    }
    // Whether the active site's region answers decides how replication is deleted: on both
    // sides, or (AWS's way out when the other side cannot be reached) on the standby's side only.
    const fromAnswers = await regionAnswers(deps.efs, a.efs.region, a.efs.fileSystemId);
    notes.push(
      fromAnswers
        ? md`The ${from} file system ${a.efs.fileSystemId} (${a.efs.region}) still answers.`
        : md`The ${from} file system ${a.efs.fileSystemId} (${a.efs.region}) does not answer; expected in a regional outage.`,
    );
    const deletionMode: ReplicationDeletionMode = fromAnswers
      ? "ALL_CONFIGURATIONS"
      : "LOCAL_CONFIGURATION_ONLY";
    let clusterUp = true;
    try {
      await deps.clusters[to].version();
    } catch (err) {
      clusterUp = false;
      problems.push(md`The ${to} cluster ${b.cluster.name} is not reachable: ${errorMessage(err)}`);
    }

    ctx.progress("reading the recorded manifests from Git");
    const moves = await planVolumeMoves(deps, from, to, {
      dryRun: clusterUp,
      progress: ctx.progress,
      ...(ctx.input.dryRun ? {} : { store: ctx.envelope.requestId }),
    });
    const digest = digestOf({
      kind: "failover",
      from,
      to,
      source: a.efs.fileSystemId,
      target: b.efs.fileSystemId,
      cluster: b.cluster.name,
      volumes: moves.volumes.map((v) => [v.path, v.sha]),
      excluded: moves.excluded.map((e) => e.path),
      differing: moves.differing.map((d) => d.path),
      lagSeconds: lag.lag,
      deletionMode,
    });
    const lagText = lag.lag === null ? "unknown" : formatDuration(lag.lag * 1000);
    const lines = [
      md`*Move* ${moves.volumes.length} volume${moves.volumes.length === 1 ? "" : "s"} from *${a.cluster.name}* (${a.efs.fileSystemId}, ${a.efs.region}) to *${b.cluster.name}* (${b.efs.fileSystemId}, ${b.efs.region}).`,
      md`*Replication* ${replication}; last completed ${lagText} ago — *writes after that on the ${from} site may be lost* (a later \`/dr reprotect\` rescues them into .drbot-rescued).`,
      md`*Steps* stop replication through ${b.efs.region} (${fromAnswers ? "deleting it on both sides" : new Mrkdwn(`on the ${to} side only (LOCAL_CONFIGURATION_ONLY), because the ${from} region does not answer; its side is removed later by \`/dr reprotect\``)}), wait until ${b.efs.fileSystemId} is writable, apply every volume to ${b.cluster.name}, record them in one commit, make the ${to} site active.`,
      ...notes.map((n) => md`• ${n}`),
      ...leftOutLines(moves),
    ];
    return {
      plan: {
        digest,
        from,
        to,
        lines: lines.map((l) => l.text),
        volumes: moves.volumes.length,
        excluded: moves.excluded,
        differing: moves.differing,
        lagSeconds: lag.lag,
        deletionMode,
      },
      problems,
    };
  },

  confirm: (plan) =>
    md`This stops replication and moves ${plan.volumes} volume(s) to the ${plan.to} site (plan \`${plan.digest}\`). Writes after the last replication may be lost.`,

  stillValid: (ctx) => planStillCurrent(ctx, "/dr failover"),

  steps: [] as DrStep[],
  pointOfNoReturn: "stop-replication",

  async replanOnResume(ctx) {
    const { deps, state, envelope } = ctx;
    const plan = planOf(state);
    const { a, b } = sites(deps, plan.from, plan.to);
    const lines: Mrkdwn[] = [];
    const facts: Record<string, unknown> = { resume: envelope.requestId, n: envelope.resumes?.length ?? 0 };
    let newMode: ReplicationDeletionMode | undefined;
    const mode = state.resumeDeletionMode ?? plan.deletionMode;
    if (mode === "ALL_CONFIGURATIONS") {
      const r = await deps.efs.describeReplication(b.efs.region, b.efs.fileSystemId);
      if (r && !(await regionAnswers(deps.efs, a.efs.region, a.efs.fileSystemId))) {
        newMode = "LOCAL_CONFIGURATION_ONLY";
        facts.mode = newMode;
        lines.push(
          md`*Replication* the deletion on both sides cannot finish while ${a.efs.region} does not answer: delete it on the ${plan.to} side only (LOCAL_CONFIGURATION_ONLY) through ${b.efs.region}. The ${plan.from} side's configuration stays until \`/dr reprotect\` removes it.`,
        );
      }
    }
    const planned = await deps.operations.plannedShas(envelope.requestId);
    const applied = await deps.operations.applied(envelope.requestId);
    const changes = await recordedChanges(deps, plan.from, planned, [
      ...plan.excluded.map((e) => e.path),
      ...plan.differing.map((d) => d.path),
    ]);
    const touched = new Set([...changes.changed, ...changes.added]);
    let replanned: Awaited<ReturnType<typeof planVolumeMoves>> | undefined;
    if (touched.size + changes.removed.length > 0) {
      replanned = await planVolumeMoves(deps, plan.from, plan.to, {
        dryRun: true,
        progress: ctx.progress,
        only: touched,
      });
      facts.volumes = replanned.volumes.map((v) => [v.path, v.sha]);
      facts.removed = changes.removed;
      lines.push(
        md`*Recorded volumes changed since the approval*: ${changes.changed.length} changed, ${changes.added.length} added, ${changes.removed.length} removed; ${replanned.volumes.length} will be (re)applied (${[...touched].filter((p) => applied.has(p)).length} of them were already applied and are applied again as now recorded).`,
        ...leftOutLines(replanned),
      );
    }
    if (lines.length === 0) return undefined;
    return {
      lines,
      digest: digestOf(facts),
      async apply(c) {
        if (newMode) {
          c.state.resumeDeletionMode = newMode;
          c.envelope.steps["stop-replication"] = { status: "pending" };
          c.envelope.steps["wait-writable"] = { status: "pending" };
        }
        if (replanned) {
          // Saved only now, once approved: exactly the blobs the approvers saw, or nothing.
          const approved = JSON.stringify(replanned.volumes.map((v) => [v.path, v.sha]));
          const saved = await planVolumeMoves(c.deps, plan.from, plan.to, {
            dryRun: false,
            progress: c.progress,
            only: touched,
            store: c.envelope.requestId,
          });
          if (JSON.stringify(saved.volumes.map((v) => [v.path, v.sha])) !== approved) {
            throw new DrbotError(
              "conflict",
              "failover.resume_plan_changed",
              "The recorded volumes changed again after the resume was approved.",
              { hint: "Resume again so the approvers see the current plan." },
            );
          }
          await c.deps.operations.forget(
            c.envelope.requestId,
            saved.volumes.map((v) => v.path),
            changes.removed,
          );
          c.envelope.steps.apply = { status: "pending" };
        }
      },
    };
  },

  async commit(ctx) {
    const { deps, state, envelope } = ctx;
    const plan = planOf(state);
    const volumes = await appliedManifests(deps, envelope.requestId);
    const { a, b } = sites(deps, plan.from, plan.to);
    const record: DrRecord = nextRecord(ctx, {
      activeSite: plan.to,
      replication: null,
      ...(state.replicatedUntil ? { replicatedUntil: state.replicatedUntil } : {}),
    });
    return {
      files: volumes,
      message: [
        `Fail over ${volumes.length} volume${volumes.length === 1 ? "" : "s"} to ${b.cluster.name} (${b.efs.fileSystemId})`,
        "",
        `Replication ${a.efs.fileSystemId} (${a.efs.region}) -> ${b.efs.fileSystemId} (${b.efs.region}) stopped; last replicated ${state.lagAtCutoverSeconds == null ? "at an unknown time" : `${formatDuration(state.lagAtCutoverSeconds * 1000)} before the cut-over`}.`,
        `Active site: ${plan.to}. Nothing replicates from it yet: run /dr reprotect when ${a.efs.region} is back.`,
      ].join("\n"),
      record,
    };
  },

  async progressNote(envelope, deps) {
    const plan = envelope.state.plan;
    const applied = (await deps.operations.applied(envelope.requestId)).size;
    const stopped =
      envelope.steps["stop-replication"]?.status === "done"
        ? "replication deleted"
        : "replication being deleted";
    const git =
      envelope.steps.commit?.status === "done" || envelope.steps.commit?.status === "skipped"
        ? "Git recorded"
        : "Git not recorded";
    return `${stopped}, ${applied}/${plan?.volumes ?? "?"} volumes applied, ${git}`;
  },

  summarize(envelope) {
    const { state } = envelope;
    const plan = state.plan;
    const took = envelope.startedAt ? formatDuration(Date.now() - envelope.startedAt) : "?";
    const lag =
      state.lagAtCutoverSeconds == null ? "unknown" : formatDuration(state.lagAtCutoverSeconds * 1000);
    const left = (plan?.excluded.length ?? 0) + (plan?.differing.length ?? 0);
    return [
      md`*Moved* ${state.applied ?? 0} of ${plan?.volumes ?? 0} volumes to the ${plan?.to} site in ${took}.`,
      md`*Lag at cut-over* ${lag} (writes on the ${plan?.from} site after that point were not replicated).`,
      md`*Replication* ${state.replicationMode === "already stopped" ? "was already stopped" : `deleted (${state.replicationMode})`}.`,
      state.commitUrl
        ? md`*Git* ${new Mrkdwn(`<${state.commitUrl}|one commit>`)} with ${"dr/state.yaml"}.`
        : md`*Git* already recorded.`,
      (state.attention ?? 0) > 0
        ? md`:warning: *${state.attention} volume(s) need attention*: see the apply step in the thread.`
        : md`Every volume is Bound on the ${plan?.to} cluster.`,
      left > 0 ? md`:warning: ${left} recorded volume(s) were left out of the plan (see the plan).` : "",
      md`:rotating_light: *UNPROTECTED*: the ${plan?.to} file system has no replication, so your data has *no disaster-recovery copy* now.`,
      md`*Next*: redeploy the applications on the ${plan?.to} cluster and move traffic; when the ${plan?.from} region is back, run ${code("/dr reprotect")} to protect the data again (it also rescues the writes the failover could not carry).`,
    ].filter((l) => l !== "");
  },
};

/** 4. Addressed to the target's region: the active site's region may be the one that is down. */
const stopReplication: DrStep = {
  name: "stop-replication",
  title: "Stop replication",
  async run({ deps, state }) {
    const plan = planOf(state);
    const { b } = sites(deps, plan.from, plan.to);
    const region = b.efs.region;
    const current = await deps.efs.describeReplication(region, b.efs.fileSystemId);
    if (!current) {
      state.replicationMode ??= "already stopped";
      state.lagAtCutoverSeconds ??= plan.lagSeconds;
      return { skipped: md`no replication configuration left on ${b.efs.fileSystemId}` };
    }
    const dest = current.destinations.find((d) => d.fileSystemId === b.efs.fileSystemId);
    const lag = lagOf(current, b.efs.fileSystemId);
    state.lagAtCutoverSeconds = lag.lag ?? plan.lagSeconds;
    state.replicatedUntil = lag.until;
    const mode = state.resumeDeletionMode ?? plan.deletionMode ?? "ALL_CONFIGURATIONS";
    const already = dest?.status === "DELETING" && state.replicationMode === mode;
    state.replicationMode = mode;
    if (already) return { detail: "deletion already under way" };
    // The approved mode only, never the irreversible one by guesswork.
    const result = await deps.efs.ensureReplicationDeleted(region, current.sourceFileSystemId, mode);
    if (result === "not-found") {
      state.replicationMode = "already stopped";
      return { skipped: "replication was already deleted" };
    }
    return {
      detail: md`deletion of ${current.sourceFileSystemId} → ${b.efs.fileSystemId} requested through ${region}${mode === "LOCAL_CONFIGURATION_ONLY" ? ` (the ${plan.to} side only, as approved: the ${plan.from} region did not answer)` : ""}`,
    };
  },
};

/**
 * 5. Writable: no replication configuration left and overwrite protection out of REPLICATING.
 * A deletion in progress is progress, not a failure; a deletion on both sides that cannot finish
 * because the other region is silent halts the failover with the way out.
 */
export const waitWritable: DrStep = {
  name: "wait-writable",
  title: "Wait until the target is writable",
  async run({ deps, state, progress, signal }) {
    const plan = planOf(state);
    const { a, b } = sites(deps, plan.from, plan.to);
    const started = Date.now();
    const patience = deps.config.failover.writableTimeout;
    for (let round = 0; ; round++) {
      const [replication, fs] = await Promise.all([
        deps.efs.describeReplication(b.efs.region, b.efs.fileSystemId),
        deps.efs.describeFileSystem(b.efs.region, b.efs.fileSystemId),
      ]);
      const elapsed = Date.now() - started;
      if (!replication && fs.overwriteProtection !== "REPLICATING") {
        return {
          detail: md`${fs.fileSystemId} is writable (overwrite protection ${fs.overwriteProtection}) after ${formatDuration(elapsed)}`,
        };
      }
      const status = replication?.destinations.map((d) => d.status).join(", ") || "present";
      if (replication?.destinations.some((d) => d.status === "ERROR")) {
        throw new DrbotError(
          "conflict",
          "failover.replication_error",
          md`The replication of ${b.efs.fileSystemId} is in ERROR.`,
          {
            hint: `Check it in the EFS console (${b.efs.region}); the failover resumes with /dr failover resume.`,
          },
        );
      }
      if (elapsed >= patience && state.replicationMode === "ALL_CONFIGURATIONS") {
        if (!(await regionAnswers(deps.efs, a.efs.region, a.efs.fileSystemId))) {
          throw new DrbotError(
            "conflict",
            "failover.deletion_stuck",
            md`The deletion of replication on both sides is still ${status} after ${formatDuration(elapsed)}, and ${a.efs.region} does not answer: AWS cannot finish it while that region is down, so ${b.efs.fileSystemId} will not become writable.`,
            {
              hint: "An approver runs `/dr failover resume <request-id>` (the id is on this card): drbot then plans the deletion on this side only (LOCAL_CONFIGURATION_ONLY), which needs a new two-person approval.",
            },
          );
        }
      }
      if (elapsed >= patience * 8) {
        throw new DrbotError(
          "conflict",
          "failover.not_writable",
          md`${b.efs.fileSystemId} is still not writable after ${formatDuration(elapsed)}: replication ${status}.`,
          {
            hint: `Check the replication in the EFS console (${b.efs.region}); /dr failover resume waits again.`,
          },
        );
      }
      progress(md`replication ${status}, ${formatDuration(elapsed)} so far (deleting takes minutes on AWS)`);
      await pause(pollDelay(round, deps.timing.pollMs), signal);
    }
  },
};

failover.steps = [
  stopReplication,
  waitWritable,
  applyStep,
  commitStep(failover, "Record the manifests and the DR state in Git"),
  recordStep("Make the target the active site"),
];

export const failoverJob = drJob(failover);
export { failover };

export function leftOutLines(moves: {
  excluded: ReadonlyArray<{ path: string; reason: string }>;
  differing: ReadonlyArray<{ path: string; differences: string[] }>;
}): Mrkdwn[] {
  const out: Mrkdwn[] = [];
  if (moves.differing.length > 0) {
    out.push(
      md`:warning: *${moves.differing.length} differ from what drbot recorded* and will NOT be applied: ${new Mrkdwn(
        moves.differing
          .slice(0, 5)
          .map((d) => md`${code(d.path)} (${d.differences.slice(0, 3).join("; ")})`.text)
          .join("; "),
      )}${moves.differing.length > 5 ? "; …" : ""}`,
    );
  }
  if (moves.excluded.length > 0) {
    out.push(
      md`*Left out* ${moves.excluded.length}: ${new Mrkdwn(
        moves.excluded
          .slice(0, 5)
          .map((e) => md`${code(e.path)} (${e.reason})`.text)
          .join("; "),
      )}${moves.excluded.length > 5 ? "; …" : ""}`,
    );
  }
  return out;
}
