// The one status message a job has in its channel, rendered from the job's envelope alone so
// any worker (or the same one after a restart) can redraw it exactly.

import type { KnownBlock } from "@slack/types";
import { formatDuration } from "./duration.ts";
import { escapeMrkdwn, Mrkdwn, mention } from "./mrkdwn.ts";
import type { Blocks } from "./ports/chat.ts";
import type { Detail, JobEnvelope, StepRecord, StepStatus } from "./steps.ts";

const MARK: Record<StepStatus, string> = {
  pending: ":white_circle:",
  running: ":hourglass_flowing_sand:",
  waiting: ":hourglass:",
  done: ":white_check_mark:",
  failed: ":x:",
  skipped: ":fast_forward:",
};

export interface CardSteps {
  steps: readonly { name: string; title: string; hidden?: boolean }[];
}

export interface Card {
  text: string;
  blocks: Blocks;
}

export function stepDuration(r: StepRecord): string {
  return r.startedAt && r.finishedAt ? ` (${formatDuration(r.finishedAt - r.startedAt)})` : "";
}

/** The state word a reader (or a test) looks for: queued, running, succeeded, failed, cancelled. */
export function stateOf(envelope: JobEnvelope): string {
  if (envelope.outcome) return envelope.outcome.state;
  if (envelope.halted) return "failed";
  return Object.values(envelope.steps).some((s) => s.status !== "pending") ? "running" : "queued";
}

/**
 * The card of a job. `title` is drbot's wording with names that are labels (escaped anyway);
 * step details, reasons and summaries in the envelope are already safe mrkdwn.
 */
export function renderStatusCard(
  envelope: JobEnvelope,
  titleText: string,
  definition: CardSteps,
  nextSteps?: Detail,
): Card {
  const title = escapeMrkdwn(titleText);
  const state = stateOf(envelope);
  const who = mention(envelope.requester.id).text;
  const took =
    envelope.outcome && envelope.startedAt
      ? ` in ${formatDuration(envelope.outcome.finishedAt - envelope.startedAt)}`
      : "";
  const why = envelope.outcome?.reason ?? envelope.halted?.reason;
  const reason = why && state !== "succeeded" ? `: ${why}` : "";
  const halted = envelope.halted ? " — incomplete, waiting to be resumed" : "";
  const headline = `${title} for ${who}: ${state}${took}${halted}${reason}`;
  const icon =
    state === "succeeded"
      ? ":large_green_circle:"
      : state === "failed"
        ? ":red_circle:"
        : state === "cancelled"
          ? ":white_circle:"
          : ":large_blue_circle:";

  const shown = definition.steps.filter((s) => {
    const status = envelope.steps[s.name]?.status ?? "pending";
    return !(s.hidden && (status === "pending" || status === "skipped"));
  });
  const lines = shown.map((s, i) => {
    const r = envelope.steps[s.name] ?? { status: "pending" as const };
    const detail = r.detail ? ` — ${truncate(r.detail, 300)}` : "";
    return `${MARK[r.status]} ${i + 1}. ${s.title} _${r.status}_${stepDuration(r)}${detail}`;
  });

  const blocks: KnownBlock[] = [
    {
      type: "section",
      text: { type: "mrkdwn", text: truncate(`${icon} *${title}* — *${state}*${took}`, 3000) },
    },
    {
      type: "context",
      elements: [{ type: "mrkdwn", text: `Requested by ${who} · request \`${envelope.requestId}\`` }],
    },
    { type: "section", text: { type: "mrkdwn", text: truncate(lines.join("\n"), 3000) } },
  ];
  if (envelope.outcome?.state === "failed" || envelope.halted) {
    const next = nextSteps instanceof Mrkdwn ? nextSteps.text : nextSteps && escapeMrkdwn(nextSteps, 1000);
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: truncate(`*Why:* ${why ?? "unknown"}${next ? `\n*Next:* ${next}` : ""}`, 3000),
      },
    });
  }
  if (envelope.summary && envelope.summary.length > 0) {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: truncate(envelope.summary.join("\n"), 3000) },
    });
  }
  return { text: truncate(headline, 3000), blocks };
}

/** The thread reply logged when a step ends. */
export function stepLogLine(index: number, title: string, r: StepRecord): string {
  const detail = r.detail ? `: ${truncate(r.detail, 2500)}` : "";
  return `${MARK[r.status]} ${index + 1}. ${title} ${r.status}${stepDuration(r)}${detail}`;
}

/** Cuts `text` to Slack's limits, marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
