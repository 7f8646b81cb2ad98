// Admission of `/dr failover`: who may ask, and at most one failover at a time.

import { randomUUID } from "node:crypto";
import type { Queue } from "bullmq";
import { type Authorizer, describePrincipals } from "../../core/authorize.ts";
import type { Config } from "../../core/config.ts";
import type { DrState } from "../../core/dr-state.ts";
import type { ChatPort } from "../../core/ports/chat.ts";
import { renderStatusCard } from "../../core/status-card.ts";
import { type JobEnvelope, newEnvelope, type Requester } from "../../core/steps.ts";
import { jobIdFor, unfinishedJobs } from "../queues.ts";
import { failoverJob } from "./index.ts";

export interface FailoverAdmissionDeps {
  config: Config;
  dr: DrState;
  authorizer: Authorizer;
  queue: Queue<JobEnvelope>;
  chat: ChatPort | undefined;
}

export type FailoverAdmission =
  | { ok: true; requestId: string; jobId: string }
  | { ok: false; reason: string };

/** The unfinished real (not dry-run) failover, if any. */
export async function runningFailover(queue: Queue<JobEnvelope>): Promise<JobEnvelope | undefined> {
  return (await unfinishedJobs(queue)).find((d) => !(d.input as { dryRun?: boolean }).dryRun);
}

export async function admitFailover(
  deps: FailoverAdmissionDeps,
  requester: Requester,
  channel: string,
  dryRun: boolean,
): Promise<FailoverAdmission> {
  const { config } = deps;
  const policy = config.approvals.failover;
  if (config.channels.length > 0 && !config.channels.includes(channel)) {
    return {
      ok: false,
      reason:
        "drbot does not take DR commands in this channel. Use the incident channel the platform team set up.",
    };
  }
  const askers = policy.requesters ?? policy.approvers;
  if (!(await deps.authorizer.includes(askers, requester.id))) {
    return {
      ok: false,
      reason: `You may not ask for a failover: requests come from ${describePrincipals(askers)}. Ask one of them. Nothing was started.`,
    };
  }
  if (!dryRun) {
    const holder = await deps.dr.drLockHolder();
    if (holder)
      return {
        ok: false,
        reason: `A DR operation (${holder}) is in progress; \`/dr status\` shows it. Nothing was started.`,
      };
  }
  const requestId = `dr-${randomUUID().slice(0, 8)}`;
  if (!dryRun && !(await deps.dr.admit("dr-failover", requestId))) {
    return {
      ok: false,
      reason: "Someone is asking for a failover at this very moment; watch the channel for its card.",
    };
  }
  try {
    if (!dryRun) {
      const running = await runningFailover(deps.queue);
      if (running) {
        return {
          ok: false,
          reason: `A failover is already under way or awaiting approval (request \`${running.requestId}\` by <@${running.requester.id}>); \`/dr status\` shows it, and its requester can \`/dr cancel ${running.requestId}\`. Nothing was started.`,
        };
      }
    }
    const envelope = newEnvelope(failoverJob, {
      requestId,
      input: { dryRun },
      requester,
      origin: { channel },
    });
    if (deps.chat) {
      const card = renderStatusCard(envelope, failoverJob.describe({ dryRun }), failoverJob);
      try {
        envelope.origin.statusTs = (await deps.chat.post(channel, card.text, card.blocks)).ts;
      } catch {
        // The worker's notifier posts the card when Slack answers again.
      }
    }
    const jobId = jobIdFor("dr-failover", requestId);
    await deps.queue.add(failoverJob.kind, envelope, { jobId });
    return { ok: true, requestId, jobId };
  } finally {
    if (!dryRun) await deps.dr.admitted("dr-failover", requestId);
  }
}
