// `/dr failover`: plan, two-person approval, then the failover itself. Every step can run again
// after a crash: the gate re-reads the approval record, replication deletion treats "already
// gone" as done, each volume is applied once and checkpointed, and the commit is content-checked.

import { describePrincipals } from "../../core/authorize.ts";
import { formatDuration } from "../../core/duration.ts";
import { DrbotError, errorMessage, isTransient } from "../../core/errors.ts";
import { parseManifests } from "../../core/manifests.ts";
import { mapLimit } from "../../core/map-limit.ts";
import { gitSiteDirectory, parseGitPath } from "../../core/paths.ts";
import { JobCancelled, pause, pollDelay, type Step } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import { approvalCard } from "./approval-card.ts";
import type { FailoverInput, FailoverState } from "./input.ts";
import { buildPlan } from "./plan.ts";

type FailoverStep = Step<FailoverInput, FailoverState, JobDeps>;
const DRY_RUN = { skipped: "dry run: plan only" };

function planOf(state: FailoverState) {
  if (!state.plan)
    throw new DrbotError(
      "internal",
      "failover.no_plan",
      "The failover lost its plan; run /dr failover again.",
    );
  return state.plan;
}

/** 1. No side effects: what would happen, and what may be lost. */
const plan: FailoverStep = {
  name: "plan",
  title: "Plan",
  async run({ input, deps, state, envelope, progress }) {
    const result = await buildPlan(deps, progress);
    if (result.problems.length > 0) {
      throw new DrbotError(
        "conflict",
        "failover.plan_blocked",
        `The failover is blocked: ${result.problems.join(" ")}`,
        {
          hint: "Fix these (or wait for the secondary to answer), then run /dr failover again. Nothing was changed.",
        },
      );
    }
    // A dry run only shows the plan; nothing else will read the per-volume data.
    if (!input.dryRun) await deps.failovers.savePlan(envelope.requestId, result.volumes);
    state.plan = result.summary;
    const lag =
      result.summary.lagSeconds === null
        ? "unknown lag"
        : `lag ${formatDuration(result.summary.lagSeconds * 1000)}`;
    return {
      detail: `${result.summary.volumes} volumes, ${result.summary.excluded.length} left out, ${lag}, digest ${result.summary.digest}`,
    };
  },
};

/** 2. Two distinct approvers, never the requester; the job waits without holding a worker. */
const approval: FailoverStep = {
  name: "approval",
  title: "Two-person approval",
  async run({ input, deps, state, envelope }) {
    if (input.dryRun) return DRY_RUN;
    const p = planOf(state);
    const policy = deps.config.approvals.failover;
    const id = envelope.requestId;
    let record = await deps.approvals.get(id);
    if (!record) {
      record = await deps.approvals.create({
        id,
        action: "failover",
        requester: envelope.requester.id,
        digest: p.digest,
        required: policy.required,
        createdAt: Date.now(),
        expiresAt: Date.now() + policy.expiresAfter,
        jobId: `dr-failover.${id}`,
        plan: p.lines,
        approversText: describePrincipals(policy.approvers),
        ...(envelope.origin.channel ? { channel: envelope.origin.channel } : {}),
      });
    }
    if (!record.ts && record.state === "pending") {
      const channel = envelope.origin.channel;
      if (!channel || !deps.notifier) {
        throw new DrbotError(
          "invalid",
          "failover.no_channel",
          "A failover needs a Slack channel for its approval card.",
        );
      }
      const card = approvalCard(record);
      const ref = await deps.notifier.deliver(
        `${id}:approval`,
        { channel, ts: undefined },
        card.text,
        card.blocks,
      );
      if (!ref)
        throw new DrbotError(
          "transient",
          "failover.card_not_posted",
          "The approval card could not be posted to Slack yet.",
        );
      // Clicks may have landed before the card's place was known: redraw it from the record.
      record = (await deps.approvals.setCard(id, ref.channel, ref.ts)) ?? record;
      if (record.approvals.length > 0 || record.state !== "pending") {
        const redrawn = approvalCard(record);
        await deps.notifier.deliver(`${id}:approval`, ref, redrawn.text, redrawn.blocks);
      }
      // From here on clicks redraw the card (the bot); this worker must not send stale copies.
      deps.notifier.forget(`${id}:approval`);
    }
    if (record.state === "pending" && Date.now() >= record.expiresAt) {
      record = (await deps.approvals.transition(id, "expire", "drbot")).record ?? record;
      if (record.channel && record.ts && deps.notifier) {
        const card = approvalCard(record);
        await deps.notifier.deliver(
          `${id}:approval`,
          { channel: record.channel, ts: record.ts },
          card.text,
          card.blocks,
        );
        deps.notifier.forget(`${id}:approval`);
      }
    }
    switch (record.state) {
      case "pending":
        // Clicks promote the job at once; waking every 30 s as well covers a click that lands
        // while the job is between reading the record and being put aside.
        return {
          park: {
            until: Math.min(record.expiresAt, Date.now() + 30_000),
            detail: `waiting for ${record.required - record.approvals.length} more approval(s) until ${new Date(record.expiresAt).toISOString().slice(11, 16)} UTC`,
          },
        };
      case "denied":
        throw new JobCancelled(
          `denied by <@${record.denial?.user}>${record.denial?.reason ? `: ${record.denial.reason}` : ""}; nothing was changed`,
        );
      case "expired":
        throw new JobCancelled(
          `the approval request expired with ${record.approvals.length}/${record.required} approvals; nothing was changed`,
        );
      case "cancelled":
        throw new JobCancelled(`cancelled by <@${record.requester}>; nothing was changed`);
      case "approved":
        break;
    }
    // Approved: re-check before anything destructive that it is this plan, by people who may.
    if (record.digest !== p.digest) {
      throw new DrbotError(
        "conflict",
        "failover.digest_mismatch",
        `The approved plan (${record.digest}) is not the plan about to run (${p.digest}).`,
        {
          hint: "Run /dr failover again and approve the new plan.",
        },
      );
    }
    const people = new Set(record.approvals.map((a) => a.user));
    if (people.size < policy.required || people.has(record.requester)) {
      throw new DrbotError(
        "forbidden",
        "failover.not_enough_approvers",
        "The approvals do not come from enough distinct people other than the requester.",
      );
    }
    for (const user of people) {
      if (!(await deps.authorizer.includes(policy.approvers, user))) {
        throw new DrbotError(
          "forbidden",
          "failover.approver_not_eligible",
          `<@${user}> approved but is no longer an eligible approver.`,
          {
            hint: "Run /dr failover again and have current approvers approve it.",
          },
        );
      }
    }
    state.approvedBy = [...people];
    return {
      detail: `approved by ${state.approvedBy.map((u) => `<@${u}>`).join(" and ")} (plan ${record.digest})`,
    };
  },
};

/** 3. One DR operation at a time; volume requests are refused while it holds the lock. */
/** How long a failover waits for volume requests already under way before it gives up. */
const VOLUME_DRAIN_MS = 3 * 60_000;

const lock: FailoverStep = {
  name: "lock",
  title: "Take the DR lock",
  async run({ input, deps, envelope, state, progress, signal }) {
    if (input.dryRun) return DRY_RUN;
    // The approval as recorded in Redis, not only this job's checkpoint, must match the plan.
    const record = await deps.approvals.get(envelope.requestId);
    if (record?.state !== "approved" || record.digest !== planOf(state).digest) {
      throw new DrbotError(
        "forbidden",
        "failover.not_approved",
        `The failover is not approved for plan ${planOf(state).digest} (the approval record says ${record?.state ?? "nothing"}).`,
        {
          hint: "Run /dr failover again and have two approvers approve it. Nothing was changed.",
        },
      );
    }
    if (!(await deps.dr.acquireDrLock(envelope.requestId))) {
      const holder = await deps.dr.drLockHolder();
      throw new DrbotError(
        "conflict",
        "failover.locked",
        `Another DR operation (${holder}) holds the lock.`,
        {
          hint: "Wait for it to finish (`/dr status`).",
        },
      );
    }
    // Volume requests refuse to start from now on; let those already under way finish, so the
    // check below sees everything they record.
    const deadline = Date.now() + VOLUME_DRAIN_MS;
    let round = 0;
    for (;;) {
      const running = await deps.volumeJobsInFlight();
      if (running.length === 0) break;
      if (Date.now() >= deadline) {
        throw new DrbotError(
          "conflict",
          "failover.volumes_in_flight",
          `${running.length} volume request(s) are still running (${running.slice(0, 5).join(", ")}).`,
          {
            hint: "Wait for their cards to finish (or fail), then run /dr failover again. Nothing was changed.",
          },
        );
      }
      progress(`waiting for ${running.length} volume request(s) to finish`);
      await pause(pollDelay(round++, deps.timing.pollMs), signal);
    }
    // The manifests must still be the ones that were approved.
    const planned = await deps.failovers.loadPlan(envelope.requestId);
    const now = await deps.git.listFiles(gitSiteDirectory(deps.config.git.directory, "primary"));
    const current = new Map(now.map((e) => [e.path, e.sha]));
    const changed = planned.filter((v) => current.get(v.path) !== v.sha).length;
    const known = new Set([...planned.map((v) => v.path), ...planOf(state).excluded.map((e) => e.path)]);
    const added = now.filter(
      (e) => parseGitPath(deps.config.git.directory, e.path) && !known.has(e.path),
    ).length;
    if (changed > 0 || added > 0) {
      throw new DrbotError(
        "conflict",
        "failover.plan_stale",
        `The recorded volumes changed since the plan was approved (${changed} changed, ${added} added).`,
        {
          hint: "Run /dr failover again so the approvers see the current plan. Nothing was changed.",
        },
      );
    }
    return { detail: `held by ${envelope.requestId}` };
  },
};

/** 4. Addressed to the secondary's region: the primary region may be the one that is down. */
const stopReplication: FailoverStep = {
  name: "stop-replication",
  title: "Stop replication",
  async run({ input, deps, state }) {
    if (input.dryRun) return DRY_RUN;
    const { secondary } = deps.config.sites;
    const region = secondary.efs.region;
    const current = await deps.efs.describeReplication(region, secondary.efs.fileSystemId);
    if (!current) {
      state.replicationMode ??= "already stopped";
      state.lagAtCutoverSeconds ??= planOf(state).lagSeconds;
      return { skipped: `no replication configuration left on ${secondary.efs.fileSystemId}` };
    }
    const dest = current.destinations.find((d) => d.fileSystemId === secondary.efs.fileSystemId);
    state.lagAtCutoverSeconds = dest?.lastReplicatedTimestamp
      ? Math.round((Date.now() - dest.lastReplicatedTimestamp.getTime()) / 1000)
      : planOf(state).lagSeconds;
    const mode = planOf(state).deletionMode;
    state.replicationMode = mode;
    if (dest?.status === "DELETING") return { detail: "deletion already under way" };
    // The approved mode only, never the irreversible one by guesswork. A transient failure is
    // retried; anything else stops here with the reason.
    const result = await deps.efs.ensureReplicationDeleted(region, current.sourceFileSystemId, mode);
    if (result === "not-found") {
      state.replicationMode = "already stopped";
      return { skipped: "replication was already deleted" };
    }
    return {
      detail: `deletion of ${current.sourceFileSystemId} → ${secondary.efs.fileSystemId} requested through ${region}${mode === "LOCAL_CONFIGURATION_ONLY" ? " (secondary side only, as approved: the primary region did not answer)" : ""}`,
    };
  },
};

/** 5. Writable means: no replication configuration left and overwrite protection out of REPLICATING. */
const waitWritable: FailoverStep = {
  name: "wait-writable",
  title: "Wait until the secondary is writable",
  async run({ input, deps, progress, signal }) {
    if (input.dryRun) return DRY_RUN;
    const { secondary } = deps.config.sites;
    const started = Date.now();
    const deadline = started + deps.config.failover.writableTimeout;
    let last = "";
    let round = 0;
    for (;;) {
      const [replication, fs] = await Promise.all([
        deps.efs.describeReplication(secondary.efs.region, secondary.efs.fileSystemId),
        deps.efs.describeFileSystem(secondary.efs.region, secondary.efs.fileSystemId),
      ]);
      if (!replication && fs.overwriteProtection !== "REPLICATING") {
        return {
          detail: `${fs.fileSystemId} is writable (overwrite protection ${fs.overwriteProtection}) after ${formatDuration(Date.now() - started)}`,
        };
      }
      last = replication
        ? `replication ${replication.destinations.map((d) => d.status).join(", ") || "present"}`
        : `overwrite protection still ${fs.overwriteProtection}`;
      if (Date.now() >= deadline) break;
      progress(`${last} (${formatDuration(Date.now() - started)})`);
      await pause(pollDelay(round++, deps.timing.pollMs), signal);
    }
    throw new DrbotError(
      "conflict",
      "failover.not_writable",
      `${secondary.efs.fileSystemId} is not writable after ${formatDuration(Date.now() - started)}: ${last}.`,
      {
        hint: `Check the replication of ${secondary.efs.fileSystemId} in the EFS console (${secondary.efs.region}). Running /dr failover again resumes from here; nothing was applied yet.`,
      },
    );
  },
};

/** 6. Each volume once, checkpointed in Redis; then every claim must bind. */
const apply: FailoverStep = {
  name: "apply",
  title: "Apply the volumes to the secondary cluster",
  async run({ input, deps, state, envelope, progress, signal }) {
    if (input.dryRun) return DRY_RUN;
    const id = envelope.requestId;
    const cluster = deps.clusters.secondary;
    const volumes = await deps.failovers.loadPlan(id);
    const applied = await deps.failovers.applied(id);
    const attention = await deps.failovers.attention(id);
    const todo = volumes.filter((v) => !applied.has(v.path) && !(v.path in attention));

    const namespaces = [...new Set(todo.map((v) => v.namespace))];
    await mapLimit(namespaces, deps.config.failover.applyConcurrency, async (ns) => {
      await cluster.ensureNamespace(ns);
    });
    let done = applied.size;
    await mapLimit(todo, deps.config.failover.applyConcurrency, async (v) => {
      try {
        const objects = parseManifests(v.manifest);
        for (const kind of ["PersistentVolume", "PersistentVolumeClaim"]) {
          for (const o of objects.filter((x) => x.kind === kind)) await cluster.apply(o);
        }
      } catch (err) {
        if (isTransient(err)) throw err; // the step is retried; applied volumes are skipped
        await deps.failovers.markAttention(id, v.path, errorMessage(err));
        return;
      }
      // Outside the catch: a Redis hiccup here retries the step, it does not mislabel the volume.
      await deps.failovers.markApplied(id, v.path);
      done++;
      if (done % 25 === 0 || done === volumes.length) progress(`applied ${done}/${volumes.length}`);
    });

    // Every applied claim must bind; one list call per round, however many volumes.
    progress("waiting for the claims to bind");
    const appliedNow = await deps.failovers.applied(id);
    const expected = volumes.filter((v) => appliedNow.has(v.path));
    const deadline = Date.now() + deps.config.failover.bindTimeout;
    let unbound = expected;
    let round = 0;
    for (;;) {
      // By name, not by label: manifests recorded before drbot (or from custom templates) may lack it.
      const pvs = await cluster.list("PersistentVolume");
      const bound = new Set(
        pvs
          .filter((p) => (p.status as { phase?: string } | undefined)?.phase === "Bound")
          .map((p) => p.metadata.name),
      );
      unbound = expected.filter((v) => !bound.has(v.pvName));
      if (unbound.length === 0 || Date.now() >= deadline) break;
      progress(`${expected.length - unbound.length}/${expected.length} claims bound`);
      await pause(pollDelay(round++, deps.timing.pollMs), signal);
    }
    for (const v of unbound) {
      await deps.failovers.markAttention(
        id,
        v.path,
        `PVC ${v.namespace}/${v.pvcName} not Bound after ${formatDuration(deps.config.failover.bindTimeout)}`,
      );
    }
    const needing = Object.keys(await deps.failovers.attention(id)).length;
    state.applied = expected.length;
    state.attention = needing;
    return {
      detail: `${expected.length}/${volumes.length} applied, ${expected.length - unbound.length} bound${needing > 0 ? `, ${needing} need attention` : ""}`,
    };
  },
};

/** 7. One commit for all volumes: one tree, one commit, one ref update. */
const commit: FailoverStep = {
  name: "commit",
  title: "Record the secondary manifests in Git",
  async run({ input, deps, state, envelope }) {
    if (input.dryRun) return DRY_RUN;
    const id = envelope.requestId;
    const applied = await deps.failovers.applied(id);
    const volumes = (await deps.failovers.loadPlan(id)).filter((v) => applied.has(v.path));
    if (volumes.length === 0) return { skipped: "no volume was applied" };
    const p = planOf(state);
    const { primary, secondary } = deps.config.sites;
    const message = [
      `Fail over ${volumes.length} volume${volumes.length === 1 ? "" : "s"} to ${secondary.cluster.name} (${secondary.efs.fileSystemId})`,
      "",
      `Replication ${primary.efs.fileSystemId} (${primary.efs.region}) -> ${secondary.efs.fileSystemId} (${secondary.efs.region}) stopped; last replicated ${state.lagAtCutoverSeconds == null ? "at an unknown time" : `${formatDuration(state.lagAtCutoverSeconds * 1000)} before the cut-over`}.`,
      "",
      `Drbot-Request: ${id}`,
      `Plan-Digest: ${p.digest}`,
      `Requested-by: ${envelope.requester.id}`,
      ...(state.approvedBy ?? []).map((u) => `Approved-by: ${u}`),
    ].join("\n");
    const result = await deps.git.commitFiles(
      volumes.map((v) => ({ path: v.secondaryPath, content: v.manifest })),
      message,
    );
    if (!result) return { skipped: "already recorded" };
    state.commitUrl = result.url;
    return { detail: `${volumes.length} files in one commit: ${result.url}` };
  },
};

/** 8. From now on, volume requests provision on the secondary site. */
const activate: FailoverStep = {
  name: "activate",
  title: "Make the secondary the active site",
  async run({ input, deps, envelope }) {
    if (input.dryRun) return DRY_RUN;
    await deps.dr.setActiveSite("secondary", envelope.requestId);
    return { detail: `${deps.config.sites.secondary.cluster.name} is now the active site` };
  },
};

export const failoverSteps: readonly FailoverStep[] = [
  plan,
  approval,
  lock,
  stopReplication,
  waitWritable,
  apply,
  commit,
  activate,
];
