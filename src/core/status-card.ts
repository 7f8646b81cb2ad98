// The one status message a job has in its channel, rendered from the job's envelope alone so
// any worker (or the same one after a restart) can redraw it exactly.

import { formatDuration } from "./duration.ts";
import type { Blocks } from "./ports/chat.ts";
import type { JobEnvelope, StepRecord, StepStatus } from "./steps.ts";

const MARK: Record<StepStatus, string> = {
  pending: ":white_circle:",
  running: ":hourglass_flowing_sand:",
  waiting: ":hourglass:",
  done: ":white_check_mark:",
  failed: ":x:",
  skipped: ":fast_forward:",
};

export interface CardSteps {
  steps: readonly { name: string; title: string }[];
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
  return Object.values(envelope.steps).some((s) => s.status !== "pending") ? "running" : "queued";
}

export function renderStatusCard(
  envelope: JobEnvelope,
  title: string,
  definition: CardSteps,
  nextSteps?: string,
): Card {
  const state = stateOf(envelope);
  const who = envelope.requester.id.startsWith("cli:")
    ? envelope.requester.id
    : `<@${envelope.requester.id}>`;
  const took =
    envelope.outcome && envelope.startedAt
      ? ` in ${formatDuration(envelope.outcome.finishedAt - envelope.startedAt)}`
      : "";
  const reason = envelope.outcome?.reason ? `: ${envelope.outcome.reason}` : "";
  const headline = `${title} for ${who}: ${state}${took}${envelope.outcome && envelope.outcome.state !== "succeeded" ? reason : ""}`;
  const icon =
    state === "succeeded"
      ? ":large_green_circle:"
      : state === "failed"
        ? ":red_circle:"
        : state === "cancelled"
          ? ":white_circle:"
          : ":large_blue_circle:";

  const lines = definition.steps.map((s, i) => {
    const r = envelope.steps[s.name] ?? { status: "pending" as const };
    const detail = r.detail ? ` — ${truncate(r.detail, 300)}` : "";
    return `${MARK[r.status]} ${i + 1}. ${s.title} _${r.status}_${stepDuration(r)}${detail}`;
  });

  const blocks: Record<string, unknown>[] = [
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
  if (envelope.outcome?.state === "failed") {
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: truncate(
          `*Why:* ${envelope.outcome.reason ?? "unknown"}${nextSteps ? `\n*Next:* ${nextSteps}` : ""}`,
          3000,
        ),
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
