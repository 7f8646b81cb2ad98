// The status card of a job: what a reader sees in the channel, drawn from the envelope alone.
// Each state has its icon and word, hidden steps show only once they ran, a failed or halted
// job says why and what next, and no section exceeds Slack's 3,000 characters.

import type { ContextBlock, KnownBlock, SectionBlock } from "@slack/types";
import { describe, expect, it } from "vitest";
import { Mrkdwn } from "../../src/core/mrkdwn.ts";
import {
  type CardSteps,
  renderStatusCard,
  stateOf,
  stepDuration,
  stepLogLine,
  truncate,
} from "../../src/core/status-card.ts";
import type { JobEnvelope, StepRecord } from "../../src/core/steps.ts";

const T0 = 1_700_000_000_000;

const definition: CardSteps = {
  steps: [
    { name: "check", title: "Check the volume" },
    { name: "snapshot", title: "Take a snapshot" },
    { name: "cleanup", title: "Clean up", hidden: true },
  ],
};

function envelope(fields: Partial<JobEnvelope> = {}): JobEnvelope {
  return {
    kind: "restore",
    requestId: "req-1",
    input: {},
    requester: { id: "U0ALICE" },
    origin: { channel: "C0LIVE" },
    createdAt: T0,
    steps: { check: { status: "pending" }, snapshot: { status: "pending" }, cleanup: { status: "pending" } },
    state: {},
    ...fields,
  };
}

const texts = (blocks: readonly KnownBlock[]) =>
  blocks.map((b) =>
    b.type === "section"
      ? (b as SectionBlock).text?.text
      : b.type === "context"
        ? (b.elements[0] as { text: string }).text
        : b.type,
  );

describe("stepDuration", () => {
  it("is shown once a step has both started and finished", () => {
    expect(stepDuration({ status: "done", startedAt: T0, finishedAt: T0 + 1_500 })).toBe(" (1.5s)");
    expect(stepDuration({ status: "running", startedAt: T0 })).toBe("");
    expect(stepDuration({ status: "done", finishedAt: T0 })).toBe("");
    expect(stepDuration({ status: "pending" })).toBe("");
  });
});

describe("stateOf", () => {
  it("reads queued, running, the outcome, or failed for a halted job", () => {
    expect(stateOf(envelope())).toBe("queued");
    expect(stateOf(envelope({ steps: { check: { status: "done" }, snapshot: { status: "pending" } } }))).toBe(
      "running",
    );
    expect(stateOf(envelope({ steps: { check: { status: "skipped" } } }))).toBe("running");
    expect(stateOf(envelope({ steps: {} }))).toBe("queued");
    expect(stateOf(envelope({ halted: { step: "snapshot", reason: "boom", at: T0 } }))).toBe("failed");
    for (const state of ["succeeded", "failed", "cancelled"] as const)
      expect(stateOf(envelope({ outcome: { state, finishedAt: T0 }, halted: undefined }))).toBe(state);
    expect(
      stateOf(
        envelope({
          outcome: { state: "succeeded", finishedAt: T0 },
          halted: { step: "snapshot", reason: "x", at: T0 },
        }),
      ),
    ).toBe("succeeded");
  });
});

describe("renderStatusCard", () => {
  it("draws a queued job: blue, every visible step pending, hidden steps left out", () => {
    const card = renderStatusCard(envelope(), "Restore <vol>", definition);
    expect(card.text).toBe("Restore &lt;vol&gt; for <@U0ALICE>: queued");
    expect(texts(card.blocks)).toEqual([
      ":large_blue_circle: *Restore &lt;vol&gt;* — *queued*",
      "Requested by <@U0ALICE> · request `req-1`",
      ":white_circle: 1. Check the volume _pending_\n:white_circle: 2. Take a snapshot _pending_",
    ]);
    expect(card.blocks.map((b) => b.type)).toEqual(["section", "context", "section"]);
    expect((card.blocks[0] as SectionBlock).text?.type).toBe("mrkdwn");
    expect((card.blocks[2] as SectionBlock).text?.type).toBe("mrkdwn");
  });

  it("draws a running job with each step's mark, duration and detail", () => {
    const steps: Record<string, StepRecord> = {
      check: { status: "done", startedAt: T0, finishedAt: T0 + 2_000, detail: "3 files" },
      snapshot: { status: "running", startedAt: T0 + 2_000 },
      cleanup: { status: "waiting", detail: "until 10:00" },
    };
    const card = renderStatusCard(envelope({ steps, startedAt: T0 }), "Restore", definition);
    expect(card.text).toBe("Restore for <@U0ALICE>: running");
    expect(texts(card.blocks)[0]).toBe(":large_blue_circle: *Restore* — *running*");
    expect(texts(card.blocks)[2]).toBe(
      [
        ":white_check_mark: 1. Check the volume _done_ (2s) — 3 files",
        ":hourglass_flowing_sand: 2. Take a snapshot _running_",
        ":hourglass: 3. Clean up _waiting_ — until 10:00",
      ].join("\n"),
    );
  });

  it("shows a hidden step once it ran or failed, never while pending or skipped", () => {
    const shown = (status: StepRecord["status"]) =>
      texts(
        renderStatusCard(
          envelope({
            steps: { check: { status: "done" }, snapshot: { status: "done" }, cleanup: { status } },
          }),
          "Job",
          definition,
        ).blocks,
      )[2]?.includes("Clean up");
    expect(shown("pending")).toBe(false);
    expect(shown("skipped")).toBe(false);
    expect(shown("running")).toBe(true);
    expect(shown("failed")).toBe(true);
    expect(shown("done")).toBe(true);
    // A step the envelope does not know yet is pending: shown unless hidden.
    const card = renderStatusCard(envelope({ steps: {} }), "Job", definition);
    expect(texts(card.blocks)[2]).toBe(
      ":white_circle: 1. Check the volume _pending_\n:white_circle: 2. Take a snapshot _pending_",
    );
    // A skipped step that is not hidden stays, marked as skipped.
    const skipped = renderStatusCard(
      envelope({ steps: { check: { status: "skipped" } } }),
      "Job",
      definition,
    );
    expect(texts(skipped.blocks)[2]).toContain(":fast_forward: 1. Check the volume _skipped_");
  });

  it("draws a success green with its duration and summary, without Why even if a reason is set", () => {
    const card = renderStatusCard(
      envelope({
        startedAt: T0,
        outcome: { state: "succeeded", finishedAt: T0 + 90_000, reason: "ignored" },
        steps: { check: { status: "done" }, snapshot: { status: "done" }, cleanup: { status: "skipped" } },
        summary: ["Restored *3* files", "Snapshot `snap-1`"],
      }),
      "Restore",
      definition,
      "never shown",
    );
    expect(card.text).toBe("Restore for <@U0ALICE>: succeeded in 1m30s");
    expect(texts(card.blocks)).toEqual([
      ":large_green_circle: *Restore* — *succeeded* in 1m30s",
      "Requested by <@U0ALICE> · request `req-1`",
      ":white_check_mark: 1. Check the volume _done_\n:white_check_mark: 2. Take a snapshot _done_",
      "Restored *3* files\nSnapshot `snap-1`",
    ]);
  });

  it("says why a failed job failed and what to do next", () => {
    const card = renderStatusCard(
      envelope({
        startedAt: T0,
        outcome: { state: "failed", finishedAt: T0 + 5_000, reason: "EFS said *no*" },
        steps: { check: { status: "failed", detail: "EFS said *no*" } },
      }),
      "Restore",
      definition,
      new Mrkdwn("Ask <!subteam^S0DR> to look."),
    );
    expect(card.text).toBe("Restore for <@U0ALICE>: failed in 5s: EFS said *no*");
    expect(texts(card.blocks)[0]).toBe(":red_circle: *Restore* — *failed* in 5s");
    expect(texts(card.blocks)[3]).toBe("*Why:* EFS said *no*\n*Next:* Ask <!subteam^S0DR> to look.");
    expect(card.blocks).toHaveLength(4);
  });

  it("escapes next steps given as plain text, and says unknown when there is no reason", () => {
    const card = renderStatusCard(
      envelope({ outcome: { state: "failed", finishedAt: T0 } }),
      "Job",
      definition,
      "retry <!channel>\nlater",
    );
    expect(card.text).toBe("Job for <@U0ALICE>: failed");
    expect(texts(card.blocks)[3]).toBe("*Why:* unknown\n*Next:* retry &lt;!channel&gt; later");
    const long = renderStatusCard(
      envelope({ outcome: { state: "failed", finishedAt: T0, reason: "r" } }),
      "Job",
      definition,
      "n".repeat(1500),
    );
    expect(texts(long.blocks)[3]).toBe(`*Why:* r\n*Next:* ${"n".repeat(999)}…`);
    const none = renderStatusCard(
      envelope({ outcome: { state: "failed", finishedAt: T0, reason: "r" } }),
      "Job",
      definition,
    );
    expect(texts(none.blocks)[3]).toBe("*Why:* r");
    const empty = renderStatusCard(
      envelope({ outcome: { state: "failed", finishedAt: T0, reason: "r" } }),
      "Job",
      definition,
      "",
    );
    expect(texts(empty.blocks)[3]).toBe("*Why:* r");
  });

  it("draws a halted job as failed and incomplete, with why and what next", () => {
    const card = renderStatusCard(
      envelope({
        startedAt: T0,
        halted: { step: "snapshot", reason: "snapshot quota", at: T0 + 1_000 },
        steps: { check: { status: "done" }, snapshot: { status: "failed" } },
      }),
      "Failover",
      definition,
      new Mrkdwn("Resume with `/dr resume`."),
    );
    expect(card.text).toBe(
      "Failover for <@U0ALICE>: failed — incomplete, waiting to be resumed: snapshot quota",
    );
    expect(texts(card.blocks)[0]).toBe(":red_circle: *Failover* — *failed*");
    expect(texts(card.blocks)[3]).toBe("*Why:* snapshot quota\n*Next:* Resume with `/dr resume`.");
  });

  it("draws a cancelled job white with its reason, without Why or Next", () => {
    const card = renderStatusCard(
      envelope({ outcome: { state: "cancelled", finishedAt: T0, reason: "cancelled by <@U0BOB>" } }),
      "Job",
      definition,
      "next",
    );
    expect(card.text).toBe("Job for <@U0ALICE>: cancelled: cancelled by <@U0BOB>");
    expect(texts(card.blocks)[0]).toBe(":white_circle: *Job* — *cancelled*");
    expect(card.blocks).toHaveLength(3);
  });

  it("does not mention a requester that is not a Slack user", () => {
    const card = renderStatusCard(envelope({ requester: { id: "cli:<!channel>" } }), "Job", definition);
    expect(card.text).toBe("Job for cli:&lt;!channel&gt;: queued");
  });

  it("leaves out an empty summary", () => {
    const card = renderStatusCard(
      envelope({ outcome: { state: "succeeded", finishedAt: T0 }, summary: [] }),
      "Job",
      definition,
    );
    expect(card.blocks).toHaveLength(3);
  });

  it("never exceeds Slack's 3,000 characters in the text or any section", () => {
    const many: CardSteps = {
      steps: Array.from({ length: 40 }, (_, i) => ({ name: `s${i}`, title: `Step ${"t".repeat(60)} ${i}` })),
    };
    const steps = Object.fromEntries(
      many.steps.map((s) => [s.name, { status: "failed" as const, detail: "d".repeat(500) }]),
    );
    const card = renderStatusCard(
      envelope({
        steps,
        outcome: { state: "failed", finishedAt: T0, reason: "r".repeat(4_000) },
        summary: Array.from({ length: 100 }, () => "s".repeat(100)),
      }),
      "x".repeat(5_000),
      many,
      new Mrkdwn("n".repeat(4_000)),
    );
    expect(card.text).toHaveLength(3_000);
    expect(card.text.endsWith("…")).toBe(true);
    const sections = texts(card.blocks);
    expect(sections).toHaveLength(5);
    // Every text in the card is mrkdwn, so its mentions and code spans render.
    expect(card.blocks.map((b) => b.type)).toEqual(["section", "context", "section", "section", "section"]);
    for (const b of card.blocks) {
      const text = b.type === "section" ? (b as SectionBlock).text : (b as ContextBlock).elements[0];
      expect(text?.type).toBe("mrkdwn");
    }
    for (const [i, text] of sections.entries()) {
      expect(text?.length, `block ${i}`).toBeLessThanOrEqual(3_000);
    }
    for (const i of [2, 3, 4]) expect(sections[i]).toHaveLength(3_000);
    // A step's detail is cut to 300 characters.
    expect(sections[2]).toContain(`— ${"d".repeat(299)}…\n`);
    // The title is cut like any outside value.
    expect(sections[0]).toBe(`:red_circle: *${"x".repeat(299)}…* — *failed*`);
  });
});

describe("stepLogLine", () => {
  it("is the step's mark, number, title, status, duration and detail", () => {
    expect(
      stepLogLine(0, "Check", { status: "done", startedAt: T0, finishedAt: T0 + 500, detail: "ok" }),
    ).toBe(":white_check_mark: 1. Check done (500ms): ok");
    expect(stepLogLine(2, "Copy", { status: "failed" })).toBe(":x: 3. Copy failed");
    expect(stepLogLine(1, "Copy", { status: "skipped", detail: "d".repeat(3_000) })).toBe(
      `:fast_forward: 2. Copy skipped: ${"d".repeat(2_499)}…`,
    );
  });
});

describe("truncate", () => {
  it("keeps text up to the limit and cuts longer text to exactly the limit with an ellipsis", () => {
    expect(truncate("abc", 3)).toBe("abc");
    expect(truncate("abcd", 3)).toBe("ab…");
    expect(truncate("", 3)).toBe("");
  });
});
