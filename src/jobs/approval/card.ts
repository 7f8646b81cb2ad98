// The approval request card: the plan, its digest, who asked, how many approvals are needed and
// from whom, when it expires; Approve/Deny buttons while pending, the outcome with names after.
// One card for every gated operation (DR operations, volume deletes).

import type { KnownBlock } from "@slack/types";
import type { ApprovalRecord } from "../../core/approvals.ts";
import { joinMd, Mrkdwn, md, mention } from "../../core/mrkdwn.ts";
import type { Blocks } from "../../core/ports/chat.ts";
import { truncate } from "../../core/status-card.ts";

export const APPROVE_ACTION = "approval_approve";
export const DENY_ACTION = "approval_deny";

/** Request ids that approval buttons may carry: DR operations and volume deletes. */
export const APPROVAL_ID = /^(dr|vol)-[0-9a-f]{8}$/;

function when(ms: number): Mrkdwn {
  const seconds = Math.floor(ms / 1000);
  return new Mrkdwn(`<!date^${seconds}^{date_short_pretty} {time}|${new Date(ms).toISOString()}>`);
}

/** What an action is called in a sentence ("the failover starts now"). */
export function actionNoun(action: string): string {
  const nouns: Record<string, string> = {
    failover: "failover",
    reprotect: "re-protect",
    switchover: "switchover",
    failback: "failback",
    "volume-delete": "volume deletion",
  };
  return (
    nouns[action] ??
    (action.endsWith("-resume") ? `resume of the ${nouns[action.slice(0, -7)] ?? "operation"}` : action)
  );
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The notification text: a sentence that says what happened ("DR failover approved by …"). */
export function approvalHeadline(record: ApprovalRecord): Mrkdwn {
  const what = record.title ?? `DR ${record.action}`;
  const got = joinMd(
    record.approvals.map((a) => mention(a.user)),
    " and ",
  );
  switch (record.state) {
    case "pending":
      return md`${what} requested by ${mention(record.requester)}: approval needed (${record.approvals.length}/${record.required})`;
    case "approved":
      return md`${what} approved by ${got}`;
    case "denied":
      return md`${what} denied by ${mention(record.denial?.user ?? "")}`;
    case "expired":
      return md`${what} request expired with ${record.approvals.length}/${record.required} approvals`;
    case "cancelled":
      return record.withdrawn
        ? md`${what} request withdrawn by drbot: ${record.withdrawn}`
        : md`${what} request cancelled by ${mention(record.requester)}`;
  }
}

export function approvalCard(record: ApprovalRecord): { text: string; blocks: Blocks } {
  const what = record.title ?? `DR ${record.action}`;
  const got = record.approvals.length > 0 ? joinMd(record.approvals.map((a) => mention(a.user))) : "none yet";
  const left = record.required - record.approvals.length;
  const reason = record.denial?.reason ? md`: ${record.denial.reason}` : "";
  const status: Record<ApprovalRecord["state"], Mrkdwn> = {
    pending: md`:hourglass: *Waiting for ${plural(left, "more approval")}* (${record.approvals.length}/${record.required}: ${got}). Expires ${when(record.expiresAt)}.`,
    approved: md`:white_check_mark: *Approved* by ${got}. It is running; its status card shows each step.`,
    denied: md`:no_entry: *Denied* by ${mention(record.denial?.user ?? "")}${reason}. Nothing was changed.`,
    expired: md`:alarm_clock: *Expired* ${when(record.resolvedAt ?? record.expiresAt)} with ${record.approvals.length}/${record.required} approvals (${got}). Nothing was changed; ask again if it is still needed.`,
    cancelled: record.withdrawn
      ? md`:heavy_multiplication_x: *Withdrawn* by drbot: ${record.withdrawn}. Nothing was changed.`
      : md`:heavy_multiplication_x: *Cancelled* by ${mention(record.requester)}. Nothing was changed.`,
  };
  const blocks: KnownBlock[] = [
    { type: "header", text: { type: "plain_text", text: truncate(`${what}: approval needed`, 150) } },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: md`*Requested by* ${mention(record.requester)} · *request* \`${record.id}\` · *plan digest* \`${record.digest}\``
          .text,
      },
    },
    { type: "section", text: { type: "mrkdwn", text: truncate(record.plan.join("\n"), 3000) } },
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: truncate(
            `${plural(record.required, "distinct approval")} needed, never the requester's, from ${record.approversText}.`,
            3000,
          ),
        },
      ],
    },
    { type: "section", text: { type: "mrkdwn", text: status[record.state].text } },
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
          text: { type: "plain_text", text: truncate(`Approve ${actionNoun(record.action)}`, 75) },
          confirm: {
            title: { type: "plain_text", text: truncate(`Approve this ${what}?`, 100) },
            text: {
              type: "mrkdwn",
              text: truncate(
                record.confirm ?? md`This runs the plan with digest \`${record.digest}\`.`.text,
                300,
              ),
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
  return { text: approvalHeadline(record).text, blocks };
}
