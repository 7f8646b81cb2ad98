// A request's status card is posted before its job is queued, so the channel sees it at once.
// One decision lives here: which failures to post it mean the request must be refused now.

import { DrbotError, type ErrorCode } from "../core/errors.ts";
import type { ChatPort } from "../core/ports/chat.ts";
import { type CardSteps, renderStatusCard } from "../core/status-card.ts";
import type { JobEnvelope } from "../core/steps.ts";

/** Slack's answers that mean drbot can never post in the channel, rather than "not now". */
const CHANNEL_REFUSED: readonly ErrorCode[] = ["slack.not_in_channel", "slack.channel_not_found"];

/**
 * Posts the card and records where on the envelope. Returns Slack's error code when it refuses
 * the channel for good: the caller refuses the request (with `/invite @drbot`) instead of queueing
 * a job whose card would never appear. Any other failure is left to the worker's notifier, which
 * posts the card when Slack answers again.
 */
export async function postFirstCard(
  chat: ChatPort,
  channel: string,
  envelope: JobEnvelope,
  title: string,
  definition: CardSteps,
): Promise<ErrorCode | undefined> {
  const card = renderStatusCard(envelope, title, definition);
  try {
    envelope.origin.statusTs = (await chat.post(channel, card.text, card.blocks)).ts;
  } catch (err) {
    if (err instanceof DrbotError && CHANNEL_REFUSED.includes(err.code)) return err.code;
  }
  return undefined;
}
