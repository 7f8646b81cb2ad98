// Who may do what: users listed directly or through Slack user groups, whose membership is cached
// for a while but read fresh when asked to (right before something destructive), and never
// cached when the lookup failed; and how the eligible people are named in messages.

import { afterEach, describe, expect, it, vi } from "vitest";
import { Authorizer, describePrincipals } from "../../src/core/authorize.ts";
import type { ChatPort } from "../../src/core/ports/chat.ts";

/** Slack as far as group membership goes: groups that can change, and how often they were read. */
class SlackGroups implements ChatPort {
  readonly members = new Map<string, string[]>();
  lookups = 0;
  failNext = false;
  async usergroupMembers(groupId: string): Promise<string[]> {
    this.lookups++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error("usergroups.users.list: ratelimited");
    }
    return [...(this.members.get(groupId) ?? [])];
  }
  authTest(): never {
    throw new Error("not used");
  }
  post(): never {
    throw new Error("not used");
  }
  update(): never {
    throw new Error("not used");
  }
  postEphemeral(): never {
    throw new Error("not used");
  }
  openView(): never {
    throw new Error("not used");
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe("Authorizer", () => {
  it("admits users listed directly, without asking Slack", async () => {
    const slack = new SlackGroups();
    const auth = new Authorizer(slack);
    const principals = { users: ["U0ALICE01", "U0BOB0001"], groups: ["S0SRE0001"] };
    expect(await auth.includes(principals, "U0BOB0001")).toBe(true);
    expect(slack.lookups).toBe(0);
  });

  it("admits nobody when there are no principals, or the user is in none of them", async () => {
    const slack = new SlackGroups();
    slack.members.set("S0SRE0001", ["U0CAROL01"]);
    const auth = new Authorizer(slack);
    expect(await auth.includes(undefined, "U0ALICE01")).toBe(false);
    expect(await auth.includes({ users: [], groups: [] }, "U0ALICE01")).toBe(false);
    expect(await auth.includes({ users: ["U0BOB0001"], groups: ["S0SRE0001"] }, "U0ALICE01")).toBe(false);
  });

  it("admits members of any listed group", async () => {
    const slack = new SlackGroups();
    slack.members.set("S0SRE0001", ["U0ALICE01"]);
    slack.members.set("S0DBA0001", ["U0CAROL01"]);
    const auth = new Authorizer(slack);
    const principals = { users: [], groups: ["S0SRE0001", "S0DBA0001"] };
    expect(await auth.includes(principals, "U0CAROL01")).toBe(true);
    expect(await auth.includes(principals, "U0ALICE01")).toBe(true);
    expect(await auth.includes(principals, "U0DAVE001")).toBe(false);
  });

  it("admits no group member when there is no chat to ask", async () => {
    const auth = new Authorizer(undefined);
    expect(await auth.includes({ users: [], groups: ["S0SRE0001"] }, "U0ALICE01")).toBe(false);
    expect(await auth.includes({ users: ["U0ALICE01"], groups: ["S0SRE0001"] }, "U0ALICE01")).toBe(true);
  });

  it("caches a group's members for the TTL, then reads them again", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.UTC(2025, 10, 21) });
    const slack = new SlackGroups();
    slack.members.set("S0SRE0001", ["U0ALICE01"]);
    const auth = new Authorizer(slack, 1_000);
    const sre = { users: [], groups: ["S0SRE0001"] };
    expect(await auth.includes(sre, "U0ALICE01")).toBe(true);
    expect(slack.lookups).toBe(1);

    // Alice leaves the group: within the TTL the cached membership still counts.
    slack.members.set("S0SRE0001", ["U0BOB0001"]);
    vi.advanceTimersByTime(999);
    expect(await auth.includes(sre, "U0ALICE01")).toBe(true);
    expect(slack.lookups).toBe(1);

    vi.advanceTimersByTime(1);
    expect(await auth.includes(sre, "U0ALICE01")).toBe(false);
    expect(await auth.includes(sre, "U0BOB0001")).toBe(true);
    expect(slack.lookups).toBe(2);
  });

  it("reads membership fresh when asked to, and caches that reading", async () => {
    const slack = new SlackGroups();
    slack.members.set("S0SRE0001", ["U0ALICE01"]);
    const auth = new Authorizer(slack);
    const sre = { users: [], groups: ["S0SRE0001"] };
    expect(await auth.includes(sre, "U0ALICE01")).toBe(true);
    slack.members.set("S0SRE0001", ["U0BOB0001"]);
    expect(await auth.includes(sre, "U0ALICE01", { fresh: true })).toBe(false);
    expect(slack.lookups).toBe(2);
    expect(await auth.includes(sre, "U0BOB0001")).toBe(true);
    expect(await auth.includes(sre, "U0BOB0001", {})).toBe(true);
    expect(slack.lookups).toBe(2);
  });

  it("does not cache a failed lookup", async () => {
    const slack = new SlackGroups();
    slack.members.set("S0SRE0001", ["U0ALICE01"]);
    const auth = new Authorizer(slack);
    const sre = { users: [], groups: ["S0SRE0001"] };
    slack.failNext = true;
    await expect(auth.includes(sre, "U0ALICE01")).rejects.toThrow(/ratelimited/);
    expect(await auth.includes(sre, "U0ALICE01")).toBe(true);
    expect(slack.lookups).toBe(2);
  });
});

describe("describePrincipals", () => {
  it("names the users, the last after `or`, and the groups by mention", () => {
    expect(describePrincipals({ users: ["U0ALICE01"], groups: [] }).text).toBe("<@U0ALICE01>");
    expect(describePrincipals({ users: ["U0ALICE01", "U0BOB0001"], groups: [] }).text).toBe(
      "<@U0ALICE01> or <@U0BOB0001>",
    );
    expect(describePrincipals({ users: ["U0ALICE01", "U0BOB0001"], groups: ["S0SRE0001"] }).text).toBe(
      "<@U0ALICE01>, <@U0BOB0001> or members of <!subteam^S0SRE0001>",
    );
    expect(describePrincipals({ users: [], groups: ["S0SRE0001"] }).text).toBe(
      "members of <!subteam^S0SRE0001>",
    );
    expect(describePrincipals({ users: [], groups: [] }).text).toBe("nobody");
  });

  it("leaves the requester out of the users, and calls them out for groups", () => {
    expect(describePrincipals({ users: ["U0ALICE01", "U0BOB0001"], groups: [] }, "U0ALICE01").text).toBe(
      "<@U0BOB0001>",
    );
    expect(describePrincipals({ users: ["U0ALICE01"], groups: [] }, "U0ALICE01").text).toBe("nobody");
    expect(describePrincipals({ users: ["U0ALICE01"], groups: ["S0SRE0001"] }, "U0ALICE01").text).toBe(
      "members of <!subteam^S0SRE0001> (not <@U0ALICE01>)",
    );
    expect(describePrincipals({ users: ["U0BOB0001"], groups: ["S0SRE0001"] }, "U0ALICE01").text).toBe(
      "<@U0BOB0001> or members of <!subteam^S0SRE0001> (not <@U0ALICE01>)",
    );
  });
});
