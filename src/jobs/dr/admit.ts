// Admission of a DR operation: who may ask, where, and at most one at a time. The one slot is
// reserved in Redis before anything else (no Slack call first), so a slow Slack can never let
// two operations in. Cheap preconditions on the recorded DR state are refused here, at once.

import { randomUUID } from "node:crypto";
import { type Authorizer, describePrincipals } from "../../core/authorize.ts";
import type { Config } from "../../core/config.ts";
import { isProtected, otherSite } from "../../core/dr-record.ts";
import type { DrState } from "../../core/dr-state.ts";
import { type Mrkdwn, md, mention } from "../../core/mrkdwn.ts";
import type { ChatPort } from "../../core/ports/chat.ts";
import { newEnvelope, type Requester } from "../../core/steps.ts";
import { actionNoun } from "../approval/card.ts";
import { postFirstCard } from "../first-card.ts";
import { isUnfinishedState, jobIdFor, type Queues, unfinishedJobs } from "../queues.ts";
import { type DrillInput, drillJob } from "./drill.ts";
import type { DrInput, DrKind } from "./engine.ts";
import { DR_JOBS } from "./jobs.ts";

export interface DrAdmissionDeps {
  config: Config;
  dr: DrState;
  authorizer: Authorizer;
  queues: Queues;
  chat: ChatPort | undefined;
}

export type DrAdmission = { ok: true; requestId: string; jobId: string } | { ok: false; reason: Mrkdwn };

const refuse = (reason: Mrkdwn): DrAdmission => ({ ok: false, reason });

export async function admitDrOperation(
  deps: DrAdmissionDeps,
  kind: DrKind,
  input: DrInput,
  requester: Requester,
  channel: string,
): Promise<DrAdmission> {
  const { config } = deps;
  const job = DR_JOBS[kind];
  const what = actionNoun(input.failback ? "failback" : kind);
  if (config.channels.length > 0 && !config.channels.includes(channel)) {
    return refuse(
      md`drbot does not take DR commands in this channel. Use the incident channel the platform team set up.`,
    );
  }
  const policy = config.approvals.failover;
  const askers = policy.requesters ?? policy.approvers;
  if (!(await deps.authorizer.includes(askers, requester.id))) {
    return refuse(
      md`You may not ask for a ${what}: requests come from ${describePrincipals(askers)}. Ask one of them. Nothing was started.`,
    );
  }
  const requestId = `dr-${randomUUID().slice(0, 8)}`;
  if (!input.dryRun) {
    const holder = await reserve(deps, requestId);
    if (holder) return refuse(holder);
  }
  try {
    if (!input.dryRun) {
      const problem = await precondition(deps, kind, input);
      if (problem) {
        await deps.dr.releaseReservation(requestId);
        return refuse(md`${problem} Nothing was started.`);
      }
    }
    const envelope = newEnvelope(job, { requestId, input, requester, origin: { channel } });
    const refused =
      deps.chat && (await postFirstCard(deps.chat, channel, envelope, job.describe(input), job));
    if (refused) {
      if (!input.dryRun) await deps.dr.releaseReservation(requestId);
      return refuse(
        md`drbot cannot post in this channel (${refused === "slack.not_in_channel" ? "it is not a member" : "Slack does not know it"}): invite it with \`/invite @drbot\`, then ask again. Nothing was started.`,
      );
    }
    const jobId = jobIdFor(`dr-${kind}`, requestId);
    await deps.queues[`dr-${kind}`].add(job.kind, envelope, { jobId });
    return { ok: true, requestId, jobId };
  } catch (err) {
    if (!input.dryRun) await deps.dr.releaseReservation(requestId);
    throw err;
  }
}

/** A reservation whose job never appeared is an admission that died after this long. */
const ADMISSION_MAX_MS = 5 * 60_000;

/** Reserves the DR slot; a reason naming the holder when another operation has it. */
async function reserve(deps: DrAdmissionDeps, requestId: string): Promise<Mrkdwn | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const holder = await deps.dr.reserve(requestId);
    if (!holder) return undefined;
    const found = await findOperation(deps.queues, holder.id);
    if (found?.unfinished) {
      const who = mention(found.requester);
      return md`A ${found.noun} is already under way or awaiting approval (request \`${holder.id}\` by ${who}); \`/dr status\` shows it, and its requester can \`/dr cancel ${holder.id}\` while it awaits approval. One DR operation runs at a time. Nothing was started.`;
    }
    if (!found && Date.now() - holder.since < ADMISSION_MAX_MS) {
      return md`A DR operation is being requested at this very moment (request \`${holder.id}\`); watch the channel for its card. One DR operation runs at a time. Nothing was started.`;
    }
    // The holder's job has ended (or its admission died): the slot is free; take it over.
    if (await deps.dr.replaceReservation(holder, requestId)) return undefined;
  }
  return md`Someone is asking for a DR operation at this very moment; watch the channel for its card. Nothing was started.`;
}

async function findOperation(queues: Queues, id: string) {
  for (const kind of ["failover", "reprotect", "switchover"] as const) {
    const job = await queues[`dr-${kind}`].getJob(jobIdFor(`dr-${kind}`, id));
    if (!job) continue;
    const state = await job.getState();
    return {
      unfinished: isUnfinishedState(state) && !job.data.outcome,
      noun: actionNoun((job.data.input as DrInput).failback ? "failback" : kind),
      requester: job.data.requester.id,
    };
  }
  return undefined;
}

/** Refusals that need no more than the recorded DR state. */
async function precondition(
  deps: DrAdmissionDeps,
  kind: DrKind,
  input: DrInput,
): Promise<Mrkdwn | undefined> {
  const record = await deps.dr.record();
  const active = record.activeSite;
  const other = otherSite(active);
  switch (kind) {
    case "failover":
      if (!isProtected(record))
        return md`The ${active} site is active and nothing replicates from it (since ${record.operation ?? "a DR operation"} ${record.requestId ?? ""}), so the ${other} site holds stale data: a failover there would lose every write made since. Run \`/dr reprotect\` first; \`/dr status\` shows the state.`;
      return undefined;
    case "reprotect":
      if (isProtected(record))
        return md`The ${active} site is already protected: it replicates to the ${other} site. \`/dr status\` shows the replication and its lag.`;
      return undefined;
    case "switchover":
      if (input.failback && active !== "secondary")
        return md`The primary site is already active; a failback moves from the secondary back to the primary. Use \`/dr switchover\` for a planned move to the secondary.`;
      if (!isProtected(record))
        return md`A planned move needs replication from the active ${active} site to the ${other} site, and there is none. Run \`/dr reprotect\` first, wait until it is ENABLED, then ask again.`;
      return undefined;
  }
}

/**
 * Admission of a drill: anyone who may ask for or approve a failover; no approval, no DR lock
 * (it changes nothing), one drill at a time.
 */
export async function admitDrill(
  deps: DrAdmissionDeps,
  requester: Requester,
  channel: string,
  input: DrillInput,
): Promise<DrAdmission> {
  const { config } = deps;
  const policy = config.approvals.failover;
  if (!input.scheduled) {
    if (config.channels.length > 0 && !config.channels.includes(channel)) {
      return refuse(
        md`drbot does not take DR commands in this channel. Use the incident channel the platform team set up.`,
      );
    }
    const may =
      (await deps.authorizer.includes(policy.approvers, requester.id)) ||
      (await deps.authorizer.includes(policy.requesters, requester.id));
    if (!may) {
      return refuse(
        md`You may not run a DR drill: drills are for those who may ask for or approve a failover (${describePrincipals(policy.requesters ?? policy.approvers)} or ${describePrincipals(policy.approvers)}). Nothing was started.`,
      );
    }
  }
  const running = await unfinishedJobs(deps.queues["dr-drill"]);
  if (running.length > 0) {
    return refuse(md`A drill is already running (\`${running[0]?.requestId}\`); its card shows each check.`);
  }
  const requestId = `dr-${randomUUID().slice(0, 8)}`;
  const envelope = newEnvelope(drillJob, { requestId, input, requester, origin: { channel } });
  if (deps.chat && (await postFirstCard(deps.chat, channel, envelope, drillJob.describe(input), drillJob))) {
    return refuse(
      md`drbot cannot post in this channel: invite it with \`/invite @drbot\`, then ask again. Nothing was started.`,
    );
  }
  const jobId = jobIdFor("dr-drill", requestId);
  await deps.queues["dr-drill"].add(drillJob.kind, envelope, { jobId });
  return { ok: true, requestId, jobId };
}
