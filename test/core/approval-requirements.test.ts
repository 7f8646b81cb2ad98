// The named requirements checked right before anything destructive runs on an approval.

import { describe, expect, it } from "vitest";
import { APPROVAL_REQUIREMENTS, unmetRequirement } from "../../src/core/approval-requirements.ts";
import type { ApprovalRecord } from "../../src/core/approvals.ts";

const record = (over: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  id: "dr-00000001",
  action: "failover",
  requester: "U0REQ",
  digest: "abc123abc123",
  required: 2,
  approvals: [
    { user: "U0A", at: 1 },
    { user: "U0B", at: 2 },
  ],
  state: "approved",
  createdAt: 0,
  expiresAt: 10,
  plan: [],
  approversText: "",
  ...over,
});
const facts = (over: Partial<Parameters<typeof unmetRequirement>[0]> = {}) => ({
  record: record(),
  digest: "abc123abc123",
  required: 2,
  eligibleNow: new Set(["U0A", "U0B"]),
  ...over,
});

describe("approval requirements", () => {
  it("are met by two distinct eligible approvers of this plan", () => {
    expect(unmetRequirement(facts())).toBeUndefined();
  });

  it.each([
    ["approved", facts({ record: record({ state: "pending" }) }), /the request is pending/],
    [
      "plan-unchanged",
      facts({ digest: "ffffffffffff" }),
      /approved plan \(abc123abc123\) is not the plan about to run \(ffffffffffff\)/,
    ],
    [
      "not-the-requester",
      facts({
        record: record({
          approvals: [
            { user: "U0REQ", at: 1 },
            { user: "U0A", at: 2 },
            { user: "U0B", at: 3 },
          ],
        }),
        eligibleNow: new Set(["U0REQ", "U0A", "U0B"]),
      }),
      /the requester <@U0REQ> is among the approvers/,
    ],
    [
      "enough-distinct-approvers",
      facts({
        record: record({
          approvals: [
            { user: "U0A", at: 1 },
            { user: "U0A", at: 2 },
          ],
        }),
      }),
      /1 distinct approval\(s\) other than the requester's; 2 needed/,
    ],
    [
      "approvers-eligible-now",
      facts({ eligibleNow: new Set(["U0A"]) }),
      /<@U0B> approved but is no longer an eligible approver/,
    ],
  ])("%s fails with a reason a human can read", (name, f, reason) => {
    const unmet = unmetRequirement(f);
    expect(unmet?.name).toBe(name);
    expect(unmet?.reason.text).toMatch(reason);
  });

  it("are checked in a fixed order, each by name", () => {
    expect(APPROVAL_REQUIREMENTS.map((r) => r.name)).toEqual([
      "approved",
      "plan-unchanged",
      "not-the-requester",
      "enough-distinct-approvers",
      "approvers-eligible-now",
    ]);
  });

  it("escapes a hostile user id instead of rendering it", () => {
    const f = facts({
      record: record({
        approvals: [
          { user: "<!channel>", at: 1 },
          { user: "U0B", at: 2 },
        ],
      }),
      eligibleNow: new Set(["U0B"]),
    });
    expect(unmetRequirement(f)?.reason.text).toContain("&lt;!channel&gt;");
  });
});
