// Queue names, job ids, retry policy, which states count as unfinished, and how Redis is
// reached: the one place that knows BullMQ and ioredis.

import { type ConnectionOptions, Queue } from "bullmq";
import { Redis } from "ioredis";
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

export type RedisClient = Redis;

/** drbot's own Redis client (state, approvals, locks, audit); BullMQ opens its own. */
export function createRedis(connection: ConnectionOptions): RedisClient {
  return new Redis({ ...(connection as object), maxRetriesPerRequest: 3 });
}

export function createQueue(
  kind: JobKind,
  connection: ConnectionOptions,
  prefix: string,
): Queue<JobEnvelope> {
  return new Queue<JobEnvelope>(QUEUES[kind], { connection, prefix, defaultJobOptions: JOB_OPTIONS });
}

/**
 * ioredis options, as BullMQ wants them, from `redis://[user:pass@]host:port[/db]`,
 * `rediss://…` (TLS) or `redis-sentinel://[user:pass@]host1:port1,host2:port2[/master]` (Sentinel;
 * the master name defaults to `mymaster`, and the password is the master's).
 */
export function redisConnection(url: string): ConnectionOptions {
  if (url.startsWith("redis-sentinel://")) {
    const rest = url.slice("redis-sentinel://".length);
    const at = rest.lastIndexOf("@");
    const auth = at >= 0 ? rest.slice(0, at) : "";
    const [hostList = "", master = ""] = (at >= 0 ? rest.slice(at + 1) : rest).split("/");
    const [username, password] = auth.includes(":") ? auth.split(":", 2) : ["", auth];
    const sentinels = hostList
      .split(",")
      .filter(Boolean)
      .map((h) => {
        const [host = "", port = "26379"] = h.split(":");
        return { host, port: Number(port) };
      });
    return {
      sentinels,
      name: decodeURIComponent(master) || "mymaster",
      ...(username ? { username: decodeURIComponent(username) } : {}),
      ...(password ? { password: decodeURIComponent(password) } : {}),
      maxRetriesPerRequest: null,
    };
  }
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === "rediss:" ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}
