// What every volume request's admission shares (create, delete, resize): the DR lock keeps them
// out, one request per volume at a time across the three queues, a finished job makes way for
// the next one, and the status card is posted before the job is queued.

import { randomUUID } from "node:crypto";
import type { Queue } from "bullmq";
import type { AuditLog } from "../../core/audit.ts";
import type { DrState } from "../../core/dr-state.ts";
import { escapeMrkdwn, mention } from "../../core/mrkdwn.ts";
import type { ChatPort } from "../../core/ports/chat.ts";
import type { JobDefinition, JobEnvelope } from "../../core/steps.ts";
import { postFirstCard } from "../first-card.ts";
import { isUnfinishedState, jobIdFor, type Queues } from "../queues.ts";

export const VOLUME_KINDS = ["volume-create", "volume-delete", "volume-resize"] as const;
export type VolumeKind = (typeof VOLUME_KINDS)[number];

const DOING: Record<VolumeKind, string> = {
  "volume-create": "created",
  "volume-delete": "deleted",
  "volume-resize": "resized",
};

export type Admission =
  | { ok: true; jobId: string; requestId: string; volume: string; statusTs?: string }
  | { ok: false; reason: string; fields?: Record<string, string> };

/** Longer than the slowest checks inside admission (Git and Kubernetes time out at 30 s). */
const ADMISSION_MS = 90_000;

/** Why volume requests are refused now (safe mrkdwn), or undefined when no DR operation holds the lock. */
async function drLockRefusal(dr: DrState): Promise<string | undefined> {
  const lock = await dr.drLockHolder();
  if (!lock) return undefined;
  const op = await dr.operation();
  return op?.status === "incomplete"
    ? `a DR operation (${escapeMrkdwn(lock)}) is in progress: the ${escapeMrkdwn(op.kind)} is INCOMPLETE (${escapeMrkdwn(op.note ?? "")}) and holds the DR lock until an approver resumes it with \`/dr ${escapeMrkdwn(op.kind)} resume ${escapeMrkdwn(lock)}\`. New volumes would land on a file system nobody replicates. Ask again when \`/dr status\` shows it has finished.`
    : `a DR operation (${escapeMrkdwn(lock)}) is in progress. Ask again when \`/dr status\` shows it has finished.`;
}

/**
 * The unfinished request for this volume in any volume queue (safe mrkdwn naming it), or
 * undefined. A job with an outcome is only finishing (its final card is out): not in the way.
 */
async function requestUnderWay(
  queues: Pick<Queues, VolumeKind>,
  volume: string,
): Promise<string | undefined> {
  for (const kind of VOLUME_KINDS) {
    const job = await queues[kind].getJob(jobIdFor(kind, volume));
    if (!job || job.data.outcome) continue;
    if (!isUnfinishedState(await job.getState())) continue;
    const who = job.data.requester.id;
    return `it is already being ${DOING[kind]} (request \`${escapeMrkdwn(job.data.requestId)}\` by ${who.startsWith("cli:") ? escapeMrkdwn(who) : mention(who).text}). Watch its status card.`;
  }
  return undefined;
}

/**
 * How every volume request's admission starts and ends, in one place: refused while a DR
 * operation holds the lock; one admission per volume at a time across replicas (held while
 * `admit` runs, released after); refused while another request for the volume is unfinished.
 * `admit` gets the new request's id and does the rest.
 */
export async function admitOneAtATime(
  deps: { dr: DrState; queues: Pick<Queues, VolumeKind> },
  volume: string,
  refuse: (why: string) => Admission,
  admit: (requestId: string) => Promise<Admission>,
): Promise<Admission> {
  const locked = await drLockRefusal(deps.dr);
  if (locked) return refuse(locked);
  const requestId = `vol-${randomUUID().slice(0, 8)}`;
  if (!(await deps.dr.admit(`volume:${volume}`, requestId, ADMISSION_MS))) {
    return refuse(
      "the same volume is being requested right now by someone else. Watch the channel for its status card.",
    );
  }
  try {
    const underWay = await requestUnderWay(deps.queues, volume);
    if (underWay) return refuse(underWay);
    return await admit(requestId);
  } finally {
    await deps.dr.admitted(`volume:${volume}`, requestId);
  }
}

/** Removes a finished job with this id so a new request can take it; false when it is still finishing. */
export async function makeWay(queue: Queue<JobEnvelope>, jobId: string): Promise<boolean> {
  const previous = await queue.getJob(jobId);
  if (!previous) return true;
  try {
    await previous.remove();
    return true;
  } catch {
    return false;
  }
}

export interface QueueDeps {
  queue: Queue<JobEnvelope>;
  /** Posts the status card; absent for the CLI without Slack. */
  chat: ChatPort | undefined;
  audit?: AuditLog;
}

/**
 * Posts the job's status card in `channel` (when there is one), then queues the job under
 * `jobId`. Returns a refusal when Slack refuses the channel for good or another request got
 * the id first; its card then says it was not queued.
 */
export async function postAndQueue(
  deps: QueueDeps,
  definition: Pick<JobDefinition<unknown, unknown, unknown>, "kind" | "describe" | "steps">,
  envelope: JobEnvelope,
  jobId: string,
  volume: string,
): Promise<Admission> {
  const channel = envelope.origin.channel;
  const title = definition.describe(envelope.input);
  if (channel && deps.chat && (await postFirstCard(deps.chat, channel, envelope, title, definition))) {
    return {
      ok: false,
      reason:
        "drbot cannot post its status card in this channel (it is not a member, or Slack does not know the channel): invite it with `/invite @drbot`, then ask again.",
    };
  }
  const withdraw = async (why: string) => {
    const ref = envelope.origin.statusTs;
    if (channel && ref && deps.chat) {
      await deps.chat
        .update({ channel, ts: ref }, `${escapeMrkdwn(title)}: not queued — ${why}`)
        .catch(() => {});
    }
  };
  let queued: Awaited<ReturnType<typeof deps.queue.add>>;
  try {
    queued = await deps.queue.add(definition.kind, envelope, { jobId });
  } catch (err) {
    await withdraw("drbot could not queue it");
    throw err;
  }
  // A job with this id may have been added meanwhile (BullMQ then returns that one): not ours.
  if (queued.data.requestId !== envelope.requestId) {
    const doing = `it is already being ${DOING[definition.kind as VolumeKind] ?? "changed"}`;
    await withdraw(`${doing} (request ${escapeMrkdwn(queued.data.requestId)})`);
    return {
      ok: false,
      reason: `${doing} (request \`${escapeMrkdwn(queued.data.requestId)}\`). Watch its status card.`,
    };
  }
  await deps.audit?.record({
    event: "request",
    request: envelope.requestId,
    user: envelope.requester.id,
    kind: definition.kind,
    detail: volume,
  });
  return {
    ok: true,
    jobId,
    requestId: envelope.requestId,
    volume,
    ...(envelope.origin.statusTs ? { statusTs: envelope.origin.statusTs } : {}),
  };
}
