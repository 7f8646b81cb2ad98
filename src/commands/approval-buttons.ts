// Approve / Deny on an approval card. Only the signed user id of the click counts, and the
// request is looked up server-side by id; every refused click gets an ephemeral reason and
// changes nothing.

import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import type { TransitionResult } from "../core/approvals.ts";
import { describePrincipals } from "../core/authorize.ts";
import { APPROVE_ACTION, DENY_ACTION } from "../jobs/dr-failover/approval-card.ts";
import type { BotDeps } from "./deps.ts";
import { afterResolution } from "./dr.ts";

export function registerApprovalButtons(app: App, deps: BotDeps): void {
  for (const actionId of [APPROVE_ACTION, DENY_ACTION]) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, respond }) => {
      await ack();
      const tell = (text: string) => respond({ response_type: "ephemeral", replace_original: false, text });
      const decision = actionId === APPROVE_ACTION ? "approve" : "deny";
      const user = body.user.id;
      const id = String(action.value ?? "");
      const record = /^dr-[0-9a-f]{8}$/.test(id) ? await deps.approvals.get(id) : null;
      if (!record) {
        await tell("This approval request does not exist (any more). Nothing was changed.");
        return;
      }
      const policy = deps.config.approvals.failover;
      if (
        user !== record.requester &&
        record.state === "pending" &&
        !(await deps.authorizer.includes(policy.approvers, user))
      ) {
        await tell(
          `You are not an approver for failovers, so your click changed nothing. Approvals come from ${describePrincipals(policy.approvers)}.`,
        );
        deps.log.warn({ user, request: id }, "approval click by a non-approver");
        return;
      }
      const { result, record: updated } = await deps.approvals.transition(id, decision, user);
      await tell(explain(result, updated ?? record, decision));
      if (["recorded", "approved", "denied", "expired"].includes(result))
        await afterResolution(deps, updated);
    });
  }
}

function explain(
  result: TransitionResult,
  record: NonNullable<Awaited<ReturnType<BotDeps["approvals"]["get"]>>>,
  decision: "approve" | "deny",
): string {
  const left = record.required - record.approvals.length;
  switch (result) {
    case "recorded":
      return `Your approval of \`${record.id}\` is recorded (${record.approvals.length}/${record.required}). ${left} more approver${left === 1 ? " is" : "s are"} needed.`;
    case "approved":
      return `Your approval completed \`${record.id}\` (${record.approvals.length}/${record.required}). The failover starts now; its status card shows each step.`;
    case "denied":
      return `You denied \`${record.id}\`. The failover will not run; nothing was changed.`;
    case "expired":
      return `\`${record.id}\` expired before your click, so nothing will run. Ask again with \`/dr failover\` if it is still needed.`;
    case "already-resolved":
      return `\`${record.id}\` is already ${record.state}; your click changed nothing.`;
    case "requester":
      return `You asked for \`${record.id}\`, so you cannot ${decision} it: ${record.required} other people must approve.`;
    case "duplicate":
      return `You already approved \`${record.id}\`; ${left} more approver${left === 1 ? " is" : "s are"} needed, and it must be someone else.`;
    default:
      return "This approval request does not exist (any more). Nothing was changed.";
  }
}
