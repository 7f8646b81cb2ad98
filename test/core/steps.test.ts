// The step runner on its own: what an operator relies on when a worker dies, a step fails, or a
// job waits. Each test drives `runSteps` with real steps and reads the checkpoints it saved.

import { getEventListeners } from "node:events";
import { Writable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { DrbotError } from "../../src/core/errors.ts";
import { createLogger, type Logger } from "../../src/core/logger.ts";
import { md } from "../../src/core/mrkdwn.ts";
import {
  JobCancelled,
  type JobDefinition,
  type JobEnvelope,
  JobFailed,
  JobInterrupted,
  JobParked,
  newEnvelope,
  pause,
  pollDelay,
  pollUntil,
  retryDelay,
  runSteps,
  type Step,
  type StepEvent,
} from "../../src/core/steps.ts";

type Input = { name: string };
type State = { ran: string[]; value?: number };
type Definition = JobDefinition<Input, State, { calls: string[] }>;

const log = createLogger({
  level: "debug",
  destination: new Writable({ write: (_c, _e, done) => done() }),
});

function step(name: string, run: Step<Input, State, { calls: string[] }>["run"] = async () => undefined) {
  return {
    name,
    title: `Title of ${name}`,
    run: async (ctx: Parameters<typeof run>[0]) => {
      ctx.state.ran.push(name);
      ctx.deps.calls.push(name);
      return run(ctx);
    },
  };
}

function definition(steps: Definition["steps"], extra: Partial<Definition> = {}): Definition {
  return {
    kind: "test",
    describe: (input) => `Test ${input.name}`,
    input: z.strictObject({ name: z.string().regex(/^[a-z]+$/) }),
    initialState: () => ({ ran: [] }),
    steps,
    ...extra,
  };
}

/** A real logger whose JSON lines are kept, to read what an operator would find in the logs. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "debug",
    destination: new Writable({
      write: (chunk, _e, done) => {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  });
  return { logger, lines };
}

/** Runs a job the way a worker does, keeping every checkpoint and event. */
async function run(
  def: Definition,
  envelope: JobEnvelope<Input, State> = newEnvelope(def, {
    requestId: "req-1",
    input: { name: "one" },
    requester: { id: "U1" },
    origin: { channel: "C1" },
  }),
  io: {
    retriesLeft?: boolean;
    scrub?: (t: string) => string;
    beforeStep?: () => Promise<void>;
    logger?: Logger;
  } = {},
  signal?: AbortSignal,
) {
  const saves: JobEnvelope<Input, State>[] = [];
  const events: StepEvent[] = [];
  const deps = { calls: [] as string[] };
  let error: unknown;
  try {
    await runSteps(def, envelope, deps, io.logger ?? log, {
      save: async (e) => {
        saves.push(structuredClone(e));
      },
      changed: (_e, event) => events.push(event),
      retriesLeft: io.retriesLeft ?? false,
      ...(signal ? { signal } : {}),
      ...(io.scrub ? { scrub: io.scrub } : {}),
      ...(io.beforeStep ? { beforeStep: io.beforeStep } : {}),
    });
  } catch (err) {
    error = err;
  }
  return { envelope, saves, events, deps, error };
}

describe("runSteps", () => {
  it("runs the steps in order, saving a checkpoint at every transition, and succeeds", async () => {
    const def = definition([step("a"), step("b", async () => ({ detail: "b did it" })), step("c")], {
      summarize: (e) => [`ran ${e.state.ran.join(",")}`],
    });
    const { envelope, saves, events, error } = await run(def);
    expect(error).toBeUndefined();
    expect(envelope.state.ran).toEqual(["a", "b", "c"]);
    expect(envelope.outcome).toMatchObject({ state: "succeeded" });
    expect(envelope.summary).toEqual(["ran a,b,c"]);
    expect(envelope.steps.b).toMatchObject({ status: "done", detail: "b did it", attempts: 1 });
    expect(envelope.steps.a?.detail).toBeUndefined();
    expect(envelope.startedAt).toBeTypeOf("number");
    // running + done for each step, then the outcome.
    expect(
      saves.map((s) =>
        Object.values(s.steps)
          .map((r) => r.status)
          .join(","),
      ),
    ).toEqual([
      "running,pending,pending",
      "done,pending,pending",
      "done,running,pending",
      "done,done,pending",
      "done,done,running",
      "done,done,done",
      "done,done,done",
    ]);
    expect(saves.at(-1)?.outcome?.state).toBe("succeeded");
    expect(events.map((e) => `${e.type}${"step" in e ? `:${e.step}` : ""}`)).toEqual([
      "started:a",
      "finished:a",
      "started:b",
      "finished:b",
      "started:c",
      "finished:c",
      "succeeded",
    ]);
  });

  it("resumes at the first unfinished step: done and skipped steps never run again", async () => {
    const def = definition([step("a"), step("b", async () => ({ skipped: "nothing to do" })), step("c")]);
    const envelope = newEnvelope(def, {
      requestId: "req-2",
      input: { name: "two" },
      requester: { id: "U1" },
      origin: {},
    });
    envelope.steps.a = { status: "done" };
    envelope.steps.b = { status: "skipped", detail: "nothing to do" };
    envelope.steps.c = { status: "running", attempts: 1 };
    const { deps } = await run(def, envelope);
    expect(deps.calls).toEqual(["c"]);
    expect(envelope.steps.c).toMatchObject({ status: "done", attempts: 2 });
    expect(envelope.outcome?.state).toBe("succeeded");
  });

  it("a skipped step is recorded as skipped with its reason", async () => {
    const def = definition([step("a", async () => ({ skipped: "already there" }))]);
    const { envelope } = await run(def);
    expect(envelope.steps.a).toMatchObject({ status: "skipped", detail: "already there" });
  });

  it("a finished job delivered again runs nothing, only tidies up again", async () => {
    let ends = 0;
    const def = definition([step("a")], { onEnd: async () => void ends++ });
    const first = await run(def);
    expect(ends).toBe(1);
    const again = await run(def, first.envelope);
    expect(again.deps.calls).toEqual([]);
    expect(again.saves).toEqual([]);
    expect(ends).toBe(2);
  });

  it("fails a job whose input is not valid, before any step", async () => {
    const def = definition([step("a")]);
    const envelope = newEnvelope(def, {
      requestId: "req-3",
      input: { name: "NOT valid" },
      requester: { id: "U1" },
      origin: {},
    });
    const { error, deps } = await run(def, envelope);
    expect(error).toBeInstanceOf(JobFailed);
    expect(deps.calls).toEqual([]);
    expect(envelope.outcome?.state).toBe("failed");
    expect(envelope.outcome?.reason).toMatch(/^The job's input is not valid: /);
  });

  it("a permanent failure fails the job at that step, with the step's title and the reason", async () => {
    let ended: string | undefined;
    const def = definition(
      [
        step("a"),
        step("b", async () => {
          throw new DrbotError("conflict", "volume.exists", "it broke <here>", { hint: "Fix it." });
        }),
        step("c"),
      ],
      {
        onEnd: async (e) => {
          ended = e.outcome?.state;
        },
      },
    );
    const { envelope, error, deps, events } = await run(def, undefined, { retriesLeft: true });
    expect(error).toBeInstanceOf(JobFailed);
    expect(deps.calls).toEqual(["a", "b"]);
    expect(envelope.steps.b).toMatchObject({ status: "failed", detail: "it broke &lt;here&gt; Fix it." });
    expect(envelope.steps.b?.finishedAt).toBeTypeOf("number");
    expect(envelope.steps.c?.status).toBe("pending");
    expect(envelope.outcome).toMatchObject({
      state: "failed",
      reason: "Title of b failed: it broke &lt;here&gt; Fix it.",
    });
    expect(ended).toBe("failed");
    expect(events.at(-1)).toEqual({
      type: "failed",
      step: "b",
      error: "Title of b failed: it broke &lt;here&gt; Fix it.",
    });
  });

  it("a transient failure is thrown back for the queue to retry while retries are left", async () => {
    const transient = new DrbotError("transient", "kube.server_error", "busy");
    const def = definition([
      step("a", async () => {
        throw transient;
      }),
    ]);
    const retrying = await run(def, undefined, { retriesLeft: true });
    expect(retrying.error).toBe(transient);
    expect(retrying.envelope.steps.a).toMatchObject({ status: "pending", detail: "retrying: busy" });
    expect(retrying.envelope.outcome).toBeUndefined();
    expect(retrying.events.at(-1)).toEqual({ type: "retrying", step: "a", error: "busy" });

    const last = await run(def, undefined, { retriesLeft: false });
    expect(last.error).toBeInstanceOf(JobFailed);
    expect(last.envelope.outcome?.state).toBe("failed");
  });

  it("a cancelled job ends as cancelled at that step, not retried", async () => {
    const def = definition([
      step("a", async () => {
        throw new JobCancelled(md`denied by ${"<@U2>"}`);
      }),
      step("b"),
    ]);
    const { envelope, error, deps } = await run(def, undefined, { retriesLeft: true });
    expect(error).toBeInstanceOf(JobFailed);
    expect(deps.calls).toEqual(["a"]);
    expect(envelope.steps.a).toMatchObject({ status: "skipped", detail: "denied by &lt;@U2&gt;" });
    expect(envelope.outcome).toMatchObject({ state: "cancelled", reason: "denied by &lt;@U2&gt;" });
  });

  it("a guard that cancels stops the job before the step runs", async () => {
    const def = definition([step("a"), step("b")], {
      guard: async (_e, _d, name) => {
        if (name === "b") throw new JobCancelled("a DR operation started");
      },
    });
    const { envelope, deps } = await run(def);
    expect(deps.calls).toEqual(["a"]);
    expect(envelope.outcome?.state).toBe("cancelled");
  });

  it("a step that parks puts the job aside until the given time, and runs again after", async () => {
    let round = 0;
    const def = definition([
      step("gate", async () =>
        round++ === 0 ? { park: { until: 1234, detail: "waiting for approval" } } : {},
      ),
      step("after"),
    ]);
    const first = await run(def);
    expect(first.error).toBeInstanceOf(JobParked);
    expect((first.error as JobParked).until).toBe(1234);
    expect(first.envelope.steps.gate).toMatchObject({ status: "waiting", detail: "waiting for approval" });
    expect(first.deps.calls).toEqual(["gate"]);
    const second = await run(def, first.envelope);
    expect(second.deps.calls).toEqual(["gate", "after"]);
    expect(first.envelope.outcome?.state).toBe("succeeded");
  });

  it("a step interrupted by a shutdown is put back at once, without failing the job", async () => {
    const def = definition([
      step("wait", async ({ signal }) => {
        await pause(60_000, signal);
        return undefined;
      }),
    ]);
    const controller = new AbortController();
    const running = run(def, undefined, {}, controller.signal);
    controller.abort();
    const { envelope, error } = await running;
    expect(error).toBeInstanceOf(JobParked);
    expect((error as JobParked).until).toBeLessThanOrEqual(Date.now());
    expect(envelope.steps.wait).toMatchObject({
      status: "pending",
      detail: "interrupted by a worker shutdown; resuming",
    });
    expect(envelope.outcome).toBeUndefined();
  });

  describe("past the point of no return", () => {
    const failing = (err: Error) =>
      definition(
        [
          step("plan"),
          step("delete", async () => undefined),
          step("apply", async () => {
            throw err;
          }),
          step("commit"),
        ],
        { pointOfNoReturn: "delete" },
      );

    it("does not mark the job past it before that step starts", async () => {
      const def = definition(
        [
          step("plan", async () => {
            throw new DrbotError("conflict", "dr.plan_stale", "no");
          }),
          step("delete"),
        ],
        { pointOfNoReturn: "delete" },
      );
      const { envelope } = await run(def);
      expect(envelope.pastPointOfNoReturn).toBeUndefined();
      expect(envelope.outcome?.state).toBe("failed");
    });

    it("retries a transient failure for as long as it lasts, even with no queue retries left", async () => {
      const def = failing(new DrbotError("transient", "kube.server_error", "busy"));
      const before = Date.now();
      const { envelope, error } = await run(def, undefined, { retriesLeft: false });
      expect(envelope.pastPointOfNoReturn).toBe(true);
      expect(error).toBeInstanceOf(JobParked);
      expect((error as JobParked).until).toBeGreaterThanOrEqual(before + retryDelay(1));
      expect(envelope.steps.apply).toMatchObject({ status: "pending", detail: "retrying in 2s: busy" });
      expect(envelope.outcome).toBeUndefined();
    });

    it("halts on a permanent failure, holding on, until a resume carries it to its end", async () => {
      const err = new DrbotError("forbidden", "git.forbidden", "GitHub refused");
      let fixed = false;
      const halts: string[] = [];
      const resumes: string[] = [];
      const def = definition(
        [
          step("plan"),
          step("delete"),
          step("apply", async () => {
            if (!fixed) throw err;
            return undefined;
          }),
          step("commit"),
        ],
        {
          pointOfNoReturn: "delete",
          onHalt: async (e) => void halts.push(e.halted?.step ?? ""),
          onResume: (_e, request) => void resumes.push(request.by),
          takeResume: async () => (fixed ? { by: "U0APR1", at: 1 } : null),
        },
      );
      const halted = await run(def);
      expect(halted.error).toBeInstanceOf(JobParked);
      expect(halted.envelope.halted).toMatchObject({
        step: "apply",
        reason: "Title of apply failed: GitHub refused",
      });
      expect(halted.envelope.steps.apply?.status).toBe("failed");
      expect(halted.envelope.outcome).toBeUndefined();
      expect(halts).toEqual(["apply"]);
      expect(halted.events.at(-1)).toMatchObject({ type: "failed", step: "apply" });

      // Woken without a resume: it keeps waiting, and runs nothing.
      const still = await run(def, halted.envelope);
      expect(still.error).toBeInstanceOf(JobParked);
      expect((still.error as JobParked).until).toBeGreaterThan(Date.now() + 3_600_000);
      expect(still.deps.calls).toEqual([]);

      fixed = true;
      const resumed = await run(def, halted.envelope);
      expect(resumed.error).toBeUndefined();
      expect(resumed.deps.calls).toEqual(["apply", "commit"]);
      expect(resumes).toEqual(["U0APR1"]);
      expect(halted.envelope.halted).toBeUndefined();
      expect(halted.envelope.resumes).toEqual([{ by: "U0APR1", at: 1 }]);
      expect(halted.envelope.outcome?.state).toBe("succeeded");
    });
  });

  it("scrubs secrets from every detail it saves, and escapes plain text", async () => {
    const def = definition([
      step("a", async ({ progress }) => {
        progress("token xoxb-secret <b>");
        return { detail: "done with xoxb-secret" };
      }),
    ]);
    const details: string[] = [];
    const { envelope } = await run(def, undefined, {
      scrub: (t) => {
        details.push(t);
        return t.replaceAll("xoxb-secret", "[secret]");
      },
    });
    expect(details).toContain("token xoxb-secret &lt;b&gt;");
    expect(envelope.steps.a?.detail).toBe("done with [secret]");
  });

  it("awaits the fault-injection pause before each step", async () => {
    const order: string[] = [];
    const def = definition([
      step("a", async () => void order.push("a")),
      step("b", async () => void order.push("b")),
    ]);
    await run(def, undefined, { beforeStep: async () => void order.push("pause") });
    expect(order).toEqual(["pause", "a", "pause", "b"]);
  });
});

describe("waiting helpers", () => {
  it("polls quickly at first, then at the given pace", () => {
    expect([0, 1, 2, 3, 10].map((r) => pollDelay(r, 500))).toEqual([100, 200, 400, 500, 500]);
    expect(pollDelay(0, 20)).toBe(20);
  });

  it("retries past the point of no return at 2 s, doubling, at most every 5 minutes", () => {
    expect([0, 1, 2, 3, 20].map(retryDelay)).toEqual([2_000, 2_000, 4_000, 8_000, 300_000]);
  });

  it("pause ends at its time, or at once with JobInterrupted on shutdown", async () => {
    await expect(pause(1, new AbortController().signal)).resolves.toBeUndefined();
    const aborted = new AbortController();
    aborted.abort();
    await expect(pause(60_000, aborted.signal)).rejects.toBeInstanceOf(JobInterrupted);
  });

  it("pollUntil returns the first value, and throws what onTimeout says once the time is up", async () => {
    let n = 0;
    const progress: number[] = [];
    const value = await pollUntil({
      check: async () => (++n === 3 ? "ready" : undefined),
      timeoutMs: 10_000,
      pollMs: 1,
      signal: new AbortController().signal,
      onTimeout: () => new Error("late"),
      progress: (ms) => progress.push(ms),
    });
    expect(value).toBe("ready");
    expect(progress).toHaveLength(2);

    await expect(
      pollUntil({
        check: async () => undefined,
        timeoutMs: 0,
        pollMs: 1,
        signal: new AbortController().signal,
        onTimeout: (elapsed) => new Error(`still nothing after ${elapsed >= 0 ? "the deadline" : "?"}`),
      }),
    ).rejects.toThrow("still nothing after the deadline");
  });
});

describe("runSteps, further", () => {
  const fresh = (def: Definition) =>
    newEnvelope(def, { requestId: "req-9", input: { name: "nine" }, requester: { id: "U1" }, origin: {} });

  it("its errors carry their own names and messages, for logs and the queue", () => {
    expect(new JobFailed("x").name).toBe("JobFailed");
    expect(new JobCancelled("x").name).toBe("JobCancelled");
    expect(new JobInterrupted("x").name).toBe("JobInterrupted");
    const parked = new JobParked(42);
    expect(parked.name).toBe("JobParked");
    expect(parked.message).toBe("parked");
    expect(parked.until).toBe(42);
  });

  it("a job without a summary ends with an empty one, and no detail is kept for a silent step", async () => {
    const def = definition([step("a")]);
    const { envelope } = await run(def);
    expect(envelope.summary).toEqual([]);
    expect(envelope.steps.a).toStrictEqual({
      status: "done",
      startedAt: expect.any(Number),
      finishedAt: expect.any(Number),
      attempts: 1,
    });
  });

  it("a step added to the job after it was queued is run too", async () => {
    const def = definition([step("a"), step("b")]);
    const envelope = fresh(def);
    delete envelope.steps.b;
    const { deps, envelope: done } = await run(def, envelope);
    expect(deps.calls).toEqual(["a", "b"]);
    expect(done.steps.b?.status).toBe("done");
  });

  it("a finished job delivered again is fine without an onEnd", async () => {
    const def = definition([step("a")]);
    const first = await run(def);
    const again = await run(def, first.envelope);
    expect(again.error).toBeUndefined();
    expect(again.deps.calls).toEqual([]);
  });

  it("invalid input names the problem, and the card hears a failure not tied to a step", async () => {
    const def = definition([step("a")]);
    const envelope = fresh(def);
    envelope.input = { name: "NOT valid" };
    const { error, events, saves } = await run(def, envelope);
    expect((error as JobFailed).message).toBe("invalid input");
    const reason = "The job's input is not valid: Invalid string: must match pattern /^[a-z]+$/";
    expect(envelope.outcome?.reason).toBe(reason);
    expect(saves).toHaveLength(1);
    expect(events).toEqual([{ type: "failed", step: "", error: reason }]);
  });

  it("a permanent failure and a cancellation keep the original error as the cause", async () => {
    const broken = new DrbotError("conflict", "volume.exists", "broke");
    const failed = await run(
      definition([
        step("a", async () => {
          throw broken;
        }),
      ]),
    );
    expect((failed.error as JobFailed).cause).toBe(broken);
    expect((failed.error as JobFailed).message).toBe("broke");

    const cancel = new JobCancelled("denied");
    const cancelled = await run(
      definition([
        step("a", async () => {
          throw cancel;
        }),
      ]),
    );
    expect((cancelled.error as JobFailed).cause).toBe(cancel);
    expect(cancelled.envelope.steps.a?.finishedAt).toBeTypeOf("number");
  });

  it("live progress and parking re-render the card at that step", async () => {
    const def = definition([
      step("a", async ({ progress }) => {
        progress("half way");
        return undefined;
      }),
      step("gate", async () => ({ park: { until: 99, detail: "waiting" } })),
    ]);
    const { events, saves } = await run(def);
    expect(events).toEqual([
      { type: "started", step: "a" },
      { type: "progress", step: "a" },
      { type: "finished", step: "a" },
      { type: "started", step: "gate" },
      { type: "progress", step: "gate" },
    ]);
    expect(saves.at(-1)?.steps.gate).toMatchObject({ status: "waiting", detail: "waiting" });
  });

  it("a shutdown mid-step re-renders the card at that step", async () => {
    const controller = new AbortController();
    const def = definition([
      step("wait", async ({ signal }) => {
        const waiting = pause(60_000, signal);
        controller.abort();
        await waiting;
        return undefined;
      }),
    ]);
    const { error, events, envelope } = await run(def, undefined, {}, controller.signal);
    expect(error).toBeInstanceOf(JobParked);
    expect(events.at(-1)).toEqual({ type: "progress", step: "wait" });
    expect(envelope.steps.wait?.attempts).toBe(1);
  });

  describe("past the point of no return", () => {
    const def = (run: Step<Input, State, { calls: string[] }>["run"], extra: Partial<Definition> = {}) =>
      definition([step("plan"), step("delete"), step("apply", run), step("commit")], {
        pointOfNoReturn: "delete",
        ...extra,
      });

    it("waits longer before each retry of a transient failure, and tells the card", async () => {
      const d = def(async () => {
        throw new DrbotError("transient", "kube.server_error", "busy");
      });
      const envelope = fresh(d);
      envelope.steps.plan = { status: "done" };
      envelope.steps.delete = { status: "done" };
      envelope.pastPointOfNoReturn = true;
      envelope.steps.apply = { status: "pending", attempts: 2 };
      const before = Date.now();
      const { error, events } = await run(d, envelope);
      expect(envelope.steps.apply).toMatchObject({
        status: "pending",
        attempts: 3,
        detail: "retrying in 8s: busy",
      });
      expect((error as JobParked).until).toBeGreaterThanOrEqual(before + 8_000);
      expect(events.at(-1)).toEqual({ type: "retrying", step: "apply", error: "busy" });
    });

    it("halts for hours without an onHalt, and a halted job with no way to resume keeps waiting", async () => {
      const d = def(async () => {
        throw new DrbotError("forbidden", "git.forbidden", "refused");
      });
      const before = Date.now();
      const halted = await run(d);
      expect((halted.error as JobParked).until).toBeGreaterThanOrEqual(before + 6 * 3_600_000);
      expect(halted.envelope.halted?.step).toBe("apply");
      expect(halted.envelope.steps.apply?.finishedAt).toBeTypeOf("number");

      const again = await run(d, halted.envelope);
      expect(again.error).toBeInstanceOf(JobParked);
      expect(again.deps.calls).toEqual([]);
      expect(again.saves).toEqual([]);
    });

    it("a resume checkpoints the halted step as pending, says who resumed it, and re-renders", async () => {
      let fixed = false;
      const d = def(
        async () => {
          if (!fixed) throw new DrbotError("forbidden", "git.forbidden", "refused");
          return undefined;
        },
        { takeResume: async () => ({ by: "<@U0APR1>", at: 5 }) },
      );
      const halted = await run(d);
      expect(halted.envelope.halted).toBeDefined();
      fixed = true;
      const resumed = await run(d, halted.envelope);
      expect(resumed.error).toBeUndefined();
      expect(resumed.saves[0]?.halted).toBeUndefined();
      expect(resumed.saves[0]?.steps.apply).toMatchObject({
        status: "pending",
        detail: "resumed by &lt;@U0APR1&gt;",
      });
      expect(resumed.events[0]).toEqual({ type: "progress", step: "" });
      expect(resumed.deps.calls).toEqual(["apply", "commit"]);
    });

    it("resumes even when the halted step is no longer part of the job", async () => {
      const d = def(async () => undefined, { takeResume: async () => ({ by: "U2", at: 5 }) });
      const envelope = fresh(d);
      envelope.pastPointOfNoReturn = true;
      envelope.halted = { step: "renamed", reason: "x", at: 1 };
      const { error, envelope: done } = await run(d, envelope);
      expect(error).toBeUndefined();
      expect(done.steps.renamed).toBeUndefined();
      expect(done.outcome?.state).toBe("succeeded");
    });
  });

  it("logs each step's start, end with its duration, and failure with the error's code", async () => {
    const { logger, lines } = capturingLogger();
    const def = definition([
      step("a"),
      step("b", async () => {
        throw new DrbotError("conflict", "volume.exists", "broke");
      }),
    ]);
    const envelope = fresh(def);
    await run(def, envelope, { logger });
    const seen = lines.map((l) => ({ msg: l.msg, step: l.step }));
    expect(seen).toEqual([
      { msg: "step started", step: "a" },
      { msg: "step finished", step: "a" },
      { msg: "step started", step: "b" },
      { msg: "step failed", step: "b" },
    ]);
    expect(lines[0]).toMatchObject({ attempt: 1 });
    expect(lines[1]).toMatchObject({ status: "done" });
    const started = envelope.steps.a?.startedAt ?? 0;
    expect(lines[1]?.ms).toBe((envelope.steps.a?.finishedAt ?? 0) - started);
    expect(lines[3]).toMatchObject({ code: "volume.exists", err: { message: "broke" } });
  });

  it("logs retries, parking, shutdowns, halts and resumes", async () => {
    const { logger, lines } = capturingLogger();
    const msgs = () => lines.map((l) => l.msg);

    await run(
      definition([
        step("a", async () => {
          throw new DrbotError("transient", "kube.server_error", "busy");
        }),
      ]),
      undefined,
      { retriesLeft: true, logger },
    );
    expect(msgs().at(-1)).toBe("step failed, will retry");
    expect(lines.at(-1)).toMatchObject({ step: "a", err: { message: "busy" } });

    await run(definition([step("a", async () => ({ park: { until: 0, detail: "w" } }))]), undefined, {
      logger,
    });
    expect(msgs().at(-1)).toBe("step waiting");
    expect(lines.at(-1)).toMatchObject({ until: new Date(0).toISOString() });

    const controller = new AbortController();
    controller.abort();
    await run(
      definition([step("a", async ({ signal }) => void (await pause(1, signal)))]),
      undefined,
      { logger },
      controller.signal,
    );
    expect(msgs().at(-1)).toBe("step interrupted by shutdown");

    let fixed = false;
    const ponr = definition(
      [
        step("delete", async () => {
          if (!fixed) throw new DrbotError("transient", "kube.server_error", "busy");
          return undefined;
        }),
        step("apply", async () => {
          throw new DrbotError("forbidden", "git.forbidden", "refused");
        }),
      ],
      { pointOfNoReturn: "delete", takeResume: async () => (fixed ? { by: "U3", at: 1 } : null) },
    );
    const envelope = fresh(ponr);
    await run(ponr, envelope, { logger });
    expect(msgs().at(-1)).toBe("step failed past the point of no return, will retry");
    expect(lines.at(-1)).toMatchObject({ step: "delete", delayMs: 2_000 });
    fixed = true;
    await run(ponr, envelope, { logger });
    expect(msgs().at(-1)).toBe("step failed past the point of no return; the job is halted until resumed");
    expect(lines.at(-1)).toMatchObject({ step: "apply", code: "git.forbidden" });
    fixed = false;
    await run(ponr, envelope, { logger });
    expect(msgs().at(-1)).toBe("halted job still waits for a resume");
    expect(lines.at(-1)).toMatchObject({ step: "apply" });
    fixed = true;
    const before = lines.length;
    await run(ponr, envelope, { logger });
    expect(lines[before]).toMatchObject({ msg: "halted job resumed", by: "U3" });
  });
});

describe("waiting helpers, exactly", () => {
  it("pause leaves no listener behind when it ends, and none and no timer when interrupted", async () => {
    const signal = new AbortController().signal;
    await pause(1, signal);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);

    const aborted = new AbortController();
    aborted.abort();
    await expect(pause(1, aborted.signal)).rejects.toThrow("worker shutting down");

    vi.useFakeTimers();
    try {
      const controller = new AbortController();
      const waiting = pause(60_000, controller.signal);
      expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
      expect(vi.getTimerCount()).toBe(1);
      controller.abort();
      await expect(waiting).rejects.toThrow(new JobInterrupted("worker shutting down"));
      expect(vi.getTimerCount()).toBe(0);
      expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("pollUntil looks again after 100, 200, … ms, never past its deadline, and gives up exactly there", async () => {
    vi.useFakeTimers();
    try {
      const start = Date.now();
      const looks: number[] = [];
      const result = pollUntil({
        check: async () => {
          looks.push(Date.now() - start);
          return undefined;
        },
        timeoutMs: 250,
        pollMs: 10_000,
        signal: new AbortController().signal,
        onTimeout: (elapsed) => new Error(`gave up after ${elapsed}`),
      }).catch((err: Error) => err.message);
      await vi.runAllTimersAsync();
      expect(await result).toBe("gave up after 250");
      expect(looks).toEqual([0, 100, 250]);

      const later: number[] = [];
      const start2 = Date.now();
      let n = 0;
      const value = pollUntil({
        check: async () => {
          later.push(Date.now() - start2);
          return ++n === 5 ? n : undefined;
        },
        timeoutMs: 60_000,
        pollMs: 300,
        signal: new AbortController().signal,
        onTimeout: () => new Error("late"),
      });
      await vi.runAllTimersAsync();
      expect(await value).toBe(5);
      expect(later).toEqual([0, 100, 300, 600, 900]);
    } finally {
      vi.useRealTimers();
    }
  });
});
