// What slash-command and button handlers may use. They decide and enqueue; they never run an
// operation themselves.

import type { Approvals } from "../core/approvals.ts";
import type { AuditLog } from "../core/audit.ts";
import type { Authorizer } from "../core/authorize.ts";
import type { Config } from "../core/config.ts";
import type { DrState } from "../core/dr-state.ts";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../core/metrics.ts";
import { Mrkdwn } from "../core/mrkdwn.ts";
import type { ChatPort } from "../core/ports/chat.ts";
import type { ClusterPort } from "../core/ports/cluster.ts";
import type { EfsPort } from "../core/ports/efs.ts";
import type { GitPort } from "../core/ports/git.ts";
import { scrub } from "../core/secrets.ts";
import type { Queues } from "../jobs/queues.ts";

export interface BotDeps {
  config: Config;
  dr: DrState;
  git: GitPort;
  efs: EfsPort;
  clusters: Record<"primary" | "secondary", ClusterPort>;
  authorizer: Authorizer;
  approvals: Approvals;
  queues: Queues;
  chat: ChatPort | undefined;
  /** For posting status cards: fails fast on 429 so a command never waits for Slack. */
  cardChat: ChatPort | undefined;
  log: Logger;
  metrics: Metrics;
  /** Who did what, when: every request, click, resume and outcome. */
  audit: AuditLog;
}

/**
 * An ephemeral reply. Text is drbot's wording: as `Mrkdwn` (values escaped) or a literal string
 * of drbot's own; every reply is scrubbed of known secrets on its way out.
 */
export const ephemeral = (text: string | Mrkdwn) => ({
  response_type: "ephemeral" as const,
  text: scrub(text instanceof Mrkdwn ? text.text : text),
});

type Message = string | { text?: string; response_type?: "ephemeral" | "in_channel"; [k: string]: unknown };

/**
 * Bolt's `ack` and `respond`, with every reply scrubbed of known secrets (the one path that does
 * not go through the chat adapter).
 */
export function safeReplies<
  A extends (m?: never) => Promise<void>,
  R extends (m: never) => Promise<unknown>,
>(args: {
  ack: A;
  respond: R;
}): { ack: (m?: Message) => Promise<void>; respond: (m: Message) => Promise<unknown> } {
  const clean = (m: Message) =>
    typeof m === "string" ? scrub(m) : { ...m, ...(m.text ? { text: scrub(m.text) } : {}) };
  return {
    ack: (m) => (m === undefined ? args.ack() : args.ack(clean(m) as never)),
    respond: (m) => args.respond(clean(m) as never),
  };
}
