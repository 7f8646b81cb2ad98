// Queue names, job ids, retry policy and which states count as unfinished: the one place that
// knows BullMQ. How Redis is reached (one server, Sentinel, Cluster) is core/redis.ts.

import { type ConnectionOptions, Queue } from "bullmq";
import type { JobEnvelope } from "../core/steps.ts";

export const QUEUES = {
  "volume-create": "volume-create",
  "volume-delete": "volume-delete",
  "volume-resize": "volume-resize",
  /** Directory sizes for `/volume list`, measured by a worker (the bot has no EFS mount). */
  "volume-measure": "volume-measure",
  /** The daily purge of `.drbot-trash` (a job scheduler); its jobs carry no data. */
  "trash-purge": "trash-purge",
  "dr-failover": "dr-failover",
  "dr-reprotect": "dr-reprotect",
  "dr-switchover": "dr-switchover",
  "dr-drill": "dr-drill",
  /** drbot's own schedules: drills on `drills.schedule`, and the reminder when none succeeded lately. */
  schedules: "schedules",
  /** drbot's own periodic replication check (a job scheduler); its jobs carry no data. */
  "protection-watch": "protection-watch",
} as const;
export type JobKind = keyof typeof QUEUES;

/** Transient failures are retried with exponential backoff (2 s, 4 s, 8 s … about 4 minutes in all). */
export const JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: "exponential", delay: 2_000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600, count: 10_000 },
} as const;

/** Ids are derived from what the job acts on, so the same request can never be queued twice. */
export function jobIdFor(kind: JobKind, subject: string): string {
  return `${kind}.${subject}`.replaceAll(":", "_");
}

/** BullMQ states of a job that has not ended yet. */
export const UNFINISHED_STATES = ["waiting", "active", "delayed", "prioritized", "waiting-children"] as const;

/** Whether a job in `state` (as `job.getState()` reports it) has not ended; a paused queue's jobs wait. */
export function isUnfinishedState(state: string): boolean {
  return (UNFINISHED_STATES as readonly string[]).includes(state) || state === "paused";
}

export type Queues = Record<JobKind, Queue<JobEnvelope>>;

export function createQueues(connection: ConnectionOptions, prefix: string): Queues {
  return Object.fromEntries(
    (Object.keys(QUEUES) as JobKind[]).map((kind) => [kind, createQueue(kind, connection, prefix)]),
  ) as Queues;
}

/** Unfinished jobs of a queue whose envelope has no outcome yet. */
export async function unfinishedJobs(queue: Queue<JobEnvelope>): Promise<JobEnvelope[]> {
  const jobs = await queue.getJobs([...UNFINISHED_STATES]);
  return jobs.map((j) => j.data).filter((d): d is JobEnvelope => Boolean(d) && !d.outcome);
}

export function createQueue(
  kind: JobKind,
  connection: ConnectionOptions,
  prefix: string,
): Queue<JobEnvelope> {
  return new Queue<JobEnvelope>(QUEUES[kind], { connection, prefix, defaultJobOptions: JOB_OPTIONS });
}

/** BullMQ connection options from a one-server or Sentinel REDIS_URL (any form: `openRedis`). */
export { redisConnection } from "../core/redis.ts";
