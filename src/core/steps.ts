// Jobs are ordered lists of named, idempotent steps. The runner records each step's progress in
// the job's envelope and saves it after every transition, so a job that is retried or picked up
// by another worker after a crash resumes at the first step that has not finished. A step that
// was running when its worker died runs again, which is why every step must be safe to repeat.

import type { z } from "zod";
import { DrbotError, errorMarkdown, isTransient } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { escapeMrkdwn, Mrkdwn } from "./mrkdwn.ts";

export type StepStatus = "pending" | "running" | "waiting" | "done" | "failed" | "skipped";

export interface StepRecord {
  status: StepStatus;
  /** One line for the card (safe mrkdwn): what the step did or why it failed. */
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
  /** Lines of the final summary (safe mrkdwn). */
  summary?: string[];
  /** Set once the point-of-no-return step has started: from then on the job is finished, never abandoned. */
  pastPointOfNoReturn?: boolean;
  /**
   * A step failed for good past the point of no return: the job waits (holding what it holds,
   * e.g. the DR lock) until someone resumes it. Its card reads failed, with what to do.
   */
  halted?: { step: string; reason: string; at: number };
  /** Who resumed a halted job, and when. */
  resumes?: Array<{ by: string; at: number }>;
}

export interface StepContext<I, S, D> {
  input: I;
  state: S;
  deps: D;
  log: Logger;
  envelope: JobEnvelope<I, S>;
  /** Live detail for the running step (rate-limited on the card). */
  progress(detail: Detail): void;
  /** Aborted when the worker shuts down; waiting steps stop at once and resume elsewhere. */
  signal: AbortSignal;
}

/** Card text: drbot's own wording as `Mrkdwn`, or plain text that is escaped. */
export type Detail = string | Mrkdwn;

export interface StepResult {
  detail?: Detail;
  /** Set when there was nothing to do; the reason is shown. */
  skipped?: Detail;
  /**
   * Not finished: the job is put aside (holding no worker) until `until`, or until something
   * promotes it earlier, and then this step runs again.
   */
  park?: { until: number; detail: Detail };
}

export interface Step<I, S, D> {
  name: string;
  /** What the card shows, e.g. "Create the EFS directory". */
  title: string;
  /** Shown on the card only once it has run (steps that are there for rare paths, like a resume). */
  hidden?: boolean;
  run(ctx: StepContext<I, S, D>): Promise<StepResult | undefined>;
}

export interface ResumeRequest {
  by: string;
  at: number;
  /** Whether the person resuming approved the original request. */
  approver?: boolean;
}

export interface JobDefinition<I, S, D> {
  kind: string;
  /** Human title for cards and logs, from the input. */
  describe(input: I): string;
  input: z.ZodType<I>;
  initialState(): S;
  steps: readonly Step<I, S, D>[];
  /** Lines of the final summary once every step is done. */
  summarize?(envelope: JobEnvelope<I, S>): Detail[];
  /** Runs once the job has an outcome, whatever it is (release locks, tidy up). */
  onEnd?(envelope: JobEnvelope<I, S>, deps: D): Promise<void>;
  /**
   * The step from whose start on the job can no longer be abandoned: a permanent failure then
   * halts the job (see `JobEnvelope.halted`) instead of ending it, and transient failures are
   * retried for as long as they last.
   */
  pointOfNoReturn?: string;
  /** Takes a pending resume request of a halted job (consumes it); null when there is none. */
  takeResume?(envelope: JobEnvelope<I, S>, deps: D): Promise<ResumeRequest | null>;
  /** Called when a halted job resumes, before it runs again (e.g. to re-check what changed). */
  onResume?(envelope: JobEnvelope<I, S>, request: ResumeRequest): void;
  /** Called once a job halts (e.g. to record where it stands for status and refusals). */
  onHalt?(envelope: JobEnvelope<I, S>, deps: D): Promise<void>;
  /** Called before each step starts; throw JobCancelled to end the job there. */
  guard?(envelope: JobEnvelope<I, S>, deps: D, step: string): Promise<void>;
  /** What the reader should do next, shown on a failed or halted card. */
  nextSteps?(envelope: JobEnvelope<I, S>): Detail | undefined;
}

export interface StepIo<I, S> {
  /** Persists the envelope (the checkpoint). */
  save(envelope: JobEnvelope<I, S>): Promise<void>;
  /** Something visible changed: re-render the card. */
  changed(envelope: JobEnvelope<I, S>, event: StepEvent): void;
  /** Whether a transient failure now may still be retried by the queue. */
  retriesLeft: boolean;
  signal?: AbortSignal;
  /** Removes known secrets from text before it is saved or shown. */
  scrub?: (text: string) => string;
  /** Fault injection only: awaited before each step starts. */
  beforeStep?: () => Promise<void>;
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
  /** The reason as safe mrkdwn, when it was built with `md`. */
  readonly markdown: Mrkdwn | undefined;
  constructor(message: string | Mrkdwn) {
    super(String(message));
    this.markdown = message instanceof Mrkdwn ? message : undefined;
  }
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

/** Past the point of no return, how long before the `attempt`-th retry of a transient failure. */
export function retryDelay(attempt: number): number {
  return Math.min(5 * 60_000, 2_000 * 2 ** Math.max(0, attempt - 1));
}

/** How long a halted job sleeps before it looks for a resume again (a resume wakes it at once). */
const HALT_RECHECK_MS = 6 * 3_600_000;

/**
 * Waits until `check` returns a value (not undefined), looking again after `pollDelay`, and
 * throws what `onTimeout` returns once `timeoutMs` has passed. `progress` hears how long it has
 * been. One helper for every "wait until …" of the jobs.
 */
export async function pollUntil<T>(options: {
  check: () => Promise<T | undefined>;
  timeoutMs: number;
  pollMs: number;
  signal: AbortSignal;
  onTimeout: (elapsedMs: number) => Error;
  progress?: (elapsedMs: number) => void;
}): Promise<T> {
  const started = Date.now();
  for (let round = 0; ; round++) {
    const value = await options.check();
    if (value !== undefined) return value;
    const elapsed = Date.now() - started;
    if (elapsed >= options.timeoutMs) throw options.onTimeout(elapsed);
    options.progress?.(elapsed);
    await pause(
      Math.min(pollDelay(round, options.pollMs), Math.max(10, options.timeoutMs - elapsed)),
      options.signal,
    );
  }
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
  const safe = (text: Detail | undefined, max = 2500): string | undefined => {
    if (text === undefined) return undefined;
    const markdown = text instanceof Mrkdwn ? text.text : escapeMrkdwn(text, max);
    return io.scrub ? io.scrub(markdown) : markdown;
  };

  if (envelope.halted) {
    const request = await definition.takeResume?.(envelope, deps);
    if (!request) {
      log.info({ step: envelope.halted.step }, "halted job still waits for a resume");
      throw new JobParked(Date.now() + HALT_RECHECK_MS);
    }
    const halted = envelope.steps[envelope.halted.step];
    if (halted) {
      halted.status = "pending";
      halted.detail = safe(`resumed by ${request.by}`);
    }
    delete envelope.halted;
    envelope.resumes = [...(envelope.resumes ?? []), request];
    definition.onResume?.(envelope, request);
    await io.save(envelope);
    io.changed(envelope, { type: "progress", step: "" });
    log.info({ by: request.by }, "halted job resumed");
  }

  for (const step of definition.steps) {
    envelope.steps[step.name] ??= { status: "pending" };
    const record = envelope.steps[step.name] as StepRecord;
    if (record.status === "done" || record.status === "skipped") continue;
    const stepLog = log.child({ step: step.name });
    await io.beforeStep?.();
    if (step.name === definition.pointOfNoReturn) envelope.pastPointOfNoReturn = true;
    record.status = "running";
    record.startedAt = Date.now();
    record.attempts = (record.attempts ?? 0) + 1;
    delete record.detail;
    await io.save(envelope);
    io.changed(envelope, { type: "started", step: step.name });
    stepLog.info({ attempt: record.attempts }, "step started");

    let result: StepResult | undefined;
    try {
      await definition.guard?.(envelope, deps, step.name);
      result = await step.run({
        input: parsed.data,
        state: envelope.state,
        deps,
        log: stepLog,
        envelope,
        progress: (detail) => {
          record.detail = safe(detail);
          io.changed(envelope, { type: "progress", step: step.name });
        },
        signal: io.signal ?? new AbortController().signal,
      });
    } catch (err) {
      const message = safe(errorMarkdown(err)) ?? "";
      if (err instanceof JobInterrupted) {
        // Put back without counting an attempt: another worker resumes at this step.
        record.status = "pending";
        record.detail = "interrupted by a worker shutdown; resuming";
        await io.save(envelope);
        io.changed(envelope, { type: "progress", step: step.name });
        stepLog.info("step interrupted by shutdown");
        throw new JobParked(Date.now());
      }
      if (envelope.pastPointOfNoReturn && isTransient(err)) {
        // Past the point of no return nothing is given up: retry for as long as it takes.
        const delay = retryDelay(record.attempts ?? 1);
        record.status = "pending";
        record.detail = `retrying in ${Math.round(delay / 1000)}s: ${message}`;
        await io.save(envelope);
        io.changed(envelope, { type: "retrying", step: step.name, error: message });
        stepLog.warn({ err, delayMs: delay }, "step failed past the point of no return, will retry");
        throw new JobParked(Date.now() + delay);
      }
      if (envelope.pastPointOfNoReturn) {
        // Halt, holding what the job holds, until someone fixes the cause and resumes it.
        record.status = "failed";
        record.detail = message;
        record.finishedAt = Date.now();
        envelope.halted = { step: step.name, reason: `${step.title} failed: ${message}`, at: Date.now() };
        await io.save(envelope);
        await definition.onHalt?.(envelope, deps);
        io.changed(envelope, { type: "failed", step: step.name, error: message });
        stepLog.error(
          { err, code: err instanceof DrbotError ? err.code : undefined },
          "step failed past the point of no return; the job is halted until resumed",
        );
        throw new JobParked(Date.now() + HALT_RECHECK_MS);
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
      record.detail = safe(result.park.detail);
      await io.save(envelope);
      io.changed(envelope, { type: "progress", step: step.name });
      stepLog.info({ until: new Date(result.park.until).toISOString() }, "step waiting");
      throw new JobParked(result.park.until);
    }
    record.status = result?.skipped ? "skipped" : "done";
    const detail = safe(result?.skipped ?? result?.detail);
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

  envelope.summary = (definition.summarize?.(envelope) ?? []).map((line) => safe(line, 3000) ?? "");
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
