// The console's Slack client: what one person sees of the sandbox channel (messages, threads,
// their own ephemerals and open modals), and what they do there (slash commands, button clicks,
// modal submissions), sent to drbot by the Slack stand-in as signed requests, exactly as Slack
// sends them. What Slack's own client shows without asking the app (the ephemeral answer in a
// command's acknowledgement, "not a valid command", a request drbot failed to answer, a required
// field left empty) is produced here, worded as Slack words it.

import { SLASH_COMMANDS } from "../../commands/index.ts";
import { BOT, CHANNEL, PEOPLE_LIST, type Person, personById } from "../people.ts";
import type { FakeMessage, FakeSlack, FakeView, SendResult } from "../stand-ins/slack.ts";

/** A request the console refuses: answered with this status and message, shown to the person. */
export class ConsoleInputError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type Blocks = unknown[] | undefined;

export interface MessageView {
  ts: string;
  user: string;
  text: string;
  blocks: Blocks;
  /** How many times the message was updated (chat.update or replace_original). */
  version: number;
}

export interface ChannelMessageView extends MessageView {
  replies: MessageView[];
}

export interface EphemeralView {
  id: string;
  at: number;
  /** `bot` (drbot) or `slackbot` (what Slack itself says). */
  from: "bot" | "slackbot";
  text: string;
  blocks: Blocks;
  threadTs: string | undefined;
}

export interface ModalView {
  id: string;
  view: Record<string, unknown>;
  /** Inline errors from the last submission, by block id. */
  errors: Record<string, string>;
  /** A problem with the submission itself (drbot did not answer), shown at the top of the modal. */
  problem: string | undefined;
}

export interface ChannelView {
  channel: { id: string; name: string };
  me: Person;
  people: readonly Person[];
  bot: { id: string; name: string };
  messages: ChannelMessageView[];
  ephemerals: EphemeralView[];
  modals: ModalView[];
}

interface LocalEphemeral {
  user: string;
  at: number;
  text: string;
  blocks: Blocks;
  from: "bot" | "slackbot";
}

const MAX_COMMAND_TEXT = 4_000;
const MAX_MESSAGES = 300;

export interface ClickInput {
  ts: string;
  actionId: string;
  value?: string;
}

export class ChannelConsole {
  private readonly slack: FakeSlack;
  private readonly receiverUrl: () => string;
  private readonly changed: () => void;
  private readonly local: LocalEphemeral[] = [];
  private readonly closedViews = new Set<string>();
  private readonly viewErrors = new Map<string, { errors: Record<string, string>; problem?: string }>();

  constructor(slack: FakeSlack, receiverUrl: () => string, changed: () => void) {
    this.slack = slack;
    this.receiverUrl = receiverUrl;
    this.changed = changed;
  }

  view(viewer: Person): ChannelView {
    const all = this.slack.messages(CHANNEL.id).filter((m) => !m.deleted);
    const top = all.filter((m) => !m.threadTs || m.threadTs === m.ts).slice(-MAX_MESSAGES);
    const messages = top.map((m) => ({
      ...messageView(m),
      replies: all.filter((r) => r.threadTs === m.ts && r.ts !== m.ts).map(messageView),
    }));
    const fromSlack: EphemeralView[] = this.slack.ephemerals
      .map((e, i) => ({ e, i }))
      .filter(({ e }) => e.user === viewer.id && e.channel === CHANNEL.id)
      .map(({ e, i }) => ({
        id: `s${i}`,
        at: e.at,
        from: "bot",
        text: e.text,
        blocks: e.blocks,
        threadTs: e.threadTs,
      }));
    const fromConsole: EphemeralView[] = this.local
      .map((e, i) => ({ e, i }))
      .filter(({ e }) => e.user === viewer.id)
      .map(({ e, i }) => ({
        id: `c${i}`,
        at: e.at,
        from: e.from,
        text: e.text,
        blocks: e.blocks,
        threadTs: undefined,
      }));
    const modals = this.openViews(viewer.id).map((v) => ({
      id: v.id,
      view: v.view,
      errors: this.viewErrors.get(v.id)?.errors ?? {},
      problem: this.viewErrors.get(v.id)?.problem,
    }));
    return {
      channel: { ...CHANNEL },
      me: viewer,
      people: PEOPLE_LIST,
      bot: { id: BOT.userId, name: BOT.name },
      messages,
      ephemerals: [...fromSlack, ...fromConsole].sort((a, b) => a.at - b.at),
      modals,
    };
  }

  /** A line typed into the message box. */
  async command(viewer: Person, text: string): Promise<void> {
    const line = text.trim();
    if (!line) throw new ConsoleInputError(400, "Type a command, e.g. /volume help or /dr status.");
    if (line.length > MAX_COMMAND_TEXT)
      throw new ConsoleInputError(400, `That is ${line.length} characters; a command may have at most 4000.`);
    const match = /^(\/[^\s]+)(?:\s+([\s\S]*))?$/.exec(line);
    if (!match) {
      // Slack would post it as a message; nobody reads messages in this channel but drbot's.
      throw new ConsoleInputError(
        400,
        "This channel takes slash commands only: start with /volume or /dr (try /volume help).",
      );
    }
    const command = (match[1] as string).toLowerCase();
    const args = match[2] ?? "";
    const sentAt = Date.now();
    if (!(SLASH_COMMANDS as readonly string[]).includes(command)) {
      this.say(
        viewer,
        `\`${command}\` is not a valid command. In Slack, all messages that start with the "/" character are interpreted as commands.`,
        sentAt,
      );
      return;
    }
    let result: SendResult;
    try {
      result = await this.slack.sendSlashCommand(this.receiverUrl(), {
        command,
        text: args,
        user_id: viewer.id,
        user_name: viewer.name,
        channel_id: CHANNEL.id,
        channel_name: CHANNEL.name,
      });
    } catch (err) {
      this.say(viewer, `${command} failed with the error "${failureCode(err)}"`, sentAt);
      return;
    }
    if (result.status !== 200) {
      this.say(viewer, `${command} failed with the error "dispatch_failed"`, sentAt);
      return;
    }
    // An acknowledgement with a body is what Slack shows the person at once, only to them.
    const ack = result.json as { text?: unknown; blocks?: unknown } | undefined;
    if (ack && (typeof ack.text === "string" || Array.isArray(ack.blocks))) {
      this.local.push({
        user: viewer.id,
        at: sentAt,
        from: "bot",
        text: typeof ack.text === "string" ? ack.text : "",
        blocks: Array.isArray(ack.blocks) ? ack.blocks : undefined,
      });
      this.changed();
    } else if (result.body.trim() && !ack) {
      // A plain-text acknowledgement is shown as it is.
      this.local.push({ user: viewer.id, at: sentAt, from: "bot", text: result.body, blocks: undefined });
      this.changed();
    }
  }

  /** A click on a button of a channel message; drbot answers through the response URL. */
  async click(viewer: Person, input: ClickInput): Promise<void> {
    const message = this.slack.message(CHANNEL.id, input.ts);
    if (!message || message.deleted) throw new ConsoleInputError(404, "That message is not in the channel.");
    const button = findButton(message.blocks, input.actionId, input.value);
    if (!button)
      throw new ConsoleInputError(
        409,
        "That button is no longer on the message (it was updated meanwhile); nothing was sent.",
      );
    const sentAt = Date.now();
    let result: SendResult;
    try {
      result = await this.slack.sendInteraction(this.receiverUrl(), {
        type: "block_actions",
        user_id: viewer.id,
        channel_id: CHANNEL.id,
        message_ts: message.ts,
        actions: [
          {
            action_id: input.actionId,
            type: "button",
            ...(button.blockId ? { block_id: button.blockId } : {}),
            ...(input.value === undefined ? {} : { value: input.value }),
          },
        ],
      });
    } catch (err) {
      this.say(viewer, `drbot did not answer the click in time ("${failureCode(err)}").`, sentAt);
      return;
    }
    if (result.status !== 200)
      this.say(viewer, `drbot did not accept the click (HTTP ${result.status}); nothing changed.`, sentAt);
  }

  /** A modal's Submit: `values` by block id (text, or the chosen option's value). */
  async submit(
    viewer: Person,
    viewId: string,
    values: Record<string, unknown>,
  ): Promise<{ closed: boolean; errors: Record<string, string> }> {
    const view = this.openViews(viewer.id).find((v) => v.id === viewId);
    if (!view) throw new ConsoleInputError(404, "That form is not open (any more).");
    const { state, errors } = viewState(view, values);
    // Slack's client itself refuses to submit a form with an empty required field.
    if (Object.keys(errors).length > 0) {
      this.viewErrors.set(viewId, { errors });
      this.changed();
      return { closed: false, errors };
    }
    let result: SendResult;
    try {
      result = await this.slack.sendInteraction(this.receiverUrl(), {
        type: "view_submission",
        user_id: viewer.id,
        view_id: viewId,
        values: state,
      });
    } catch (err) {
      return this.problem(viewId, `We had some trouble connecting ("${failureCode(err)}"). Try again?`);
    }
    if (result.status !== 200)
      return this.problem(viewId, `We had some trouble connecting (HTTP ${result.status}). Try again?`);
    const answer = (result.json ?? {}) as { response_action?: unknown; errors?: unknown };
    if (answer.response_action === "errors" && answer.errors && typeof answer.errors === "object") {
      const inline = Object.fromEntries(
        Object.entries(answer.errors as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      );
      this.viewErrors.set(viewId, { errors: inline });
      this.changed();
      return { closed: false, errors: inline };
    }
    if (answer.response_action !== undefined && answer.response_action !== "clear")
      return this.problem(
        viewId,
        `drbot answered with response_action "${String(answer.response_action)}", which this console does not show.`,
      );
    this.closeView(viewer, viewId);
    return { closed: true, errors: {} };
  }

  /** Cancel: Slack closes the modal; drbot asked for no view_closed event, so nothing is sent. */
  closeView(viewer: Person, viewId: string): void {
    if (!this.openViews(viewer.id).some((v) => v.id === viewId))
      throw new ConsoleInputError(404, "That form is not open (any more).");
    this.closedViews.add(viewId);
    this.viewErrors.delete(viewId);
    this.changed();
  }

  private openViews(user: string): FakeView[] {
    return this.slack.views.filter((v) => v.user === user && !this.closedViews.has(v.id));
  }

  private problem(viewId: string, problem: string) {
    this.viewErrors.set(viewId, { errors: {}, problem });
    this.changed();
    return { closed: false, errors: {} };
  }

  private say(viewer: Person, text: string, at: number): void {
    this.local.push({ user: viewer.id, at, from: "slackbot", text, blocks: undefined });
    this.changed();
  }
}

export function viewerOf(id: unknown): Person {
  const person = typeof id === "string" ? personById(id) : undefined;
  if (!person)
    throw new ConsoleInputError(
      400,
      `Unknown person ${JSON.stringify(String(id ?? "")).slice(0, 40)}: pick one of ${PEOPLE_LIST.map((p) => p.realName).join(", ")}.`,
    );
  return person;
}

function messageView(m: FakeMessage): MessageView {
  return { ts: m.ts, user: m.user, text: m.text, blocks: m.blocks, version: m.updates.length };
}

interface ButtonRef {
  blockId: string | undefined;
}

function findButton(blocks: Blocks, actionId: string, value: string | undefined): ButtonRef | undefined {
  for (const block of blocks ?? []) {
    const b = block as {
      block_id?: string;
      elements?: { type?: string; action_id?: string; value?: string }[];
      accessory?: { type?: string; action_id?: string; value?: string };
    };
    const candidates = [...(b.elements ?? []), ...(b.accessory ? [b.accessory] : [])];
    if (candidates.some((e) => e.type === "button" && e.action_id === actionId && e.value === value))
      return { blockId: b.block_id };
  }
  return undefined;
}

type StateValues = Record<string, Record<string, Record<string, unknown>>>;

/** Builds `view.state.values` as Slack does from what the person entered; empty required fields are errors. */
function viewState(
  view: FakeView,
  values: Record<string, unknown>,
): { state: StateValues; errors: Record<string, string> } {
  const inputs = ((view.view.blocks ?? []) as Record<string, unknown>[]).filter((b) => b.type === "input");
  const known = new Set(inputs.map((b) => String(b.block_id)));
  for (const key of Object.keys(values))
    if (!known.has(key)) throw new ConsoleInputError(400, `The form has no field "${key.slice(0, 40)}".`);
  const state: StateValues = {};
  const errors: Record<string, string> = {};
  for (const block of inputs) {
    const blockId = String(block.block_id);
    const element = (block.element ?? {}) as Record<string, unknown>;
    const actionId = String(element.action_id ?? "value");
    const raw = values[blockId];
    if (raw !== undefined && typeof raw !== "string")
      throw new ConsoleInputError(400, `The field "${blockId}" takes text.`);
    const given = raw ?? "";
    if (element.type === "static_select") {
      const options = (element.options ?? []) as { text: unknown; value: string }[];
      const chosen = options.find((o) => o.value === given);
      if (given && !chosen)
        throw new ConsoleInputError(
          400,
          `"${given.slice(0, 40)}" is not one of the choices for "${blockId}".`,
        );
      state[blockId] = {
        [actionId]: {
          type: "static_select",
          selected_option: chosen ? { text: chosen.text, value: chosen.value } : null,
        },
      };
    } else {
      const max = typeof element.max_length === "number" ? element.max_length : 3_000;
      if (given.length > max)
        throw new ConsoleInputError(400, `The field "${blockId}" takes at most ${max} characters.`);
      state[blockId] = {
        [actionId]: { type: String(element.type ?? "plain_text_input"), value: given || null },
      };
    }
    if (!given && block.optional !== true) errors[blockId] = "Please complete this required field.";
  }
  return { state, errors };
}

function failureCode(err: unknown): string {
  const name = (err as { name?: string }).name;
  return name === "TimeoutError" || name === "AbortError" ? "operation_timeout" : "dispatch_failed";
}
