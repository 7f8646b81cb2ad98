// Who may do what: Slack user ids listed directly or through Slack user groups, whose members
// are looked up through the Web API and cached briefly.

import type { Principals } from "./config.ts";
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
  async includes(principals: Principals | undefined, userId: string): Promise<boolean> {
    if (!principals) return false;
    if (principals.users.includes(userId)) return true;
    for (const group of principals.groups) {
      if ((await this.members(group)).has(userId)) return true;
    }
    return false;
  }

  private members(group: string): Promise<Set<string>> {
    const cached = this.groups.get(group);
    if (cached && Date.now() - cached.at < this.ttlMs) return cached.members;
    if (!this.chat) return Promise.resolve(new Set());
    const members = this.chat.usergroupMembers(group).then((m) => new Set(m));
    this.groups.set(group, { members, at: Date.now() });
    // A failed lookup must not be cached.
    members.catch(() => this.groups.delete(group));
    return members;
  }
}

/** `<@U1>, <@U2> and members of <!subteam^S1>` for messages. */
export function describePrincipals(p: Principals): string {
  const parts = [...p.users.map((u) => `<@${u}>`), ...p.groups.map((g) => `members of <!subteam^${g}>`)];
  if (parts.length === 0) return "nobody";
  return parts.length === 1 ? (parts[0] as string) : `${parts.slice(0, -1).join(", ")} or ${parts.at(-1)}`;
}
