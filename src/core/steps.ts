// Jobs are ordered lists of named, idempotent steps. The runner records each step's progress in
// the job's envelope and saves it after every transition, so a job that is retried or picked up
// by another worker after a crash resumes at the first step that has not finished. A step that
// was running when its worker died runs again, which is why every step must be safe to repeat.

import type { z } from "zod";
import { DrbotError, errorMessage, isTransient } from "./errors.ts";
import type { Logger } from "./logger.ts";

export type StepStatus = "pending" | "running" | "waiting" | "done" | "failed" | "skipped";

export interface StepRecord {
  status: StepStatus;
  /** One line for the card: what the step did or why it failed. */
  detail?: string;
  startedAt?: number;
  finishedAt?: number;
  attempts?: number;
}

export type Outcome = "succeeded" | "failed" | "cancelled";

export interface Requester {
  /** Slack user id, or `cli:<name>` for the command line. */
  id: string;
  name?: string;
}

export interface Origin {
  /** Slack channel the request came from; absent for the CLI. */
  channel?: string;
  /** The job's status message in that channel. */
  statusTs?: string;
}

/** Everything a job carries in its queue data: input, where to report, and its checkpoint. */
export interface JobEnvelope<I = unknown, S = unknown> {
  kind: string;
  requestId: string;
  input: I;
  requester: Requester;
  origin: Origin;
  createdAt: number;
  steps: Record<string, StepRecord>;
  /** Values steps hand to later steps; saved with the checkpoint. */
  state: S;
  startedAt?: number;
  outcome?: { state: Outcome; reason?: string; finishedAt: number };
  /** Lines of the final summary. */
  summary?: string[];
}

export interface StepContext<I, S, D> {
  input: I;
  state: S;
  deps: D;
  log: Logger;
  envelope: JobEnvelope<I, S>;
  /** Live detail for the running step (rate-limited on the card). */
  progress(detail: string): void;
  /** Aborted when the worker shuts down; waiting steps stop at once and resume elsewhere. */
  signal: AbortSignal;
}

export interface StepResult {
  detail?: string;
  /** Set when there was nothing to do; the reason is shown. */
  skipped?: string;
  /**
   * Not finished: the job is put aside (holding no worker) until `until`, or until something
   * promotes it earlier, and then this step runs again.
   */
  park?: { until: number; detail: string };
}

export interface Step<I, S, D> {
  name: string;
  /** What the card shows, e.g. "Create the EFS directory". */
  title: string;
  run(ctx: StepContext<I, S, D>): Promise<StepResult | undefined>;
}

export interface JobDefinition<I, S, D> {
  kind: string;
  /** Human title for cards and logs, from the input. */
  describe(input: I): string;
  input: z.ZodType<I>;
  initialState(): S;
  steps: readonly Step<I, S, D>[];
  /** Lines of the final summary once every step is done. */
  summarize?(envelope: JobEnvelope<I, S>): string[];
  /** Runs once the job has an outcome, whatever it is (release locks, tidy up). */
  onEnd?(envelope: JobEnvelope<I, S>, deps: D): Promise<void>;
}

export interface StepIo<I, S> {
  /** Persists the envelope (the checkpoint). */
  save(envelope: JobEnvelope<I, S>): Promise<void>;
  /** Something visible changed: re-render the card. */
  changed(envelope: JobEnvelope<I, S>, event: StepEvent): void;
  /** Whether a transient failure now may still be retried by the queue. */
  retriesLeft: boolean;
  signal?: AbortSignal;
}

export type StepEvent =
  | { type: "started"; step: string }
  | { type: "progress"; step: string }
  | { type: "finished"; step: string }
  | { type: "retrying"; step: string; error: string }
  | { type: "failed"; step: string; error: string }
  | { type: "succeeded" };

/** Thrown when a job must end now; the queue must not retry it. */
export class JobFailed extends Error {
  override readonly name = "JobFailed";
}

/** Thrown by a step when the job ends without having done its work (denied, expired, cancelled). */
export class JobCancelled extends Error {
  override readonly name = "JobCancelled";
}

/** Thrown by `pause` when the worker is shutting down. */
export class JobInterrupted extends Error {
  override readonly name = "JobInterrupted";
}

/** Waits `ms`, or throws JobInterrupted as soon as `signal` aborts (worker shutdown). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new JobInterrupted("worker shutting down"));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new JobInterrupted("worker shutting down"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Delay before the `round`-th look at something that is expected to change soon (a claim
 * binding, replication going away): quick at first, then every `maxMs`.
 */
export function pollDelay(round: number, maxMs: number): number {
  return Math.min(maxMs, 100 * 2 ** round);
}

/** Thrown by the runner when a step parked the job; the queue puts it aside until `until`. */
export class JobParked extends Error {
  override readonly name = "JobParked";
  readonly until: number;
  constructor(until: number) {
    super("parked");
    this.until = until;
  }
}

export function newEnvelope<I, S>(
  definition: Pick<JobDefinition<I, S, unknown>, "kind" | "initialState" | "steps">,
  fields: { requestId: string; input: I; requester: Requester; origin: Origin },
): JobEnvelope<I, S> {
  return {
    kind: definition.kind,
    ...fields,
    createdAt: Date.now(),
    steps: Object.fromEntries(definition.steps.map((s) => [s.name, { status: "pending" as const }])),
    state: definition.initialState(),
  };
}

export async function runSteps<I, S, D>(
  definition: JobDefinition<I, S, D>,
  envelope: JobEnvelope<I, S>,
  deps: D,
  log: Logger,
  io: StepIo<I, S>,
): Promise<JobEnvelope<I, S>> {
  if (envelope.outcome) {
    // Finished before; a redelivery changes nothing, but tidies up again in case the worker
    // died between saving the outcome and releasing what the job held (onEnd is idempotent).
    await definition.onEnd?.(envelope, deps);
    return envelope;
  }
  const parsed = definition.input.safeParse(envelope.input);
  if (!parsed.success) {
    await finish(
      definition,
      deps,
      envelope,
      io,
      "failed",
      `The job's input is not valid: ${parsed.error.issues[0]?.message ?? "unknown"}`,
    );
    throw new JobFailed("invalid input");
  }
  envelope.startedAt ??= Date.now();

  for (const step of definition.steps) {
    envelope.steps[step.name] ??= { status: "pending" };
    const record = envelope.steps[step.name] as StepRecord;
    if (record.status === "done" || record.status === "skipped") continue;
    const stepLog = log.child({ step: step.name });
    record.status = "running";
    record.startedAt = Date.now();
    record.attempts = (record.attempts ?? 0) + 1;
    delete record.detail;
    await io.save(envelope);
    io.changed(envelope, { type: "started", step: step.name });
    stepLog.info({ attempt: record.attempts }, "step started");

    let result: StepResult | undefined;
    try {
      result = await step.run({
        input: parsed.data,
        state: envelope.state,
        deps,
        log: stepLog,
        envelope,
        progress: (detail) => {
          record.detail = detail;
          io.changed(envelope, { type: "progress", step: step.name });
        },
        signal: io.signal ?? new AbortController().signal,
      });
    } catch (err) {
      const message = errorMessage(err);
      if (err instanceof JobInterrupted) {
        // Put back without counting an attempt: another worker resumes at this step.
        record.status = "pending";
        record.detail = "interrupted by a worker shutdown; resuming";
        await io.save(envelope);
        io.changed(envelope, { type: "progress", step: step.name });
        stepLog.info("step interrupted by shutdown");
        throw new JobParked(Date.now());
      }
      if (err instanceof JobCancelled) {
        record.status = "skipped";
        record.detail = message;
        record.finishedAt = Date.now();
        await finish(definition, deps, envelope, io, "cancelled", message, step.name);
        throw new JobFailed(message, { cause: err });
      }
      if (isTransient(err) && io.retriesLeft) {
        record.status = "pending";
        record.detail = `retrying: ${message}`;
        await io.save(envelope);
        io.changed(envelope, { type: "retrying", step: step.name, error: message });
        stepLog.warn({ err }, "step failed, will retry");
        throw err;
      }
      record.status = "failed";
      record.detail = message;
      record.finishedAt = Date.now();
      stepLog.error({ err, code: err instanceof DrbotError ? err.code : undefined }, "step failed");
      await finish(definition, deps, envelope, io, "failed", `${step.title} failed: ${message}`, step.name);
      throw new JobFailed(message, { cause: err });
    }
    if (result?.park) {
      record.status = "waiting";
      record.detail = result.park.detail;
      await io.save(envelope);
      io.changed(envelope, { type: "progress", step: step.name });
      stepLog.info({ until: new Date(result.park.until).toISOString() }, "step waiting");
      throw new JobParked(result.park.until);
    }
    record.status = result?.skipped ? "skipped" : "done";
    const detail = result?.skipped ?? result?.detail;
    if (detail) record.detail = detail;
    else delete record.detail;
    record.finishedAt = Date.now();
    await io.save(envelope);
    io.changed(envelope, { type: "finished", step: step.name });
    stepLog.info(
      { ms: record.finishedAt - (record.startedAt ?? record.finishedAt), status: record.status },
      "step finished",
    );
  }

  envelope.summary = definition.summarize?.(envelope) ?? [];
  await finish(definition, deps, envelope, io, "succeeded");
  return envelope;
}

async function finish<I, S, D>(
  definition: JobDefinition<I, S, D>,
  deps: D,
  envelope: JobEnvelope<I, S>,
  io: StepIo<I, S>,
  state: Outcome,
  reason?: string,
  step?: string,
) {
  envelope.outcome = { state, finishedAt: Date.now(), ...(reason ? { reason } : {}) };
  await io.save(envelope);
  await definition.onEnd?.(envelope, deps);
  io.changed(
    envelope,
    state === "succeeded" ? { type: "succeeded" } : { type: "failed", step: step ?? "", error: reason ?? "" },
  );
}
