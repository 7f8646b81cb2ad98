// Who may do what: Slack user ids listed directly or through Slack user groups, whose members
// are looked up through the Web API and cached briefly — except right before something
// destructive, when membership is read fresh ("eligible now" means now).

import type { Principals } from "./config.ts";
import { groupMention, joinMd, Mrkdwn, mention } from "./mrkdwn.ts";
import type { ChatPort } from "./ports/chat.ts";

export class Authorizer {
  private readonly chat: ChatPort | undefined;
  private readonly ttlMs: number;
  private readonly groups = new Map<string, { members: Promise<Set<string>>; at: number }>();

  constructor(chat: ChatPort | undefined, ttlMs = 60_000) {
    this.chat = chat;
    this.ttlMs = ttlMs;
  }

  /** Whether `userId` is one of `principals`, directly or through a group. */
  async includes(
    principals: Principals | undefined,
    userId: string,
    options: { fresh?: boolean } = {},
  ): Promise<boolean> {
    if (!principals) return false;
    if (principals.users.includes(userId)) return true;
    for (const group of principals.groups) {
      if ((await this.members(group, options.fresh ?? false)).has(userId)) return true;
    }
    return false;
  }

  private members(group: string, fresh: boolean): Promise<Set<string>> {
    const cached = this.groups.get(group);
    if (!fresh && cached && Date.now() - cached.at < this.ttlMs) return cached.members;
    if (!this.chat) return Promise.resolve(new Set());
    const members = this.chat.usergroupMembers(group).then((m) => new Set(m));
    this.groups.set(group, { members, at: Date.now() });
    // A failed lookup must not be cached.
    members.catch(() => this.groups.delete(group));
    return members;
  }
}

/**
 * `<@U1>, <@U2> or members of <!subteam^S1>` for messages; `except` (the requester, who never
 * counts) is left out of the named users and called out for groups.
 */
export function describePrincipals(p: Principals, except?: string): Mrkdwn {
  const users = p.users.filter((u) => u !== except);
  const parts = [
    ...users.map((u) => mention(u)),
    ...p.groups.map((g) => new Mrkdwn(`members of ${groupMention(g).text}`)),
  ];
  if (parts.length === 0) return new Mrkdwn("nobody");
  const list =
    parts.length === 1
      ? (parts[0] as Mrkdwn)
      : new Mrkdwn(`${joinMd(parts.slice(0, -1)).text} or ${parts.at(-1)?.text}`);
  return except && p.groups.length > 0 ? new Mrkdwn(`${list.text} (not ${mention(except).text})`) : list;
}
