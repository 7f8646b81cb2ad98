// What drbot needs from Slack (or any chat): messages it can post and update in place, ephemeral
// replies, modals, and user-group membership for authorisation.

export interface MessageRef {
  channel: string;
  ts: string;
}

import type { KnownBlock, ModalView } from "@slack/types";

/** Slack Block Kit blocks, typed by Slack's own definitions (a wrong field fails the type check). */
export type Blocks = readonly KnownBlock[];

export interface ChatPort {
  authTest(): Promise<{ userId: string; team: string }>;
  post(channel: string, text: string, blocks?: Blocks, threadTs?: string): Promise<MessageRef>;
  update(ref: MessageRef, text: string, blocks?: Blocks): Promise<void>;
  postEphemeral(channel: string, user: string, text: string, blocks?: Blocks): Promise<void>;
  openView(triggerId: string, view: ModalView): Promise<void>;
  usergroupMembers(groupId: string): Promise<string[]>;
}
