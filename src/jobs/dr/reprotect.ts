// `/dr reprotect`: after a failover, make the other site's file system the replication
// destination of the active one again. The writes the failover could not carry (files on the
// old site changed after the last replication before the cut-over) are copied aside first, into
// .drbot-rescued on the active site, because creating the replication overwrites the old site.
// Its point of no return is that creation.

import { otherSite } from "../../core/dr-record.ts";
import { formatDuration } from "../../core/duration.ts";
import { DrbotError, errorMessage } from "../../core/errors.ts";
import { code, Mrkdwn, md } from "../../core/mrkdwn.ts";
import { pathSegments, type SiteName } from "../../core/paths.ts";
import type { EfsPort } from "../../core/ports/efs.ts";
import { pause, pollDelay } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import {
  commitStep,
  type DrOperation,
  type DrStep,
  drJob,
  nextRecord,
  planOf,
  recordStep,
} from "./engine.ts";
import { digestOf } from "./volumes.ts";

/** Folders of drbot's own under the root: never rescued, never walked for a data check. */
export const RESCUED_DIR = ".drbot-rescued";
export const TRASH_DIR = ".drbot-trash";
const OWN_DIRS = [RESCUED_DIR, TRASH_DIR];
const GI = 1024 ** 3;

const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MB`;

/** Whether replication from `source` to `destination` is configured, and its status there. */
export async function replicationStatus(
  efs: EfsPort,
  deps: JobDeps,
  source: SiteName,
  destination: SiteName,
): Promise<string | null> {
  const s = deps.config.sites[source].efs;
  const d = deps.config.sites[destination].efs;
  const r = await efs.describeReplication(s.region, s.fileSystemId);
  if (!r || r.sourceFileSystemId !== s.fileSystemId) return null;
  return r.destinations.find((x) => x.fileSystemId === d.fileSystemId)?.status ?? null;
}

const reprotect: DrOperation = {
  kind: "reprotect",
  title: () => "DR re-protect",
  command: () => "/dr reprotect",

  async plan(ctx) {
    const { deps, envelope } = ctx;
    const record = await deps.dr.record();
    const active = record.activeSite;
    const other = otherSite(active);
    const a = deps.config.sites[active];
    const o = deps.config.sites[other];
    const problems: Mrkdwn[] = [];
    const notes: Mrkdwn[] = [];
    try {
      const r = await deps.efs.describeReplication(a.efs.region, a.efs.fileSystemId);
      if (r?.sourceFileSystemId === a.efs.fileSystemId) {
        const dest = r.destinations[0];
        problems.push(
          md`The active file system ${a.efs.fileSystemId} already replicates to ${dest?.fileSystemId} (${dest?.region}), ${dest?.status}: it is protected. \`/dr status\` shows the lag.`,
        );
      } else if (r) {
        problems.push(
          md`The active file system ${a.efs.fileSystemId} is itself a replica of ${r.sourceFileSystemId} (${r.sourceRegion}); a failover must make it writable first.`,
        );
      }
    } catch (err) {
      problems.push(
        md`The active file system's replication could not be read in ${a.efs.region}: ${errorMessage(err)}`,
      );
    }
    let otherState = "unknown";
    try {
      const fs = await deps.efs.describeFileSystem(o.efs.region, o.efs.fileSystemId);
      otherState = `${fs.lifeCycleState}, overwrite protection ${fs.overwriteProtection}`;
      if (fs.lifeCycleState !== "available")
        problems.push(
          md`The ${other} file system ${fs.fileSystemId} is ${fs.lifeCycleState}, not available.`,
        );
    } catch (err) {
      problems.push(
        md`The ${other} file system ${o.efs.fileSystemId} (${o.efs.region}) does not answer: re-protecting needs its region back. ${errorMessage(err)}`,
      );
    }
    let leftover: { sourceFileSystemId: string; region: string } | null = null;
    try {
      const left = await deps.efs.describeReplication(o.efs.region, o.efs.fileSystemId);
      if (left) {
        leftover = { sourceFileSystemId: left.sourceFileSystemId, region: o.efs.region };
        notes.push(
          md`*Left over* on ${o.efs.fileSystemId}: a replication configuration ${left.sourceFileSystemId} → ${left.destinations.map((d) => d.fileSystemId).join(", ")} (${left.destinations.map((d) => d.status).join(", ")}), visible in ${o.efs.region}. It is removed first, in that region.`,
        );
      }
    } catch {
      // Reported above: the other region does not answer.
    }
    // The writes the failover could not carry.
    const since = record.replicatedUntil ?? null;
    const root = deps.config.volumes.rootDirectory;
    let rescue = { files: 0, bytes: 0, paths: [] as string[], since, beyondLimit: 0 };
    if (since && problems.length === 0) {
      ctx.progress(`looking for files changed on the ${other} site after ${since}`);
      const found = await deps.directories.findChangedSince(
        o.efs.mountPath,
        pathSegments(root),
        Date.parse(since),
        {
          skip: OWN_DIRS,
          keep: 20,
        },
      );
      const limit = deps.config.dr.rescueLimitGi * GI;
      rescue = { ...found, since, beyondLimit: Math.max(0, found.bytes - limit) };
    } else if (!since) {
      notes.push(
        md`The time of the last replication before the cut-over is not recorded, so writes on the ${other} site after it cannot be told apart: nothing is rescued.`,
      );
    }
    const target = `${root}/${RESCUED_DIR}/${envelope.requestId}/`;
    const digest = digestOf({
      kind: "reprotect",
      from: active,
      to: other,
      source: a.efs.fileSystemId,
      destination: o.efs.fileSystemId,
      leftover,
      rescue: [rescue.files, rescue.bytes, rescue.paths],
    });
    const lines = [
      md`*Protect* the active ${active} site: replicate ${a.efs.fileSystemId} (${a.efs.region}) to ${o.efs.fileSystemId} (${o.efs.region}). *What is on ${o.efs.fileSystemId} now is overwritten* by the copy.`,
      md`*${other} file system* ${o.efs.fileSystemId}: ${otherState}.`,
      rescue.files > 0
        ? md`*Writes the failover could not carry*: ${rescue.files} file(s), ${mb(rescue.bytes)}, changed on the ${other} site after ${since}; copied to the ${active} site at ${code(target)} (mode and times kept) before anything is overwritten: ${new Mrkdwn(rescue.paths.map((p) => code(p).text).join(", "))}${rescue.files > rescue.paths.length ? ", …" : ""}`
        : md`*Writes the failover could not carry*: none found${since ? ` after ${since}` : ""}.`,
      ...(rescue.beyondLimit > 0
        ? [
            md`:warning: *Beyond the rescue limit* (${deps.config.dr.rescueLimitGi} GiB): about ${mb(rescue.beyondLimit)} will NOT be copied and is lost when replication overwrites ${o.efs.fileSystemId}. Approving accepts that.`,
          ]
        : []),
      md`*Steps* ${leftover ? "remove the left-over configuration, " : ""}rescue, overwrite protection DISABLED on ${o.efs.fileSystemId} (${o.efs.region}), create the replication in ${a.efs.region}, wait until it is ENABLED (up to ${formatDuration(deps.config.dr.reprotectTimeout)}), record the direction in Git.`,
      ...notes.map((n) => md`• ${n}`),
    ];
    return {
      plan: {
        digest,
        from: active,
        to: other,
        lines: lines.map((l) => l.text),
        volumes: 0,
        excluded: [],
        differing: [],
        lagSeconds: null,
        leftover,
        rescue,
      },
      problems,
    };
  },

  confirm: (plan) =>
    md`This overwrites the ${plan.to} file system with a copy of the ${plan.from} one (plan \`${plan.digest}\`), after rescuing ${plan.rescue?.files ?? 0} file(s).`,

  steps: [] as DrStep[],
  pointOfNoReturn: "create-replication",

  async commit(ctx) {
    const plan = planOf(ctx.state);
    const a = ctx.deps.config.sites[plan.from].efs;
    const o = ctx.deps.config.sites[plan.to].efs;
    return {
      files: [],
      message: `Re-protect: replicate ${a.fileSystemId} (${a.region}) to ${o.fileSystemId} (${o.region})`,
      record: nextRecord(ctx, {
        activeSite: plan.from,
        replication: { source: plan.from, destination: plan.to },
      }),
    };
  },

  async progressNote(envelope) {
    const s = envelope.steps;
    return s["create-replication"]?.status === "done"
      ? "replication created, not yet recorded"
      : "about to create the replication";
  },

  summarize(envelope) {
    const { state } = envelope;
    const plan = state.plan;
    const r = state.rescued;
    return [
      md`*Protected*: the ${plan?.from} site replicates to the ${plan?.to} site again (ENABLED).`,
      r
        ? md`*Rescued* ${r.files} file(s), ${mb(r.bytes)} into ${code(`.drbot-rescued/${envelope.requestId}/`)} on the ${plan?.from} site${r.beyondLimit > 0 ? `; ${r.beyondLimit} file(s) beyond the limit were not copied` : ""}.`
        : md`*Rescued* nothing.`,
      state.commitUrl
        ? md`*Git* ${new Mrkdwn(`<${state.commitUrl}|dr/state.yaml>`)} records the direction.`
        : md`*Git* already recorded.`,
      md`*Next*: look through the rescued files with the teams that own them; a planned move back (\`/dr failback\` or \`/dr switchover\`) is possible once the lag is below the objective.`,
    ];
  },
};

/** Copies the writes the failover could not carry aside, onto the active site. */
const rescueStep: DrStep = {
  name: "rescue",
  title: "Rescue the writes the failover could not carry",
  async run({ deps, state, envelope }) {
    const plan = planOf(state);
    const since = plan.rescue?.since;
    if (!since || (plan.rescue?.files ?? 0) === 0) return { skipped: "nothing to rescue" };
    const root = pathSegments(deps.config.volumes.rootDirectory);
    const result = await deps.directories.copyChangedSince(
      deps.config.sites[plan.to].efs.mountPath,
      root,
      Date.parse(since),
      {
        root: deps.config.sites[plan.from].efs.mountPath,
        segments: [...root, RESCUED_DIR, envelope.requestId],
      },
      { skip: OWN_DIRS, limitBytes: deps.config.dr.rescueLimitGi * GI },
    );
    state.rescued = {
      files: result.files + result.skipped,
      bytes: result.bytes,
      beyondLimit: result.beyondLimit,
    };
    return {
      detail: md`${result.files} copied${result.skipped > 0 ? `, ${result.skipped} already there` : ""} (${mb(result.bytes)})${result.beyondLimit > 0 ? `, ${result.beyondLimit} beyond the limit not copied` : ""}`,
    };
  },
};

/** A configuration left on the other file system (after a one-sided deletion), removed in its region. */
const removeLeftover: DrStep = {
  name: "remove-leftover",
  title: "Remove the left-over replication configuration",
  async run({ deps, state, progress, signal }) {
    const plan = planOf(state);
    if (!plan.leftover) return { skipped: "none" };
    const o = deps.config.sites[plan.to].efs;
    const result = await deps.efs.ensureReplicationDeleted(
      plan.leftover.region,
      plan.leftover.sourceFileSystemId,
      "LOCAL_CONFIGURATION_ONLY",
    );
    const deadline = Date.now() + deps.config.dr.reprotectTimeout;
    for (let round = 0; await deps.efs.describeReplication(o.region, o.fileSystemId); round++) {
      if (Date.now() >= deadline)
        throw new DrbotError(
          "conflict",
          "reprotect.leftover_stuck",
          md`The left-over configuration on ${o.fileSystemId} is still there.`,
          {
            hint: `Check it in the EFS console (${o.region}), then ask again.`,
          },
        );
      progress("waiting for the configuration to go");
      await pause(pollDelay(round, deps.timing.pollMs), signal);
    }
    return { detail: result === "not-found" ? "already gone" : md`removed in ${plan.leftover.region}` };
  },
};

/** Overwrite protection DISABLED on a file system, so it may become a replication destination. */
export function disableProtectionStep(
  name: string,
  which: (plan: ReturnType<typeof planOf>) => SiteName,
): DrStep {
  return {
    name,
    title: "Disable overwrite protection on the destination",
    async run({ deps, state }) {
      const site = which(planOf(state));
      const { region, fileSystemId } = deps.config.sites[site].efs;
      await deps.efs.ensureOverwriteProtection(region, fileSystemId, "DISABLED");
      return { detail: md`${fileSystemId} (${region}): overwrite protection DISABLED` };
    },
  };
}

/** CreateReplicationConfiguration in the source's region, to the existing destination file system. */
export function createReplicationStep(
  name: string,
  direction: (plan: ReturnType<typeof planOf>) => [SiteName, SiteName],
): DrStep {
  return {
    name,
    title: "Create the replication",
    async run({ deps, state }) {
      const [source, destination] = direction(planOf(state));
      const s = deps.config.sites[source].efs;
      const d = deps.config.sites[destination].efs;
      const result = await deps.efs.ensureReplication(s.region, s.fileSystemId, {
        region: d.region,
        fileSystemId: d.fileSystemId,
      });
      return {
        detail: md`${s.fileSystemId} (${s.region}) → ${d.fileSystemId} (${d.region}) ${result === "created" ? "created" : "already configured"}`,
      };
    },
  };
}

/** Waits until the new replication reports ENABLED (its first copy can take long on AWS). */
export function waitEnabledStep(
  name: string,
  direction: (plan: ReturnType<typeof planOf>) => [SiteName, SiteName],
): DrStep {
  return {
    name,
    title: "Wait until the replication is ENABLED",
    async run({ deps, state, progress, signal }) {
      const [source, destination] = direction(planOf(state));
      const started = Date.now();
      const deadline = started + deps.config.dr.reprotectTimeout;
      for (let round = 0; ; round++) {
        const status = await replicationStatus(deps.efs, deps, source, destination);
        if (status === "ENABLED") {
          state.protectedAt = Date.now();
          return { detail: md`ENABLED after ${formatDuration(Date.now() - started)}` };
        }
        if (status === "ERROR" || status === null) {
          throw new DrbotError(
            "conflict",
            "replication.not_enabled",
            md`The replication ${source} → ${destination} is ${status ?? "gone"}.`,
            { hint: "Check it in the EFS console; resuming waits again." },
          );
        }
        if (Date.now() >= deadline) {
          throw new DrbotError(
            "conflict",
            "replication.enable_timeout",
            md`The replication ${source} → ${destination} is still ${status} after ${formatDuration(Date.now() - started)}.`,
            { hint: "Large file systems take long to copy the first time; resuming waits again." },
          );
        }
        progress(md`${status} for ${formatDuration(Date.now() - started)}`);
        await pause(pollDelay(round, deps.timing.pollMs), signal);
      }
    },
  };
}

reprotect.steps = [
  rescueStep,
  removeLeftover,
  disableProtectionStep("disable-protection", (p) => p.to),
  createReplicationStep("create-replication", (p) => [p.from, p.to]),
  waitEnabledStep("wait-enabled", (p) => [p.from, p.to]),
  commitStep(reprotect, "Record the replication direction in Git"),
  recordStep("Record the new DR state"),
];

export const reprotectJob = drJob(reprotect);
