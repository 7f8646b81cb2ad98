// Approve / Deny on an approval card. Only the signed user id of the click counts, and the
// request is looked up server-side by id; every refused click gets an ephemeral reason and
// changes nothing.

import type { App, BlockAction, ButtonAction } from "@slack/bolt";
import type { ApprovalRecord, TransitionResult } from "../core/approvals.ts";
import { describePrincipals } from "../core/authorize.ts";
import { type Mrkdwn, md } from "../core/mrkdwn.ts";
import { APPROVAL_ID, APPROVE_ACTION, actionNoun, DENY_ACTION } from "../jobs/approval/card.ts";
import { type BotDeps, ephemeral, safeReplies } from "./deps.ts";
import { afterResolution } from "./dr.ts";

/** The policy that governs a request: deletes have their own; every DR operation the failover one. */
export function policyOf(deps: Pick<BotDeps, "config">, record: Pick<ApprovalRecord, "action">) {
  return record.action === "volume-delete"
    ? deps.config.approvals.volumeDelete
    : deps.config.approvals.failover;
}

export function registerApprovalButtons(app: App, deps: BotDeps): void {
  for (const actionId of [APPROVE_ACTION, DENY_ACTION]) {
    app.action<BlockAction<ButtonAction>>(actionId, async (args) => {
      const { body, action } = args;
      const { ack, respond } = safeReplies(args);
      await ack();
      const tell = (text: Mrkdwn) => respond({ ...ephemeral(text), replace_original: false });
      const decision = actionId === APPROVE_ACTION ? "approve" : "deny";
      const user = body.user.id;
      const id = String(action.value ?? "");
      const record = APPROVAL_ID.test(id) ? await deps.approvals.get(id) : null;
      if (!record) {
        await tell(md`This approval request does not exist (any more). Nothing was changed.`);
        return;
      }
      const policy = policyOf(deps, record);
      if (
        user !== record.requester &&
        record.state === "pending" &&
        !(await deps.authorizer.includes(policy.approvers, user))
      ) {
        await tell(
          md`You are not an approver for ${actionNoun(record.action)}s, so your click changed nothing. Approvals come from ${describePrincipals(policy.approvers, record.requester)}.`,
        );
        deps.log.warn({ user, request: id }, "approval click by a non-approver");
        await deps.audit.record({
          event: `approval.refused`,
          request: id,
          user,
          digest: record.digest,
          reason: "not an approver",
        });
        return;
      }
      const { result, record: updated } = await deps.approvals.transition(id, decision, user);
      // Accepted transitions are audited atomically by the transition itself; refusals here.
      if (["requester", "duplicate", "already-resolved", "missing"].includes(result))
        await deps.audit.record({
          event: "approval.refused",
          request: id,
          user,
          digest: record.digest,
          reason: result,
        });
      await tell(explain(result, updated ?? record, decision));
      if (["recorded", "approved", "denied", "expired"].includes(result))
        await afterResolution(deps, updated);
    });
  }
}

function explain(result: TransitionResult, record: ApprovalRecord, decision: "approve" | "deny"): Mrkdwn {
  const left = record.required - record.approvals.length;
  const what = actionNoun(record.action);
  const more = md`${left} more approver${left === 1 ? " is" : "s are"} needed`;
  switch (result) {
    case "recorded":
      return md`Your approval of \`${record.id}\` is recorded (${record.approvals.length}/${record.required}). ${more}.`;
    case "approved":
      return md`Your approval completed \`${record.id}\` (${record.approvals.length}/${record.required}). The ${what} starts now; its status card shows each step.`;
    case "denied":
      return md`You denied \`${record.id}\`. The ${what} will not run; nothing was changed.`;
    case "expired":
      return md`\`${record.id}\` expired before your click, so nothing will run. Ask again if it is still needed.`;
    case "already-resolved":
      return md`\`${record.id}\` is already ${record.state}; your click changed nothing.`;
    case "requester":
      return md`You asked for \`${record.id}\`, so you cannot ${decision} it: ${record.required} other ${record.required === 1 ? "person" : "people"} must approve.`;
    case "duplicate":
      return md`You already approved \`${record.id}\`; ${more}, and it must be someone else.`;
    default:
      return md`This approval request does not exist (any more). Nothing was changed.`;
  }
}
