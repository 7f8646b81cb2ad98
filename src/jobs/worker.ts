// Workers: run queued jobs through the step runner, checkpointing into the job's data and
// reporting each transition through the notifier. BullMQ delivers at least once (stalled jobs
// are handed to another worker); the steps make every effect exactly once.

import { setTimeout as sleep } from "node:timers/promises";
import { type ConnectionOptions, DelayedError, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../core/metrics.ts";
import { escapeMrkdwn } from "../core/mrkdwn.ts";
import type { Notifier } from "../core/notifier.ts";
import { scrub } from "../core/secrets.ts";
import { renderStatusCard, stepLogLine } from "../core/status-card.ts";
import {
  type JobDefinition,
  type JobEnvelope,
  JobFailed,
  JobParked,
  pause,
  runSteps,
  type StepEvent,
} from "../core/steps.ts";
import type { JobDeps } from "./deps.ts";
import { type JobKind, QUEUES } from "./queues.ts";

// biome-ignore lint/suspicious/noExplicitAny: a registry of definitions with different input types
export type AnyJobDefinition = JobDefinition<any, any, JobDeps>;

export interface WorkerSettings {
  metrics?: Metrics;
  connection: ConnectionOptions;
  prefix: string;
  concurrency?: number;
  /** How long a job's lock lasts without renewal; a dead worker's job is taken over after it. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Fault injection only: a pause before every step (see Tuning.stepDelayMs). */
  stepDelayMs?: number;
}

export interface RunningWorkers {
  workers: Worker[];
  close(): Promise<void>;
}

/** How long running steps get to finish or checkpoint after SIGTERM before the worker exits. */
const SHUTDOWN_GRACE_MS = 20_000;

export function startWorkers(
  definitions: Partial<Record<JobKind, AnyJobDefinition>>,
  deps: JobDeps,
  notifier: Notifier | undefined,
  log: Logger,
  settings: WorkerSettings,
): RunningWorkers {
  const workers: Worker[] = [];
  const shutdown = new AbortController();
  for (const [kind, definition] of Object.entries(definitions) as Array<
    [JobKind, AnyJobDefinition | undefined]
  >) {
    if (!definition) continue;
    const worker = new Worker<JobEnvelope>(
      QUEUES[kind],
      (job, token) => processJob(definition, job, token, deps, notifier, log, shutdown.signal, settings),
      {
        connection: settings.connection,
        prefix: settings.prefix,
        concurrency: settings.concurrency ?? 4,
        lockDuration: settings.lockDurationMs ?? 30_000,
        stalledInterval: settings.stalledIntervalMs ?? 30_000,
        maxStalledCount: 10,
      },
    );
    worker.on("failed", (job, err) => {
      if (!job) return;
      if (job.data.pastPointOfNoReturn && !job.data.outcome && job.finishedOn) {
        void requeue(kind, job, err, deps, log);
        return;
      }
      void markFailedIfUnfinished(definition, job, err, deps, notifier, log, settings.metrics);
    });
    worker.on("error", (err) => log.error({ err, queue: kind }, "worker error"));
    workers.push(worker);
  }
  return {
    workers,
    async close() {
      // No new jobs; waiting steps are interrupted and put back for another worker; running
      // steps get a grace period to finish and checkpoint.
      shutdown.abort();
      const closed = Promise.all(workers.map((w) => w.close()));
      const timedOut = await Promise.race([
        closed.then(() => false),
        sleep(SHUTDOWN_GRACE_MS, true, { ref: false }),
      ]);
      if (timedOut) {
        log.warn(
          { graceMs: SHUTDOWN_GRACE_MS },
          "steps still running at shutdown; their jobs resume on another worker",
        );
        await Promise.all(workers.map((w) => w.close(true)));
      }
      await notifier?.drain(5_000);
    },
  };
}

async function processJob(
  definition: AnyJobDefinition,
  job: Job<JobEnvelope>,
  token: string | undefined,
  deps: JobDeps,
  notifier: Notifier | undefined,
  log: Logger,
  signal: AbortSignal,
  settings: WorkerSettings,
): Promise<{ outcome: string }> {
  const metrics = settings.metrics;
  const envelope = job.data;
  const finishedBefore = envelope.outcome !== undefined;
  const jobLog = log.child({ jobId: job.id, requestId: envelope.requestId, kind: envelope.kind });
  const key = job.id ?? envelope.requestId;
  try {
    const done = await runSteps(definition, envelope, deps, jobLog, {
      save: (e) => job.updateData(e),
      changed: (e, event) => {
        report(definition, key, e, event, notifier);
        // A progress event per transition: `--follow` listens to them (QueueEvents), no polling.
        if (event.type !== "progress")
          job.updateProgress({ event: event.type, step: "step" in event ? event.step : "" }).catch(() => {});
        const record = "step" in event ? e.steps[event.step] : undefined;
        if (
          metrics &&
          record?.startedAt &&
          record.finishedAt &&
          (event.type === "finished" || event.type === "failed")
        ) {
          metrics.stepSeconds.observe(
            { kind: e.kind, step: event.step, status: record.status },
            (record.finishedAt - record.startedAt) / 1000,
          );
        }
      },
      retriesLeft: job.attemptsMade + 1 < (job.opts.attempts ?? 1),
      signal,
      scrub,
      ...(settings.stepDelayMs ? { beforeStep: () => pause(settings.stepDelayMs ?? 0, signal) } : {}),
    });
    return { outcome: done.outcome?.state ?? "succeeded" };
  } catch (err) {
    if (err instanceof JobFailed) throw new UnrecoverableError(err.message);
    if (err instanceof JobParked) {
      // Put aside without holding a worker; whoever resolves what it waits for promotes it.
      await job.moveToDelayed(err.until, token);
      throw new DelayedError();
    }
    throw err;
  } finally {
    // The final card goes out before BullMQ records the outcome: a worker that dies after this
    // point leaves a truthful card, and one that dies before it redraws it on redelivery.
    if (envelope.outcome) {
      // Counted and audited when the outcome is reached (not on a redelivery of a finished job).
      if (!finishedBefore) {
        metrics?.jobs.inc({ kind: envelope.kind, outcome: envelope.outcome.state });
        await deps.audit
          .record({
            event: `outcome.${envelope.outcome.state}`,
            request: envelope.requestId,
            user: envelope.requester.id,
            kind: envelope.kind,
            ...(envelope.outcome.reason ? { detail: envelope.outcome.reason.slice(0, 500) } : {}),
          })
          .catch((err: unknown) => jobLog.warn({ err }, "could not record the outcome in the audit trail"));
      }
      report(definition, key, envelope, { type: "succeeded" }, notifier);
      await notifier?.settle(key, FINAL_CARD_WAIT_MS);
      notifier?.forget(key);
    }
  }
}

/** How long a finished job waits for its final card to reach Slack before completing anyway. */
const FINAL_CARD_WAIT_MS = 5_000;

/** Draws the card from the envelope and logs finished steps in its thread. */
export function report(
  definition: AnyJobDefinition,
  key: string,
  envelope: JobEnvelope,
  event: StepEvent,
  notifier: Notifier | undefined,
): void {
  const channel = envelope.origin.channel;
  if (!notifier || !channel) return;
  const card = renderStatusCard(
    envelope,
    definition.describe(envelope.input),
    definition,
    definition.nextSteps?.(envelope) ?? nextSteps(envelope),
  );
  notifier.card(key, { channel, ts: envelope.origin.statusTs }, card.text, card.blocks, (ref) => {
    envelope.origin.statusTs = ref.ts;
  });
  if (event.type === "finished" || event.type === "failed") {
    const index = definition.steps.findIndex((s) => s.name === event.step);
    const step = definition.steps[index];
    const record = envelope.steps[event.step];
    if (step && record) notifier.reply(key, stepLogLine(index, step.title, record));
  }
}

function nextSteps(envelope: JobEnvelope): string | undefined {
  if (envelope.outcome?.state !== "failed") return undefined;
  return "Fix what the message names, then ask again; drbot resumes nothing by itself after a failure. The thread below has each step's log.";
}

/**
 * A job past its point of no return that BullMQ failed by itself (stalled too often, lock lost)
 * is never abandoned: it is queued again under the same id with its checkpoint, as a fresh job
 * (BullMQ's counters start over), and resumes where it was.
 */
async function requeue(kind: JobKind, job: Job<JobEnvelope>, err: Error, deps: JobDeps, log: Logger) {
  log.warn(
    { err, jobId: job.id },
    "a job past its point of no return was failed by the queue; queueing it again",
  );
  try {
    const envelope = job.data;
    await job.remove();
    await deps.queues[kind].add(job.name, envelope, { jobId: job.id as string });
  } catch (e) {
    log.error(
      { err: e, jobId: job.id },
      "could not queue the job again; the next worker start finds it failed",
    );
  }
}

/** A job BullMQ failed without the runner's word (stalled too often, lost lock): say so on the card. */
async function markFailedIfUnfinished(
  definition: AnyJobDefinition,
  job: Job<JobEnvelope>,
  err: Error,
  deps: JobDeps,
  notifier: Notifier | undefined,
  log: Logger,
  metrics: Metrics | undefined,
): Promise<void> {
  const envelope = job.data;
  if (envelope.outcome || !job.finishedOn) return;
  envelope.outcome = {
    state: "failed",
    reason: escapeMrkdwn(scrub(err.message), 1000),
    finishedAt: Date.now(),
  };
  metrics?.jobs.inc({ kind: envelope.kind, outcome: "failed" });
  try {
    await definition.onEnd?.(envelope, deps);
  } catch (e) {
    log.error({ err: e, jobId: job.id }, "could not release what the failed job held");
  }
  try {
    await job.updateData(envelope);
  } catch (e) {
    log.warn({ err: e, jobId: job.id }, "could not record the failure in the job");
  }
  report(definition, job.id ?? "", envelope, { type: "failed", step: "", error: err.message }, notifier);
}
