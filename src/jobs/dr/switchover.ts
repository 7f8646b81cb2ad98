// `/dr switchover` (and `/dr failback`, the same from the secondary back to the primary): a
// planned move of the active site with no lost writes. Stop the writers, wait until replication
// has synced after the stop (the proof: LastReplicatedTimestamp later than the stop), then delete
// replication, apply every recorded volume on the target, record it, and protect in reverse.
// Its point of no return is the deletion of replication.

import { otherSite } from "../../core/dr-record.ts";
import { formatDuration } from "../../core/duration.ts";
import { DrbotError, errorMessage } from "../../core/errors.ts";
import { code, Mrkdwn, md } from "../../core/mrkdwn.ts";
import type { Workload } from "../../core/ports/cluster.ts";
import { pause, pollDelay } from "../../core/steps.ts";
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
import { leftOutLines, regionAnswers, waitWritable } from "./failover.ts";
import { createReplicationStep, disableProtectionStep, waitEnabledStep } from "./reprotect.ts";
import { digestOf, listRecorded, planVolumeMoves } from "./volumes.ts";

const switchover: DrOperation = {
  kind: "switchover",
  title: (input) => (input.failback ? "DR failback" : "DR switchover"),
  command: (input) => (input.failback ? "/dr failback" : "/dr switchover"),

  async plan(ctx) {
    const { deps, input } = ctx;
    const record = await deps.dr.record();
    const from = record.activeSite;
    const to = otherSite(from);
    const a = deps.config.sites[from];
    const b = deps.config.sites[to];
    const problems: Mrkdwn[] = [];
    if (input.failback && from !== "secondary") {
      problems.push(
        md`The primary site is already active; a failback moves from the secondary back to the primary.`,
      );
    }
    let lag: number | null = null;
    try {
      const r = await deps.efs.describeReplication(a.efs.region, a.efs.fileSystemId);
      const dest =
        r?.sourceFileSystemId === a.efs.fileSystemId
          ? r.destinations.find((d) => d.fileSystemId === b.efs.fileSystemId)
          : undefined;
      if (!dest) {
        problems.push(
          md`Nothing replicates from the active ${from} file system ${a.efs.fileSystemId} to ${b.efs.fileSystemId}: a planned move would lose data. Run \`/dr reprotect\` first.`,
        );
      } else {
        if (dest.status !== "ENABLED")
          problems.push(
            md`The replication to ${b.efs.fileSystemId} is ${dest.status}, not ENABLED; wait for it.`,
          );
        if (dest.lastReplicatedTimestamp)
          lag = Math.max(0, Math.round((Date.now() - dest.lastReplicatedTimestamp.getTime()) / 1000));
        const objective = deps.config.dr.rpoObjective;
        if (lag === null || lag * 1000 > objective)
          problems.push(
            md`The replication lag is ${lag === null ? "unknown" : formatDuration(lag * 1000)}, above the objective of ${formatDuration(objective)}: a planned move waits until replication has caught up (\`/dr status\` shows the lag).`,
          );
      }
    } catch (err) {
      problems.push(md`The replication could not be read in ${a.efs.region}: ${errorMessage(err)}`);
    }
    for (const [site, s] of [
      [from, a],
      [to, b],
    ] as const) {
      if (!(await regionAnswers(deps.efs, s.efs.region, s.efs.fileSystemId)))
        problems.push(
          md`The ${site} region ${s.efs.region} does not answer; a planned move needs both (in an outage, use \`/dr failover\`).`,
        );
      try {
        await deps.clusters[site].version();
      } catch (err) {
        problems.push(md`The ${site} cluster ${s.cluster.name} does not answer: ${errorMessage(err)}`);
      }
    }
    let writers: Workload[] = [];
    const recorded = problems.length === 0 ? await listRecorded(deps, from) : [];
    if (problems.length === 0) {
      const claims = new Set(recorded.map((e) => `${e.id.namespace}/${e.id.pvcName}`));
      const namespaces = [...new Set(recorded.map((e) => e.id.namespace))];
      writers = (await deps.clusters[from].listWorkloads(namespaces)).filter(
        (w) => w.replicas > 0 && w.claims.some((c) => claims.has(`${w.namespace}/${c}`)),
      );
    }
    ctx.progress("reading the recorded manifests from Git");
    const moves =
      problems.length === 0
        ? await planVolumeMoves(deps, from, to, {
            dryRun: true,
            progress: ctx.progress,
            ...(ctx.input.dryRun ? {} : { store: ctx.envelope.requestId }),
          })
        : { volumes: [], excluded: [], differing: [] };
    const digest = digestOf({
      kind: "switchover",
      from,
      to,
      writers: writers.map((w) => [w.kind, w.namespace, w.name, w.replicas]),
      volumes: moves.volumes.map((v) => [v.path, v.sha]),
      excluded: moves.excluded.map((e) => e.path),
      differing: moves.differing.map((d) => d.path),
    });
    const writerList = writers.map((w) => code(`${w.kind}/${w.namespace}/${w.name}×${w.replicas}`).text);
    const lines = [
      md`*Move* the active site from *${a.cluster.name}* (${a.efs.fileSystemId}, ${a.efs.region}) to *${b.cluster.name}* (${b.efs.fileSystemId}, ${b.efs.region}) with ${moves.volumes.length} volume(s), *losing no writes*.`,
      md`*Writers stopped* (scaled to 0, left at 0 for your deploy process to start on the ${to} site): ${writers.length === 0 ? "none found" : new Mrkdwn(writerList.slice(0, 20).join(", ") + (writerList.length > 20 ? ", …" : ""))}.`,
      md`*Replication* lag now ${lag === null ? "unknown" : formatDuration(lag * 1000)}; after the writers stop, drbot waits until a replication completes after the stop (up to ${formatDuration(deps.config.dr.syncTimeout)}) — the proof that nothing is lost.`,
      md`*Steps* stop the writers, wait for the final sync, delete replication through ${b.efs.region}, wait until ${b.efs.fileSystemId} is writable, apply the volumes to ${b.cluster.name}, protect in reverse (${b.efs.fileSystemId} → ${a.efs.fileSystemId}), record it all in one commit.`,
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
        lagSeconds: lag,
        deletionMode: "ALL_CONFIGURATIONS",
        writers: writers.map((w) => ({
          kind: w.kind,
          namespace: w.namespace,
          name: w.name,
          replicas: w.replicas,
        })),
      },
      problems,
    };
  },

  confirm: (plan) =>
    md`This stops ${plan.writers?.length ?? 0} workload(s) on the ${plan.from} site and moves ${plan.volumes} volume(s) to the ${plan.to} site (plan \`${plan.digest}\`).`,

  stillValid: (ctx) => planStillCurrent(ctx, switchover.command(ctx.input)),

  steps: [] as DrStep[],
  pointOfNoReturn: "delete-replication",

  async commit(ctx) {
    const { deps, state, envelope } = ctx;
    const plan = planOf(state);
    const volumes = await appliedManifests(deps, envelope.requestId);
    const b = deps.config.sites[plan.to];
    return {
      files: volumes,
      message: [
        `${ctx.input.failback ? "Fail back" : "Switch over"} ${volumes.length} volume${volumes.length === 1 ? "" : "s"} to ${b.cluster.name} (${b.efs.fileSystemId}), no writes lost`,
        "",
        `Writers stopped at ${state.stoppedAt ? new Date(state.stoppedAt).toISOString() : "?"}; replication completed at ${state.syncedAt ? new Date(state.syncedAt).toISOString() : "?"}.`,
        `Replication now ${plan.to} -> ${plan.from}.`,
      ].join("\n"),
      record: nextRecord(ctx, {
        activeSite: plan.to,
        replication: { source: plan.to, destination: plan.from },
      }),
    };
  },

  async progressNote(envelope, deps) {
    const applied = (await deps.operations.applied(envelope.requestId)).size;
    const git = envelope.steps.commit?.status === "done" ? "Git recorded" : "Git not recorded";
    return `replication deleted, ${applied}/${envelope.state.plan?.volumes ?? "?"} volumes applied, ${git}; writers left at 0`;
  },

  summarize(envelope) {
    const { state } = envelope;
    const plan = state.plan;
    const t = state.stoppedAt ? new Date(state.stoppedAt).toISOString() : "?";
    const synced = state.syncedAt ? new Date(state.syncedAt).toISOString() : "?";
    const downtime = state.stoppedAt
      ? formatDuration(Date.now() - (state.stoppedAt - (state.writersStoppedAfterMs ?? 0)))
      : "?";
    const left = state.scaled ?? [];
    return [
      md`*Data loss*: none — the writers stopped at ${t} and replication completed at ${synced}, after the stop.`,
      md`*Moved* ${state.applied ?? 0} of ${plan?.volumes ?? 0} volumes to the ${plan?.to} site; it is the active site, replicating to the ${plan?.from} site.`,
      md`*Writers' downtime* so far ${downtime}. ${left.length === 0 ? "No workload was stopped." : new Mrkdwn(`Left at 0 on the ${plan?.from} cluster (previous replicas): ${left.map((w) => code(`${w.kind}/${w.namespace}/${w.name}=${w.replicas}`).text).join(", ")}.`)}`,
      state.commitUrl
        ? md`*Git* ${new Mrkdwn(`<${state.commitUrl}|one commit>`)} with the ${plan?.to} manifests and dr/state.yaml.`
        : md`*Git* already recorded.`,
      md`*Next*: start the applications on the ${plan?.to} cluster with your deploy process and move traffic.`,
    ];
  },
};

/** Scales every writer to 0 through the scale subresource and waits until none runs. */
const stopWriters: DrStep = {
  name: "stop-writers",
  title: "Stop the writers",
  async run({ deps, state, progress, signal }) {
    const plan = planOf(state);
    const cluster = deps.clusters[plan.from];
    // The replicas to restore are the planned ones, remembered once (a rerun sees 0).
    state.scaled ??= plan.writers ?? [];
    const started = Date.now();
    for (const w of state.scaled) await cluster.scale(w.kind, w.namespace, w.name, 0);
    const deadline = started + deps.config.dr.stopWritersTimeout;
    const watched = new Set(state.scaled.map((w) => `${w.kind}/${w.namespace}/${w.name}`));
    const namespaces = [...new Set(state.scaled.map((w) => w.namespace))];
    for (let round = 0; watched.size > 0; round++) {
      const running = (await cluster.listWorkloads(namespaces)).filter(
        (w) => watched.has(`${w.kind}/${w.namespace}/${w.name}`) && w.statusReplicas > 0,
      );
      if (running.length === 0) break;
      if (Date.now() >= deadline) {
        throw new DrbotError(
          "conflict",
          "switchover.writers_running",
          md`${running.length} writer(s) still run after ${formatDuration(Date.now() - started)}: ${running.map((w) => `${w.kind}/${w.namespace}/${w.name}`).join(", ")}.`,
          {
            hint: "Check what keeps them running (an autoscaler, an operator); nothing was deleted. Ask again when they stop.",
          },
        );
      }
      progress(md`${running.length} writer(s) still running`);
      await pause(pollDelay(round, deps.timing.pollMs), signal);
    }
    state.stoppedAt ??= Date.now();
    state.writersStoppedAfterMs = state.stoppedAt - started;
    return {
      detail: md`${state.scaled.length} workload(s) at 0 replicas since ${new Date(state.stoppedAt).toISOString()}`,
    };
  },
};

/** The proof that no write is lost: a replication that completed after the writers stopped. */
const waitSync: DrStep = {
  name: "wait-sync",
  title: "Wait for the final sync",
  async run({ deps, state, progress, signal }) {
    const plan = planOf(state);
    const a = deps.config.sites[plan.from].efs;
    const b = deps.config.sites[plan.to].efs;
    const stoppedAt = state.stoppedAt ?? Date.now();
    const deadline = Date.now() + deps.config.dr.syncTimeout;
    for (let round = 0; ; round++) {
      const r = await deps.efs.describeReplication(a.region, a.fileSystemId);
      const last = r?.destinations.find((d) => d.fileSystemId === b.fileSystemId)?.lastReplicatedTimestamp;
      if (last && last.getTime() > stoppedAt) {
        state.syncedAt = last.getTime();
        return {
          detail: md`replication completed at ${last.toISOString()}, after the stop at ${new Date(stoppedAt).toISOString()}`,
        };
      }
      if (Date.now() >= deadline) {
        throw new DrbotError(
          "conflict",
          "switchover.no_sync",
          md`No replication completed after the writers stopped (${new Date(stoppedAt).toISOString()}) within ${formatDuration(deps.config.dr.syncTimeout)}; the last was ${last?.toISOString() ?? "never"}.`,
          {
            hint: "Nothing was deleted; the writers are at 0. Scale them back if you give up, or ask again.",
          },
        );
      }
      progress(
        md`last replicated ${last?.toISOString() ?? "never"}; waiting for one after ${new Date(stoppedAt).toISOString()}`,
      );
      await pause(pollDelay(round, deps.timing.pollMs), signal);
    }
  },
};

/** Through the target's region, on both sides: both regions answer in a planned move. */
const deleteReplication: DrStep = {
  name: "delete-replication",
  title: "Delete replication",
  async run({ deps, state }) {
    const plan = planOf(state);
    const a = deps.config.sites[plan.from].efs;
    const b = deps.config.sites[plan.to].efs;
    state.replicationMode = "ALL_CONFIGURATIONS";
    const current = await deps.efs.describeReplication(b.region, b.fileSystemId);
    if (!current) return { skipped: md`no replication configuration left on ${b.fileSystemId}` };
    if (current.destinations.some((d) => d.status === "DELETING"))
      return { detail: "deletion already under way" };
    const result = await deps.efs.ensureReplicationDeleted(b.region, a.fileSystemId, "ALL_CONFIGURATIONS");
    return result === "not-found"
      ? { skipped: "replication was already deleted" }
      : { detail: md`deletion of ${a.fileSystemId} → ${b.fileSystemId} requested through ${b.region}` };
  },
};

switchover.steps = [
  stopWriters,
  waitSync,
  deleteReplication,
  waitWritable,
  applyStep,
  disableProtectionStep("disable-protection", (p) => p.from),
  createReplicationStep("reverse-replication", (p) => [p.to, p.from]),
  waitEnabledStep("wait-enabled", (p) => [p.to, p.from]),
  commitStep(switchover, "Record the manifests and the DR state in Git"),
  recordStep("Make the target the active site"),
];

export const switchoverJob = drJob(switchover);
