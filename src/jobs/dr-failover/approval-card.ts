// The approval request card: the plan, its digest, who asked, how many approvals are needed and
// from whom, when it expires; Approve/Deny buttons while pending, the outcome with names after.

import type { ApprovalRecord } from "../../core/approvals.ts";
import type { Blocks } from "../../core/ports/chat.ts";
import { truncate } from "../../core/status-card.ts";

export const APPROVE_ACTION = "approval_approve";
export const DENY_ACTION = "approval_deny";

function when(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `<!date^${seconds}^{date_short_pretty} {time}|${new Date(ms).toISOString()}>`;
}

export function approvalCard(record: ApprovalRecord): { text: string; blocks: Blocks } {
  const got = record.approvals.map((a) => `<@${a.user}>`).join(", ") || "none yet";
  const title = `DR failover requested by <@${record.requester}> — approval ${record.state}`;
  const status: Record<ApprovalRecord["state"], string> = {
    pending: `:hourglass: *Waiting for ${record.required - record.approvals.length} more approval${record.required - record.approvals.length === 1 ? "" : "s"}* (${record.approvals.length}/${record.required}: ${got}). Expires ${when(record.expiresAt)}.`,
    approved: `:white_check_mark: *Approved* by ${got}. The failover is running; its status card shows each step.`,
    denied: `:no_entry: *Denied* by <@${record.denial?.user}>${record.denial?.reason ? `: ${record.denial.reason}` : ""}. Nothing was changed.`,
    expired: `:alarm_clock: *Expired* ${when(record.resolvedAt ?? record.expiresAt)} with ${record.approvals.length}/${record.required} approvals (${got}). Nothing was changed; ask again with \`/dr failover\`.`,
    cancelled: `:heavy_multiplication_x: *Cancelled* by <@${record.requester}>. Nothing was changed.`,
  };
  const blocks: Record<string, unknown>[] = [
    { type: "header", text: { type: "plain_text", text: "DR failover: approval needed" } },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: `*Requested by* <@${record.requester}> · *request* \`${record.id}\` · *plan digest* \`${record.digest}\``,
      },
    },
    { type: "section", text: { type: "mrkdwn", text: truncate(record.plan.join("\n"), 3000) } },
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: truncate(
            `${record.required} distinct approvals needed, never the requester's, from ${record.approversText}.`,
            3000,
          ),
        },
      ],
    },
    { type: "section", text: { type: "mrkdwn", text: status[record.state] } },
  ];
  if (record.state === "pending") {
    blocks.push({
      type: "actions",
      block_id: "approval",
      elements: [
        {
          type: "button",
          action_id: APPROVE_ACTION,
          value: record.id,
          style: "primary",
          text: { type: "plain_text", text: "Approve failover" },
          confirm: {
            title: { type: "plain_text", text: "Approve the failover?" },
            text: {
              type: "mrkdwn",
              text: `This stops replication and moves every volume to the secondary site (plan \`${record.digest}\`).`,
            },
            confirm: { type: "plain_text", text: "Approve" },
            deny: { type: "plain_text", text: "Back" },
          },
        },
        {
          type: "button",
          action_id: DENY_ACTION,
          value: record.id,
          style: "danger",
          text: { type: "plain_text", text: "Deny" },
        },
      ],
    });
  }
  return { text: title, blocks };
}
