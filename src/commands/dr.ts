// `/dr failover|reprotect|switchover|failback [dry-run]`, `/dr <operation> resume <id>`,
// `/dr status`, `/dr cancel <id>`, `/dr help`.

import type { App } from "@slack/bolt";
import { formatAuditTrail } from "../core/audit-format.ts";
import { errorMessage } from "../core/errors.ts";
import { Mrkdwn, md, mention } from "../core/mrkdwn.ts";
import { approvalCard } from "../jobs/approval/card.ts";
import { admitDrill, admitDrOperation } from "../jobs/dr/admit.ts";
import type { DrInput, DrKind } from "../jobs/dr/engine.ts";
import { DR_JOBS } from "../jobs/dr/jobs.ts";
import { drStatus, formatDrStatus } from "../jobs/dr/status.ts";
import { isUnfinishedState, jobIdFor } from "../jobs/queues.ts";
import { type BotDeps, ephemeral, safeReplies } from "./deps.ts";

export const DR_USAGE = [
  "*`/dr` — disaster recovery between the two sites, with two-person approval*",
  "• `/dr failover` — in an outage of the active site: plan a move to the other site and ask for approval; it runs once two approvers (never you) approve",
  "• `/dr reprotect` — after a failover: replicate the active site to the other one again (rescuing the writes the failover could not carry)",
  "• `/dr drill` — a rehearsal that changes nothing: replication and lag, the standby file system, cluster and data; the report goes to Git",
  "• `/dr switchover` — a planned move of the active site to the other one with no lost writes; `/dr failback` — the same from the secondary back to the primary",
  "• add `dry-run` to any of them for the plan only: nothing changes",
  "• `/dr failover resume <request-id>` — carry an operation that stopped past its point of no return to its end",
  "• `/dr status` — active site, replication and lag, recorded volumes, DR operations and pending approvals",
  "• `/dr cancel <request-id>` — withdraw your own request while it awaits approval",
  "• `/dr audit <request-id>` — who asked, approved, refused, resumed and what came of it (approvers)",
  "• `/dr help` — this text",
].join("\n");

/** Subcommands, as metrics count them (anything else is `unknown`). */
const SUBCOMMANDS = [
  "drill",
  "failover",
  "reprotect",
  "switchover",
  "failback",
  "status",
  "cancel",
  "audit",
  "help",
] as const;
type Sub = (typeof SUBCOMMANDS)[number];

const OPERATIONS: Record<
  "failover" | "reprotect" | "switchover" | "failback",
  { kind: DrKind; failback?: true }
> = {
  failover: { kind: "failover" },
  reprotect: { kind: "reprotect" },
  switchover: { kind: "switchover" },
  failback: { kind: "switchover", failback: true },
};

const REQUEST_ID = /^dr-[0-9a-f]{8}$/;
const DRY_RUN_WORDS = ["dry-run", "dryrun", "--dry-run", "plan"];

export function registerDrCommand(app: App, deps: BotDeps): void {
  app.command("/dr", async (args) => {
    const { command } = args;
    const { ack, respond } = safeReplies(args);
    const words = command.text.trim().split(/\s+/).filter(Boolean);
    const [first = "help", ...rest] = words;
    const sub = first.toLowerCase();
    const known = (SUBCOMMANDS as readonly string[]).includes(sub) ? (sub as Sub) : undefined;
    const count = (result: string) =>
      deps.metrics.commands.inc({ command: `/dr ${known ?? "unknown"}`, result });
    const requester = { id: command.user_id, name: command.user_name };

    if (!known) {
      await ack(ephemeral(md`Unknown subcommand "${first.slice(0, 40)}".\n\n${DR_USAGE}`));
      return count("refused");
    }
    if (known === "help") {
      await ack(ephemeral(DR_USAGE));
      return count("help");
    }
    if (known === "status") {
      await ack();
      try {
        const report = await drStatus(deps);
        await respond(ephemeral(formatDrStatus(report, deps.config, "slack")));
        return count("ok");
      } catch (err) {
        await respond(ephemeral(md`The status could not be read: ${errorMessage(err)}.`));
        return count("error");
      }
    }
    if (known === "drill") {
      if (rest.length > 0) {
        await ack(ephemeral(md`\`/dr drill\` takes no arguments (got "${rest.join(" ").slice(0, 40)}").`));
        return count("refused");
      }
      await ack(ephemeral("Checking your drill request (a drill changes nothing)…"));
      const admitted = await admitDrill({ ...deps, chat: deps.cardChat }, requester, command.channel_id, {});
      if (!admitted.ok) {
        await respond(ephemeral(admitted.reason));
        return count("refused");
      }
      await deps.audit.record({
        event: "request",
        request: admitted.requestId,
        user: requester.id,
        kind: "drill",
      });
      await respond(
        ephemeral(
          md`Drill \`${admitted.requestId}\` started: its card in this channel shows each check; the report goes to Git under \`dr/drills/\`. Nothing is changed anywhere else.`,
        ),
      );
      return count("accepted");
    }
    if (known === "audit") {
      const id = rest[0];
      if (!id || rest.length > 1 || !/^(dr|vol)-[0-9a-f]{8}$/.test(id)) {
        await ack(ephemeral("Say which request: `/dr audit dr-1234abcd` (the id is on its card)."));
        return count("refused");
      }
      await ack();
      await respond(ephemeral(await auditTrail(deps, id, requester.id)));
      return count("ok");
    }
    if (known === "cancel") {
      const id = rest[0];
      if (!id || rest.length > 1 || !REQUEST_ID.test(id)) {
        await ack(
          ephemeral("Say which request to cancel: `/dr cancel dr-1234abcd` (the id is on its card)."),
        );
        return count("refused");
      }
      await ack();
      await respond(ephemeral(await cancel(deps, id, requester.id)));
      return count("ok");
    }

    const operation = OPERATIONS[known];
    if (rest[0]?.toLowerCase() === "resume") {
      const id = rest[1];
      if (!id || rest.length > 2 || !REQUEST_ID.test(id)) {
        await ack(
          ephemeral(
            md`Say which request to resume: \`/dr ${known} resume dr-1234abcd\` (the id is on its card).`,
          ),
        );
        return count("refused");
      }
      await ack();
      await respond(ephemeral(await resume(deps, operation.kind, id, requester.id)));
      return count("ok");
    }
    const dryRun = rest.length === 1 && DRY_RUN_WORDS.includes((rest[0] as string).toLowerCase());
    if (rest.length > 0 && !dryRun) {
      await ack(
        ephemeral(
          md`\`/dr ${known}\` takes no arguments except \`dry-run\` (or \`resume <request-id>\`); got "${rest.join(" ").slice(0, 40)}".\n\n${DR_USAGE}`,
        ),
      );
      return count("refused");
    }
    const input: DrInput = { dryRun, ...(operation.failback ? { failback: true } : {}) };
    const title = DR_JOBS[operation.kind].describe({ ...input, dryRun: false });
    await ack(ephemeral(dryRun ? `Planning a ${title} (dry run)…` : `Checking your ${title} request…`));
    try {
      const admitted = await admitDrOperation(
        { ...deps, chat: deps.cardChat },
        operation.kind,
        input,
        requester,
        command.channel_id,
      );
      if (!admitted.ok) {
        await respond(ephemeral(admitted.reason));
        return count("refused");
      }
      const id = admitted.requestId;
      await deps.audit.record({
        event: dryRun ? "request.dry-run" : "request",
        request: id,
        user: requester.id,
        kind: input.failback ? "failback" : operation.kind,
      });
      await respond(
        ephemeral(
          dryRun
            ? md`Planning as request \`${id}\`; the plan appears on its card in this channel. Nothing will be changed.`
            : md`${title.replace(/^DR \w/, (s) => s.slice(3).toUpperCase())} requested as \`${id}\`. drbot is making the plan; an approval card follows in this channel. Two approvers other than you must approve. You can withdraw it with \`/dr cancel ${id}\`.`,
        ),
      );
      return count("accepted");
    } catch (err) {
      deps.log.error({ err }, "DR request failed");
      await respond(
        ephemeral(
          md`drbot could not take the request: ${errorMessage(err)}. Nothing was started; try again.`,
        ),
      );
      return count("error");
    }
  });
}

async function findDrJob(deps: BotDeps, id: string) {
  for (const kind of ["failover", "reprotect", "switchover"] as const) {
    const job = await deps.queues[`dr-${kind}`].getJob(jobIdFor(`dr-${kind}`, id));
    if (job) return { job, kind };
  }
  return undefined;
}

async function cancel(deps: BotDeps, id: string, user: string) {
  const record = await deps.approvals.get(id);
  if (!record) {
    const found = await findDrJob(deps, id);
    return found && !found.job.data.outcome
      ? md`Request \`${id}\` is still being planned; cancel it once its approval card is up.`
      : md`There is no pending request \`${id}\`.`;
  }
  const { result, record: updated } = await deps.approvals.transition(id, "cancel", user);
  if (result === "not-requester")
    return md`Only ${mention(record.requester)}, who asked for it, can cancel \`${id}\`. An approver can deny it instead.`;
  if (result === "already-resolved") {
    return record.state === "approved"
      ? md`\`${id}\` was approved and is running; it can no longer be cancelled. Its status card shows where it is.`
      : md`\`${id}\` is already ${record.state}; nothing to cancel.`;
  }
  if (updated) await afterResolution(deps, updated);
  return result === "cancelled"
    ? md`Cancelled \`${id}\`. Nothing was changed.`
    : md`\`${id}\` had already expired. Nothing was changed.`;
}

/** One request's audit trail, for approvers (who see every DR operation and delete). */
async function auditTrail(deps: BotDeps, id: string, user: string) {
  const { failover, volumeDelete } = deps.config.approvals;
  const may =
    (await deps.authorizer.includes(failover.approvers, user)) ||
    (await deps.authorizer.includes(volumeDelete.approvers, user));
  if (!may)
    return md`The audit trail is for approvers; ask one of them, or the platform team (\`drbot audit --request ${id}\`).`;
  const entries = [];
  for await (const entry of deps.audit.read({ request: id })) entries.push(entry);
  if (entries.length === 0) return md`Nothing is recorded for \`${id}\`.`;
  return new Mrkdwn(`*Audit trail of* \`${id}\`\n${formatAuditTrail(entries, "slack")}`);
}

/**
 * `/dr <operation> resume <id>`: an approver of that request resumes it at once; anyone else who
 * may ask for DR operations resumes it behind a new two-person approval. Only a halted operation
 * (stopped past its point of no return) can be resumed.
 */
async function resume(deps: BotDeps, kind: DrKind, id: string, user: string) {
  const found = await findDrJob(deps, id);
  if (!found) return md`There is no DR operation \`${id}\`.`;
  const { job } = found;
  if (found.kind !== kind)
    return md`\`${id}\` is a ${DR_JOBS[found.kind].describe(job.data.input as DrInput)}; resume it with \`/dr ${found.kind} resume ${id}\`.`;
  const state = await job.getState();
  // Failed by the queue itself past its point of no return (and not queued again): resumable too.
  const dropped = state === "failed" && job.data.pastPointOfNoReturn && !job.data.outcome;
  if (!dropped && (!job.data.halted || !isUnfinishedState(state))) {
    return job.data.outcome
      ? md`\`${id}\` already ended (${job.data.outcome.state}); there is nothing to resume.`
      : md`\`${id}\` has not stopped: it is ${state === "delayed" ? "waiting" : "running"}, and its card shows where it is. Only an operation that stopped past its point of no return is resumed.`;
  }
  const record = await deps.approvals.get(id);
  const approver = Boolean(record?.approvals.some((a) => a.user === user));
  const policy = deps.config.approvals.failover;
  if (!approver && !(await deps.authorizer.includes(policy.requesters ?? policy.approvers, user))) {
    return md`Only an approver of \`${id}\`, or someone who may ask for DR operations (behind a new two-person approval), can resume it.`;
  }
  await deps.dr.requestResume(id, user, approver);
  await deps.audit.record({
    event: "resume.requested",
    request: id,
    user,
    detail: approver ? "approver" : "needs a new approval",
  });
  if (dropped) {
    const envelope = {
      ...job.data,
      halted: job.data.halted ?? { step: "", reason: "failed by the queue", at: Date.now() },
    };
    await job.remove();
    await deps.queues[`dr-${kind}`].add(job.name, envelope, { jobId: job.id as string });
  } else await job.promote().catch(() => {});
  deps.log.info({ request: id, user, approver }, "resume requested");
  return approver
    ? md`Resuming \`${id}\`. If the recorded volumes or the plan changed since the approval, it asks for a new two-person approval first; its card shows each step.`
    : md`Resuming \`${id}\` needs a new two-person approval (you did not approve the original request); an approval card follows in this channel.`;
}

/** Redraws the approval card and wakes the waiting job so it acts on the outcome now. */
export async function afterResolution(
  deps: BotDeps,
  record: Awaited<ReturnType<BotDeps["approvals"]["get"]>>,
): Promise<void> {
  if (!record) return;
  // Clicks race: draw what the record says now, so an older state never lands last.
  const fresh = (await deps.approvals.get(record.id)) ?? record;
  if (fresh.channel && fresh.ts && deps.chat) {
    const card = approvalCard(fresh);
    try {
      await deps.chat.update({ channel: fresh.channel, ts: fresh.ts }, card.text, card.blocks);
    } catch (err) {
      deps.log.warn({ err, request: record.id }, "could not update the approval card");
    }
  }
  if (record.state !== "pending" && record.resolvedAt) {
    deps.metrics.approvalWaitSeconds.observe(
      { action: record.action, outcome: record.state },
      (record.resolvedAt - record.createdAt) / 1000,
    );
  }
  const queue = record.queue && Object.values(deps.queues).find((q) => q.name === record.queue);
  if (record.state !== "pending" && record.jobId && queue) {
    // The job may be between reading the record and being put aside; give it a moment.
    const job = await queue.getJob(record.jobId);
    for (let attempt = 0; job && attempt < 20; attempt++) {
      const state = await job.getState();
      if (state === "delayed") {
        await job.promote().catch(() => {});
        return;
      }
      if (state !== "active") return;
      await new Promise((r) => setTimeout(r, 150));
    }
  }
}
