// What drbot needs from Slack (or any chat): messages it can post and update in place, ephemeral
// replies, modals, and user-group membership for authorisation.

export interface MessageRef {
  channel: string;
  ts: string;
}

/** Slack Block Kit blocks; kept opaque here. */
export type Blocks = readonly Record<string, unknown>[];

export interface ChatPort {
  authTest(): Promise<{ userId: string; team: string }>;
  post(channel: string, text: string, blocks?: Blocks, threadTs?: string): Promise<MessageRef>;
  update(ref: MessageRef, text: string, blocks?: Blocks): Promise<void>;
  postEphemeral(channel: string, user: string, text: string, blocks?: Blocks): Promise<void>;
  openView(triggerId: string, view: Record<string, unknown>): Promise<void>;
  usergroupMembers(groupId: string): Promise<string[]>;
}
