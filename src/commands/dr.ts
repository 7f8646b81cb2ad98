// `/dr failover [dry-run] | status | cancel <request-id> | help`.

import type { App } from "@slack/bolt";
import { errorMessage } from "../core/errors.ts";
import { admitFailover } from "../jobs/dr-failover/admit.ts";
import { approvalCard } from "../jobs/dr-failover/approval-card.ts";
import { drStatus, formatDrStatus } from "../jobs/dr-failover/status.ts";
import { jobIdFor } from "../jobs/queues.ts";
import { type BotDeps, ephemeral } from "./deps.ts";

export const DR_USAGE = [
  "*`/dr` — regional failover with two-person approval*",
  "• `/dr failover` — plan a failover to the secondary site and ask for approval; it runs once two approvers (never you) approve",
  "• `/dr failover dry-run` — the plan only: what would move and what may be lost; nothing changes",
  "• `/dr status` — active site, replication and lag, recorded volumes, DR operations and pending approvals",
  "• `/dr cancel <request-id>` — withdraw your own failover request while it awaits approval",
  "• `/dr help` — this text",
].join("\n");

export function registerDrCommand(app: App, deps: BotDeps): void {
  app.command("/dr", async ({ command, ack, respond }) => {
    const words = command.text
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((w) => w.toLowerCase());
    const [sub = "help", ...rest] = words;
    const count = (result: string) => deps.metrics.commands.inc({ command: `/dr ${sub}`, result });
    const requester = { id: command.user_id, name: command.user_name };

    if (sub === "help") {
      await ack(ephemeral(DR_USAGE));
      return count("help");
    }
    if (sub === "failover") {
      const dryRun =
        rest.length === 1 && ["dry-run", "dryrun", "--dry-run", "plan"].includes(rest[0] as string);
      if (rest.length > 0 && !dryRun) {
        await ack(
          ephemeral(
            `\`/dr failover\` takes no arguments except \`dry-run\` (got "${rest.join(" ").slice(0, 40)}").\n\n${DR_USAGE}`,
          ),
        );
        return count("refused");
      }
      await ack(ephemeral(dryRun ? "Planning a failover (dry run)…" : "Checking your failover request…"));
      try {
        const admitted = await admitFailover(
          { ...deps, chat: deps.cardChat, queue: deps.queues["dr-failover"] },
          requester,
          command.channel_id,
          dryRun,
        );
        if (!admitted.ok) {
          await respond(ephemeral(admitted.reason));
          return count("refused");
        }
        await respond(
          ephemeral(
            dryRun
              ? `Planning as request \`${admitted.requestId}\`; the plan appears on its card in this channel. Nothing will be changed.`
              : `Failover requested as \`${admitted.requestId}\`. drbot is making the plan; an approval card follows in this channel. Two approvers other than you must approve. You can withdraw it with \`/dr cancel ${admitted.requestId}\`.`,
          ),
        );
        return count("accepted");
      } catch (err) {
        deps.log.error({ err }, "failover request failed");
        await respond(
          ephemeral(
            `drbot could not take the request: ${errorMessage(err)}. Nothing was started; try again.`,
          ),
        );
        return count("error");
      }
    }
    if (sub === "status") {
      await ack();
      try {
        const report = await drStatus(deps);
        await respond(ephemeral(formatDrStatus(report, deps.config, "slack")));
        return count("ok");
      } catch (err) {
        await respond(ephemeral(`The status could not be read: ${errorMessage(err)}.`));
        return count("error");
      }
    }
    if (sub === "cancel") {
      const id = rest[0];
      if (!id || rest.length > 1 || !/^dr-[0-9a-f]{8}$/.test(id)) {
        await ack(
          ephemeral(`Say which request to cancel: \`/dr cancel dr-1234abcd\` (the id is on its card).`),
        );
        return count("refused");
      }
      await ack();
      await respond(ephemeral(await cancel(deps, id, requester.id)));
      return count("ok");
    }
    await ack(ephemeral(`Unknown subcommand "${sub.slice(0, 40)}".\n\n${DR_USAGE}`));
    count("refused");
  });
}

async function cancel(deps: BotDeps, id: string, user: string): Promise<string> {
  const record = await deps.approvals.get(id);
  if (!record) {
    const job = await deps.queues["dr-failover"].getJob(jobIdFor("dr-failover", id));
    return job && !job.data.outcome
      ? `Request \`${id}\` is still being planned; cancel it once its approval card is up.`
      : `There is no pending failover request \`${id}\`.`;
  }
  const { result, record: updated } = await deps.approvals.transition(id, "cancel", user);
  if (result === "not-requester")
    return `Only <@${record.requester}>, who asked for it, can cancel \`${id}\`. An approver can deny it instead.`;
  if (result === "already-resolved") {
    return record.state === "approved"
      ? `\`${id}\` was approved and is running; it can no longer be cancelled. Its status card shows where it is.`
      : `\`${id}\` is already ${record.state}; nothing to cancel.`;
  }
  if (updated) await afterResolution(deps, updated);
  return result === "cancelled"
    ? `Cancelled \`${id}\`. Nothing was changed.`
    : `\`${id}\` had already expired. Nothing was changed.`;
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
  if (record.state !== "pending" && record.jobId) {
    // The job may be between reading the record and being put aside; give it a moment.
    const job = await deps.queues["dr-failover"].getJob(record.jobId);
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
