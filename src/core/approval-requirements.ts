// What must hold before anything destructive runs on an approval, as named requirements that
// each return a reason a human can read (or undefined when met), in the manner of Atlantis'
// apply requirements. Pure: the caller gathers the facts (including who is eligible *now*).

import type { ApprovalRecord } from "./approvals.ts";
import { joinMd, type Mrkdwn, md, mention } from "./mrkdwn.ts";

export interface ApprovalFacts {
  record: ApprovalRecord;
  /** Digest of the plan about to run. */
  digest: string;
  /** Distinct approvals the policy requires. */
  required: number;
  /** Approvers of the record who are eligible at this moment (membership read fresh). */
  eligibleNow: ReadonlySet<string>;
}

export interface Requirement {
  name: string;
  unmet(facts: ApprovalFacts): Mrkdwn | undefined;
}

const people = (r: ApprovalRecord) => [...new Set(r.approvals.map((a) => a.user))];

export const APPROVAL_REQUIREMENTS: readonly Requirement[] = [
  {
    name: "approved",
    unmet: ({ record }) =>
      record.state === "approved" ? undefined : md`the request is ${record.state}, not approved`,
  },
  {
    name: "plan-unchanged",
    unmet: ({ record, digest }) =>
      record.digest === digest
        ? undefined
        : md`the approved plan (${record.digest}) is not the plan about to run (${digest})`,
  },
  {
    name: "not-the-requester",
    unmet: ({ record }) =>
      people(record).includes(record.requester)
        ? md`the requester ${mention(record.requester)} is among the approvers`
        : undefined,
  },
  {
    name: "enough-distinct-approvers",
    unmet: ({ record, required }) => {
      const n = people(record).filter((u) => u !== record.requester).length;
      return n >= required
        ? undefined
        : md`${n} distinct approval(s) other than the requester's; ${required} needed`;
    },
  },
  {
    name: "approvers-eligible-now",
    unmet: ({ record, eligibleNow }) => {
      const gone = people(record).filter((u) => !eligibleNow.has(u));
      return gone.length === 0
        ? undefined
        : md`${joinMd(gone.map(mention))} approved but ${gone.length === 1 ? "is" : "are"} no longer an eligible approver`;
    },
  },
];

/** The first requirement that is not met, with its name, or undefined when all are. */
export function unmetRequirement(facts: ApprovalFacts): { name: string; reason: Mrkdwn } | undefined {
  for (const r of APPROVAL_REQUIREMENTS) {
    const reason = r.unmet(facts);
    if (reason) return { name: r.name, reason };
  }
  return undefined;
}
