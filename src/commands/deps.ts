// What slash-command and button handlers may use. They decide and enqueue; they never run an
// operation themselves.

import type { Queue } from "bullmq";
import type { Approvals } from "../core/approvals.ts";
import type { Authorizer } from "../core/authorize.ts";
import type { Config } from "../core/config.ts";
import type { DrState } from "../core/dr-state.ts";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../core/metrics.ts";
import type { ChatPort } from "../core/ports/chat.ts";
import type { ClusterPort } from "../core/ports/cluster.ts";
import type { EfsPort } from "../core/ports/efs.ts";
import type { GitPort } from "../core/ports/git.ts";
import type { JobEnvelope } from "../core/steps.ts";
import type { JobKind } from "../jobs/queues.ts";

export interface BotDeps {
  config: Config;
  dr: DrState;
  git: GitPort;
  efs: EfsPort;
  clusters: Record<"primary" | "secondary", ClusterPort>;
  authorizer: Authorizer;
  approvals: Approvals;
  queues: Record<JobKind, Queue<JobEnvelope>>;
  chat: ChatPort | undefined;
  /** For posting status cards: fails fast on 429 so a command never waits for Slack. */
  cardChat: ChatPort | undefined;
  log: Logger;
  metrics: Metrics;
}

export const ephemeral = (text: string) => ({ response_type: "ephemeral" as const, text });
