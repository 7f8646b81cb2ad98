// An approval gate as a step: create the request (idempotent), post its card, park the job (no
// worker held) until clicks resolve it, and — once approved — check every requirement again
// with membership read fresh, right before the destructive steps that follow.

import { unmetRequirement } from "../../core/approval-requirements.ts";
import type { ApprovalRecord } from "../../core/approvals.ts";
import { describePrincipals } from "../../core/authorize.ts";
import type { Principals } from "../../core/config.ts";
import { DrbotError } from "../../core/errors.ts";
import { joinMd, type Mrkdwn, md, mention } from "../../core/mrkdwn.ts";
import { JobCancelled, type JobEnvelope, type StepResult } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import { approvalCard } from "./card.ts";

export interface ApprovalPolicy {
  required: number;
  approvers: Principals;
  expiresAfter: number;
}

export interface GateRequest {
  /** The approval record's id: the request id, or a new one for a second approval (a resume). */
  approvalId: string;
  action: string;
  /** What the card calls it, e.g. "DR failover". */
  title: string;
  policy: ApprovalPolicy;
  digest: string;
  /** The plan, one line each (safe mrkdwn). */
  lines: readonly string[];
  /** The Approve button's confirm dialog (safe mrkdwn). */
  confirm: Mrkdwn;
  /** The job that waits on it, and its queue (clicks wake it). */
  jobId: string;
  queue: string;
}

/** How often a parked job wakes by itself; a click wakes it at once. */
const FALLBACK_WAKE_MS = 30_000;

export type GateResult = { park: NonNullable<StepResult["park"]> } | { approvedBy: string[] };

export async function passGate(deps: JobDeps, envelope: JobEnvelope, gate: GateRequest): Promise<GateResult> {
  const id = gate.approvalId;
  let record = await deps.approvals.get(id);
  if (!record) {
    record = await deps.approvals.create({
      id,
      action: gate.action,
      title: gate.title,
      confirm: gate.confirm.text,
      queue: gate.queue,
      requester: envelope.requester.id,
      digest: gate.digest,
      required: gate.policy.required,
      createdAt: Date.now(),
      expiresAt: Date.now() + gate.policy.expiresAfter,
      jobId: gate.jobId,
      plan: [...gate.lines],
      approversText: describePrincipals(gate.policy.approvers, envelope.requester.id).text,
      ...(envelope.origin.channel ? { channel: envelope.origin.channel } : {}),
    });
  }
  // No card known: none was posted, or a worker died right after posting one. Post one showing
  // the request as it stands (a resolved request too, so the channel sees its outcome).
  if (!record.ts) record = await postCard(deps, envelope, record);
  if (record.state === "pending" && Date.now() >= record.expiresAt) {
    record = (await deps.approvals.transition(id, "expire", "drbot")).record ?? record;
    await redraw(deps, record);
  }
  switch (record.state) {
    case "pending": {
      const left = record.required - record.approvals.length;
      return {
        park: {
          until: Math.min(record.expiresAt, Date.now() + FALLBACK_WAKE_MS),
          detail: md`waiting for ${left} more approval${left === 1 ? "" : "s"} until ${new Date(record.expiresAt).toISOString().slice(11, 16)} UTC`,
        },
      };
    }
    case "denied":
      throw new JobCancelled(
        md`denied by ${mention(record.denial?.user ?? "")}${record.denial?.reason ? md`: ${record.denial.reason}` : ""}; nothing was changed`,
      );
    case "expired":
      throw new JobCancelled(
        md`the approval request expired with ${record.approvals.length}/${record.required} approvals; nothing was changed`,
      );
    case "cancelled":
      throw new JobCancelled(md`cancelled by ${mention(record.requester)}; nothing was changed`);
    case "approved":
      break;
  }
  return { approvedBy: await checkApproved(deps, record, gate) };
}

/**
 * Every requirement, again, right before the destructive steps: the record as stored, this plan,
 * distinct people other than the requester, each still eligible now (membership read fresh).
 */
export async function checkApproved(
  deps: JobDeps,
  record: ApprovalRecord,
  gate: Pick<GateRequest, "policy" | "digest">,
) {
  const approvers = [...new Set(record.approvals.map((a) => a.user))];
  const eligibleNow = new Set<string>();
  for (const user of approvers) {
    if (await deps.authorizer.includes(gate.policy.approvers, user, { fresh: true })) eligibleNow.add(user);
  }
  const unmet = unmetRequirement({
    record,
    digest: gate.digest,
    required: gate.policy.required,
    eligibleNow,
  });
  if (unmet) {
    throw new DrbotError("forbidden", `approval.${unmet.name}`, md`Not approved: ${unmet.reason}.`, {
      hint: "Ask again so that current approvers approve the current plan. Nothing was changed.",
    });
  }
  return approvers;
}

export function approvedByText(users: readonly string[]): Mrkdwn {
  return joinMd(users.map(mention), " and ");
}

async function postCard(
  deps: JobDeps,
  envelope: JobEnvelope,
  record: ApprovalRecord,
): Promise<ApprovalRecord> {
  const channel = envelope.origin.channel;
  if (!channel || !deps.notifier) {
    throw new DrbotError("invalid", "approval.no_channel", "An approval needs a Slack channel for its card.");
  }
  const card = approvalCard(record);
  const key = `${record.id}:approval`;
  // Where the card is goes into the record the moment Slack answers, so clicks redraw it and a
  // worker that dies now does not leave a card nobody can find.
  let placed: Promise<ApprovalRecord | null> | undefined;
  const ref = await deps.notifier.deliver(
    key,
    { channel, ts: undefined },
    card.text,
    card.blocks,
    undefined,
    (r) => {
      placed = deps.approvals.setCard(record.id, r.channel, r.ts);
    },
  );
  if (!ref) {
    throw new DrbotError(
      "transient",
      "approval.card_not_posted",
      "The approval card could not be posted to Slack yet.",
    );
  }
  // Clicks may have landed before the card's place was known: redraw it from the record.
  const stored = (await (placed ?? deps.approvals.setCard(record.id, ref.channel, ref.ts))) ?? record;
  if (stored.approvals.length > 0 || stored.state !== "pending") {
    const redrawn = approvalCard(stored);
    await deps.notifier.deliver(key, ref, redrawn.text, redrawn.blocks);
  }
  // From here on clicks redraw the card (the bot); this worker must not send stale copies.
  deps.notifier.forget(key);
  return stored;
}

async function redraw(deps: JobDeps, record: ApprovalRecord): Promise<void> {
  if (!record.channel || !record.ts || !deps.notifier) return;
  const key = `${record.id}:approval`;
  const card = approvalCard(record);
  await deps.notifier.deliver(key, { channel: record.channel, ts: record.ts }, card.text, card.blocks);
  deps.notifier.forget(key);
}

/**
 * Ends a pending request whose job ended without it (e.g. a DR operation took the lock first),
 * so its card loses its buttons and says why; a resolved request is left as it is.
 */
export async function withdrawApproval(deps: JobDeps, id: string, reason: string): Promise<void> {
  const record = await deps.approvals.get(id);
  if (record?.state !== "pending") return;
  const { record: updated } = await deps.approvals.transition(id, "withdraw", "drbot", Date.now(), reason);
  if (updated) await redraw(deps, updated);
}
