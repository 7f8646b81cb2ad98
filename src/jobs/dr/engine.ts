// Every DR operation is one shape: a plan without side effects → a digest → a two-person
// approval → the DR lock → named, checkpointed steps → one Git commit (with dr/state.yaml) → the
// new DR state → an outcome. This module is that shape; failover.ts, reprotect.ts and
// switchover.ts are definitions over it. Past an operation's point of no return it is driven to
// its end: a step that fails for good halts it, holding the DR lock, until someone resumes it.

import { z } from "zod";
import type { DrRecord } from "../../core/dr-record.ts";
import { DR_STATE_PATH, serializeDrRecord } from "../../core/dr-record.ts";
import { formatDuration } from "../../core/duration.ts";
import { DrbotError } from "../../core/errors.ts";
import { Mrkdwn, md, mention } from "../../core/mrkdwn.ts";
import type { SiteName } from "../../core/paths.ts";
import type { ReplicationDeletionMode } from "../../core/ports/efs.ts";
import type { GitFile } from "../../core/ports/git.ts";
import {
  type Detail,
  type JobDefinition,
  type JobEnvelope,
  pause,
  pollDelay,
  type ResumeRequest,
  type Step,
  type StepContext,
} from "../../core/steps.ts";
import { actionNoun } from "../approval/card.ts";
import { approvedByText, checkApproved, passGate } from "../approval/gate.ts";
import type { JobDeps } from "../deps.ts";
import { jobIdFor, QUEUES } from "../queues.ts";
import { VOLUME_KINDS } from "../volumes/admission.ts";

export type DrKind = "failover" | "reprotect" | "switchover";

export const drInput = z.strictObject({
  /** Plan only: no approval, nothing changed. */
  dryRun: z.boolean(),
  /** A switchover that must go from the secondary back to the primary (`/dr failback`). */
  failback: z.boolean().optional(),
});
export type DrInput = z.output<typeof drInput>;

/** What approvers see and approve; its digest binds the approval to it. */
export interface DrPlan {
  digest: string;
  from: SiteName;
  to: SiteName;
  /** Shown on the approval card and in a dry run's summary (safe mrkdwn). */
  lines: string[];
  volumes: number;
  excluded: Array<{ path: string; reason: string }>;
  differing: Array<{ path: string; differences: string[] }>;
  /** Seconds since the last completed replication when planned; null when unknown. */
  lagSeconds: number | null;
  /** Failover: how replication will be deleted, decided at planning and approved with the plan. */
  deletionMode?: ReplicationDeletionMode;
  /** Re-protect: a replication configuration left on the other file system, to remove first. */
  leftover?: { sourceFileSystemId: string; region: string } | null;
  /** Re-protect: the writes the failover could not carry, and what will be rescued of them. */
  rescue?: { files: number; bytes: number; paths: string[]; since: string | null; beyondLimit: number };
  /** Switchover: the workloads that mount recorded claims on the active cluster. */
  writers?: Array<{ kind: "Deployment" | "StatefulSet"; namespace: string; name: string; replicas: number }>;
}

export interface DrJobState {
  plan?: DrPlan;
  approvedBy?: string[];
  /** When the DR lock was taken: the operation's time in the DR record (fixed, so retries agree). */
  lockedAt?: number;
  /** The approval of a resume whose plan changed, and what changed. */
  resumeApprovalId?: string;
  resumeBy?: string;
  resumeNeedsApproval?: boolean;
  /** Failover and switchover. */
  replicationMode?: ReplicationDeletionMode | "already stopped";
  /** A resume re-planned the deletion (the other region stayed silent): its approved mode. */
  resumeDeletionMode?: ReplicationDeletionMode;
  lagAtCutoverSeconds?: number | null;
  replicatedUntil?: string | null;
  applied?: number;
  attention?: number;
  /** Switchover. */
  scaled?: Array<{ kind: "Deployment" | "StatefulSet"; namespace: string; name: string; replicas: number }>;
  stoppedAt?: number;
  writersStoppedAfterMs?: number;
  syncedAt?: number;
  /** Re-protect (and the reverse protection of a switchover). */
  rescued?: { files: number; bytes: number; beyondLimit: number };
  protectedAt?: number;
  /** The one commit. */
  record?: DrRecord;
  commitUrl?: string | null;
}

export type DrStep = Step<DrInput, DrJobState, JobDeps>;
export type DrContext = StepContext<DrInput, DrJobState, JobDeps>;

export interface PlanOutcome {
  plan: DrPlan;
  /** Anything here blocks the operation, named for the requester. */
  problems: Mrkdwn[];
}

export interface ResumeReplan {
  /** What changed since the approval, one line each: the new approval's plan. */
  lines: Mrkdwn[];
  digest: string;
  /** Takes the changes into account once approved. */
  apply(ctx: DrContext): Promise<void>;
}

export interface DrOperation {
  kind: DrKind;
  /** "DR failover", "DR failback", … */
  title(input: DrInput): string;
  /** How the command is typed, for messages (e.g. "/dr failover"). */
  command(input: DrInput): string;
  plan(ctx: DrContext): Promise<PlanOutcome>;
  confirm(plan: DrPlan): Mrkdwn;
  /** The operation's own steps, ending with `commitStep(…)` and `recordStep()`. */
  steps: DrStep[];
  pointOfNoReturn: string;
  /** At the lock: the plan must still describe the world (e.g. the recorded manifests). */
  stillValid?(ctx: DrContext): Promise<void>;
  /** On a resume: what changed that needs a new two-person approval. */
  replanOnResume?(ctx: DrContext): Promise<ResumeReplan | undefined>;
  /** The files and the DR record of the one commit. */
  commit(ctx: DrContext): Promise<{ files: GitFile[]; message: string; record: DrRecord }>;
  /** Where a halted operation stands, in words, for /dr status and refusals. */
  progressNote(envelope: JobEnvelope<DrInput, DrJobState>, deps: JobDeps): Promise<string>;
  summarize(envelope: JobEnvelope<DrInput, DrJobState>): Detail[];
}

export function planOf(state: DrJobState): DrPlan {
  if (!state.plan) {
    throw new DrbotError("internal", "dr.no_plan", "The operation lost its plan; ask for it again.");
  }
  return state.plan;
}

const DRY_RUN = { skipped: "dry run: plan only" };

/**
 * GitHub requests one operation makes, whatever the fleet size: one archive of the recorded
 * manifests, one tree listing at the lock, and one commit (ref, commit, tree, commit, ref), with
 * room for a rebase. The plan refuses early when the budget cannot cover it.
 */
const GIT_REQUESTS_PER_OPERATION = 20;

/** How long the lock step waits for volume requests that had already applied objects. */
const volumeDrainMs = (deps: JobDeps) => deps.timing.bindTimeoutMs + 60_000;

export function drJob(op: DrOperation): JobDefinition<DrInput, DrJobState, JobDeps> {
  const queue = `dr-${op.kind}` as const;
  const planStep: DrStep = {
    name: "plan",
    title: "Plan",
    async run(ctx) {
      // A plan made again (a retried step) starts from nothing.
      if (!ctx.input.dryRun) await ctx.deps.operations.clearPlan(ctx.envelope.requestId);
      const { plan, problems } = await op.plan(ctx);
      const budget = ctx.deps.git.rateLimit();
      if (budget && budget.remaining < GIT_REQUESTS_PER_OPERATION) {
        problems.push(
          md`GitHub's REST budget for drbot's credentials has ${budget.remaining} of ${budget.limit} requests left until ${budget.resetAt.toISOString()}; this operation needs about ${GIT_REQUESTS_PER_OPERATION} (whatever the number of volumes).`,
        );
      }
      if (problems.length > 0) {
        throw new DrbotError(
          "conflict",
          `${op.kind}.plan_blocked`,
          new Mrkdwn(
            `The ${actionNoun(ctx.input.failback ? "failback" : op.kind)} is blocked: ${problems.map((p) => p.text).join(" ")}`,
          ),
          { hint: "Fix these, then ask again. Nothing was changed." },
        );
      }
      ctx.state.plan = plan;
      const lag = plan.lagSeconds === null ? "unknown lag" : `lag ${formatDuration(plan.lagSeconds * 1000)}`;
      const left = plan.excluded.length + plan.differing.length;
      return {
        detail: md`${plan.from} → ${plan.to}: ${plan.volumes} volumes${left > 0 ? `, ${left} left out` : ""}, ${lag}, digest ${plan.digest}`,
      };
    },
  };

  const approvalStep: DrStep = {
    name: "approval",
    title: "Two-person approval",
    async run(ctx) {
      if (ctx.input.dryRun) return DRY_RUN;
      const plan = planOf(ctx.state);
      const result = await passGate(ctx.deps, ctx.envelope, {
        approvalId: ctx.envelope.requestId,
        action: op.kind === "switchover" && ctx.input.failback ? "failback" : op.kind,
        title: op.title(ctx.input),
        policy: ctx.deps.config.approvals.failover,
        digest: plan.digest,
        lines: plan.lines,
        confirm: op.confirm(plan),
        jobId: jobIdFor(queue, ctx.envelope.requestId),
        queue: QUEUES[queue],
      });
      if ("park" in result) return result;
      ctx.state.approvedBy = result.approvedBy;
      return { detail: md`approved by ${approvedByText(result.approvedBy)} (plan ${plan.digest})` };
    },
  };

  const lockStep: DrStep = {
    name: "lock",
    title: "Take the DR lock",
    async run(ctx) {
      if (ctx.input.dryRun) return DRY_RUN;
      const { deps, envelope, state } = ctx;
      const plan = planOf(state);
      // The approval as stored in Redis, not only this job's checkpoint, must still hold.
      const record = await deps.approvals.get(envelope.requestId);
      if (!record) {
        throw new DrbotError("forbidden", "dr.not_approved", "The approval record is gone.", {
          hint: "Ask again and have two approvers approve it. Nothing was changed.",
        });
      }
      const applying = await deps.dr.acquireDrLock(envelope.requestId);
      if (applying === null) {
        const holder = await deps.dr.drLockHolder();
        throw new DrbotError("conflict", "dr.locked", md`Another DR operation (${holder}) holds the lock.`, {
          hint: "Wait for it to end (`/dr status`), then ask again. Nothing was changed.",
        });
      }
      state.lockedAt ??= Date.now();
      await deps.dr.setOperation({ id: envelope.requestId, kind: op.kind, status: "running" });
      await wakeVolumeRequests(deps);
      await waitForVolumeRequests(ctx, applying);
      // Right before the first destructive step: the approval as stored now, and the plan.
      const now = (await deps.approvals.get(envelope.requestId)) ?? record;
      await checkApproved(deps, now, { policy: deps.config.approvals.failover, digest: plan.digest });
      await op.stillValid?.(ctx);
      return { detail: md`held by ${envelope.requestId}; new volume requests are refused until it ends` };
    },
  };

  const resumeStep: DrStep = {
    name: "resume",
    title: "Check what changed before resuming",
    hidden: true,
    async run(ctx) {
      const { state, envelope, deps } = ctx;
      if (ctx.input.dryRun || !state.resumeBy) return { skipped: "not resumed" };
      const replan = await op.replanOnResume?.(ctx);
      if (!replan && !state.resumeNeedsApproval) {
        return {
          detail: md`resumed by ${mention(state.resumeBy)}, an approver of this request; nothing changed since the approval`,
        };
      }
      state.resumeApprovalId ??= `dr-${crypto.randomUUID().slice(0, 8)}`;
      const lines = [
        md`*Resume* ${op.title(ctx.input)} \`${envelope.requestId}\`, halted: ${envelope.steps[haltedStepOf(envelope)]?.detail ?? "see its card"}`
          .text,
        ...(
          replan?.lines ?? [
            md`Asked by ${mention(state.resumeBy)}, who did not approve the original request.`,
          ]
        ).map((l) => l.text),
      ];
      const digest = replan?.digest ?? planOf(state).digest;
      const result = await passGate(deps, envelope, {
        approvalId: state.resumeApprovalId,
        action: `${op.kind}-resume`,
        title: `Resume of the ${op.title(ctx.input)}`,
        policy: deps.config.approvals.failover,
        digest,
        lines,
        confirm: md`This resumes ${envelope.requestId} with the changes listed (digest \`${digest}\`).`,
        jobId: jobIdFor(queue, envelope.requestId),
        queue: QUEUES[queue],
      });
      if ("park" in result) return result;
      await replan?.apply(ctx);
      return {
        detail: md`resumed with a new approval by ${approvedByText(result.approvedBy)} (digest ${digest})`,
      };
    },
  };

  const wrap = (step: DrStep): DrStep => ({
    ...step,
    run: (ctx) => (ctx.input.dryRun ? Promise.resolve(DRY_RUN) : step.run(ctx)),
  });

  return {
    kind: queue,
    describe: (input) => `${op.title(input)}${input.dryRun ? " plan (dry run)" : ""}`,
    input: drInput,
    initialState: () => ({}),
    steps: [planStep, approvalStep, lockStep, resumeStep, ...op.steps.map(wrap)],
    pointOfNoReturn: op.pointOfNoReturn,
    summarize(envelope) {
      if (envelope.input.dryRun)
        return [md`*Plan* (nothing was changed):`, ...(envelope.state.plan?.lines ?? [])];
      return op.summarize(envelope);
    },
    nextSteps(envelope) {
      const again = op.command(envelope.input);
      if (envelope.halted) {
        return md`This ${op.title(envelope.input)} is past its point of no return and holds the DR lock, so volume requests are refused. Fix what the message names; then an approver of this request runs \`${again} resume ${envelope.requestId}\` to carry it to its end (it needs a new two-person approval if the plan changed). The thread has each step's log.`;
      }
      return md`Fix what the message names, then ask again with \`${again}\`; nothing was changed after a failure before the point of no return. The thread below has each step's log.`;
    },
    async takeResume(envelope, deps) {
      return deps.dr.takeResume(envelope.requestId);
    },
    onResume(envelope, request: ResumeRequest & { approver?: boolean }) {
      envelope.state.resumeBy = request.by;
      envelope.state.resumeNeedsApproval = request.approver !== true;
      delete envelope.state.resumeApprovalId;
      envelope.steps.resume = { status: "pending" };
    },
    async onHalt(envelope, deps) {
      const note = await op.progressNote(envelope, deps);
      await deps.dr.setOperation({ id: envelope.requestId, kind: op.kind, status: "incomplete", note });
      await deps.audit.record({
        event: "operation.halted",
        request: envelope.requestId,
        kind: op.kind,
        detail: `${note}; ${envelope.halted?.reason ?? ""}`.slice(0, 500),
      });
    },
    async onEnd(envelope, deps) {
      await deps.dr.releaseDrLock(envelope.requestId);
    },
  };
}

function haltedStepOf(envelope: JobEnvelope): string {
  return Object.entries(envelope.steps).find(([, r]) => r.status === "failed")?.[0] ?? "";
}

/**
 * Volume requests (creates, resizes, deletes) waiting or in back-off run now, so those that
 * changed nothing cancel at once.
 */
async function wakeVolumeRequests(deps: JobDeps): Promise<void> {
  for (const kind of VOLUME_KINDS) {
    const delayed = await deps.queues[kind].getJobs(["delayed"]);
    await Promise.all(delayed.map((j) => j.promote().catch(() => {})));
  }
}

/** Bounded: requests that had applied objects may finish; the operation is not their hostage. */
async function waitForVolumeRequests(ctx: DrContext, applying: readonly string[]): Promise<void> {
  const deadline = Date.now() + volumeDrainMs(ctx.deps);
  let pending = [...applying];
  for (let round = 0; pending.length > 0; round++) {
    const still = await Promise.all(pending.map((id) => ctx.deps.dr.isVolumeApplying(id)));
    pending = pending.filter((_, i) => still[i]);
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      ctx.log.warn({ pending }, "volume requests still under way; the DR operation goes on without them");
      return;
    }
    ctx.progress(
      md`waiting for ${pending.length} volume request(s) to finish (they had applied objects): ${pending.join(", ")}`,
    );
    await pause(pollDelay(round, ctx.deps.timing.pollMs), ctx.signal);
  }
}

/** The one commit: the operation's files and dr/state.yaml, with who asked and who approved. */
export function commitStep(op: DrOperation, title: string): DrStep {
  return {
    name: "commit",
    title,
    async run(ctx) {
      const { files, message, record } = await op.commit(ctx);
      ctx.state.record = record;
      const result = await ctx.deps.git.commitFiles(
        [...files, { path: DR_STATE_PATH, content: serializeDrRecord(record) }],
        [
          message,
          "",
          `Drbot-Request: ${ctx.envelope.requestId}`,
          `Plan-Digest: ${planOf(ctx.state).digest}`,
          `Requested-by: ${ctx.envelope.requester.id}`,
          ...(ctx.state.approvedBy ?? []).map((u) => `Approved-by: ${u}`),
        ].join("\n"),
      );
      ctx.state.commitUrl = result?.url ?? null;
      const count = md`${files.length} file${files.length === 1 ? "" : "s"} and ${DR_STATE_PATH}`;
      return result
        ? { detail: md`${count} in one commit: ${result.url}` }
        : { skipped: md`already recorded (${count})` };
    },
  };
}

/** The new DR state, in Redis (Git has it since the commit). */
export function recordStep(title: string): DrStep {
  return {
    name: "activate",
    title,
    async run({ deps, state }) {
      const record = state.record;
      if (!record) throw new DrbotError("internal", "dr.no_record", "The operation lost its DR record.");
      await deps.dr.setRecord(record);
      const direction = record.replication
        ? `replication ${record.replication.source} → ${record.replication.destination}`
        : "no replication (UNPROTECTED)";
      return {
        detail: md`active site: ${record.activeSite} (${deps.config.sites[record.activeSite].cluster.name}); ${direction}`,
      };
    },
  };
}

/** The DR record after an operation, with who asked and who approved. */
export function nextRecord(
  ctx: DrContext,
  fields: Pick<DrRecord, "activeSite" | "replication"> & Partial<DrRecord>,
): DrRecord {
  return {
    operation: ctx.envelope.input.failback ? "failback" : ctx.envelope.kind.replace(/^dr-/, ""),
    requestId: ctx.envelope.requestId,
    at: new Date(ctx.state.lockedAt ?? ctx.envelope.createdAt).toISOString(),
    requester: ctx.envelope.requester.id,
    approvers: ctx.state.approvedBy ?? [],
    ...fields,
  };
}
