// A local Slack for tests and demos: the Web API methods drbot calls (at `<url>/api/`, what
// SLACK_API_URL points at), the response_url endpoints it hands out, and signed requests that drive
// drbot's receiver the way Slack does. The HTTP plumbing, latency and faults come from FakeHttpServer.
// Strict as Slack: a bot that is not in a channel gets `not_in_channel`, an unknown channel
// `channel_not_found`; Block Kit limits are enforced (`invalid_blocks`, `msg_too_long`); per-method
// rate tiers answer 429 + Retry-After when turned on; a slash command or interaction not
// acknowledged within 3 s shows its user Slack's `operation_timeout` error.
import { createHmac, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { performance } from "node:perf_hooks";
import { FakeHttpServer, type FakeReply, json, type RecordedRequest } from "./fake-http.ts";
import { BLOCK_LIMITS, blockKitProblems, viewProblems } from "./slack-blocks.ts";
import { SlackRateLimiter } from "./slack-rate-limits.ts";

export interface FakeUser {
  id: string;
  name?: string;
  realName?: string;
  email?: string;
  isBot?: boolean;
  deleted?: boolean;
  tz?: string;
}

export interface FakeChannel {
  id: string;
  name?: string;
  isPrivate?: boolean;
  archived?: boolean;
  /** When set, only these users (include the bot!) are in the channel. */
  members?: string[];
}

export interface FakeSlackOptions {
  botToken: string;
  signingSecret: string;
  users?: FakeUser[];
  /** User-group id (S…) -> member user ids. */
  usergroups?: Record<string, string[]>;
  /** Known conversations. When omitted, any well-formed conversation id (C…, G…, D…) exists. */
  channels?: FakeChannel[];
  /** Scopes granted to the bot token; when omitted, every scope drbot needs. */
  scopes?: string[];
  team?: { id: string; name: string; domain: string };
  bot?: { userId: string; botId: string; appId: string; name: string };
  /** Lifetime of a trigger_id in milliseconds; Slack's is 3 s. */
  triggerTtlMs?: number;
  /** Enforce the per-method rate tiers (429 + Retry-After); off by default, for speed. */
  rateLimits?: boolean;
  /** How long Slack waits for a slash command's or interaction's HTTP response (default 3 s). */
  ackTimeoutMs?: number;
}

export interface MessageVersion {
  text: string;
  blocks: unknown[] | undefined;
  at: number;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[] | undefined;
  threadTs: string | undefined;
  /** Author: the bot, or the user whose slash command an in-channel response answered. */
  user: string;
  /** Every chat.update (or replace_original) applied, oldest first; the message holds the latest. */
  updates: MessageVersion[];
  deleted: boolean;
}

export interface FakeEphemeral {
  channel: string;
  user: string;
  text: string;
  blocks: unknown[] | undefined;
  threadTs: string | undefined;
  /** `slack`: Slack's own words to the user, e.g. a command that was not acknowledged in time. */
  via: "chat.postEphemeral" | "response_url" | "slack";
  at: number;
}

export interface FakeView {
  id: string;
  user: string;
  triggerId: string;
  view: Record<string, unknown>;
  hash: string;
  externalId: string;
  /** Views pushed by views.update, oldest first; `view` holds the latest. */
  updates: Record<string, unknown>[];
}

export interface ResponseUrlPost {
  url: string;
  kind: "command" | "action";
  channel: string;
  user: string;
  responseType: "ephemeral" | "in_channel";
  replaceOriginal: boolean;
  deleteOriginal: boolean;
  text: string;
  blocks: unknown[] | undefined;
  threadTs: string | undefined;
  at: number;
}

/** What changed in what the fake Slack shows; see `FakeSlack.onChange`. */
export interface SlackChange {
  kind: "message" | "update" | "delete" | "ephemeral" | "view" | "response";
  channel?: string;
  ts?: string;
  user?: string;
}

export interface SlashCommandInput {
  command: string;
  text?: string;
  user_id: string;
  channel_id: string;
  user_name?: string;
  channel_name?: string;
  /** Further form fields, sent as given. */
  extra?: Record<string, string>;
}

export interface BlockActionsInput {
  type: "block_actions";
  user_id: string;
  channel_id?: string;
  /** ts of the message carrying the buttons; the fake attaches it, and the interaction's
   * response_url can then replace it (replace_original). */
  message_ts?: string;
  actions: { action_id: string; value?: string; block_id?: string; type?: string }[];
}

export interface ViewSubmissionInput {
  type: "view_submission";
  user_id: string;
  /** A view opened through this fake: its callback_id, private_metadata and blocks are sent. */
  view_id?: string;
  callback_id?: string;
  private_metadata?: string;
  /** view.state.values: block_id -> action_id -> value object, e.g. `{ type: "plain_text_input", value: "x" }`. */
  values?: Record<string, Record<string, Record<string, unknown>>>;
}

export type InteractionInput = BlockActionsInput | ViewSubmissionInput;

/** How to sign (or mis-sign) a request to the receiver. */
export interface SendOptions {
  /** Sign with this secret instead of the real one: a forged request. */
  signingSecret?: string;
  /** Request timestamp in seconds; an old one is a replay. */
  timestamp?: number;
  /** Send this x-slack-signature verbatim. */
  signature?: string;
  /** Send no signature headers at all. */
  unsigned?: boolean;
  timeoutMs?: number;
}

export interface SendResult {
  status: number;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json: unknown;
  elapsedMs: number;
  triggerId: string;
  responseUrl: string | undefined;
  /** The form fields (slash command) or payload (interaction) that were sent. */
  sent: Record<string, unknown>;
  /** No HTTP response within the acknowledgement deadline: Slack gave up (status 0). */
  timedOut: boolean;
  /** What Slack then showed the user, e.g. `/dr failed with the error "operation_timeout"`. */
  userError?: string;
}

export interface SignedHeaders {
  "x-slack-signature": string;
  "x-slack-request-timestamp": string;
}

/** Slack's v0 request signature: HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the signing secret. */
export function signRequest(
  body: string,
  signingSecret: string,
  timestamp = Math.floor(Date.now() / 1000),
): SignedHeaders {
  const digest = createHmac("sha256", signingSecret).update(`v0:${timestamp}:${body}`).digest("hex");
  return { "x-slack-signature": `v0=${digest}`, "x-slack-request-timestamp": String(timestamp) };
}

export async function startFakeSlack(options: FakeSlackOptions): Promise<FakeSlack> {
  const fake = new FakeSlack(options);
  await fake.http.start();
  return fake;
}

type Args = Record<string, unknown>;
type MethodResult = Record<string, unknown>;

/** A Web API error: answered as HTTP 200 `{ ok: false, error }`, as Slack does. */
class SlackApiError extends Error {
  readonly error: string;
  readonly extra: Record<string, unknown>;
  constructor(error: string, extra: Record<string, unknown> = {}) {
    super(error);
    this.error = error;
    this.extra = extra;
  }
}

const DEFAULT_SCOPES = [
  "chat:write",
  "commands",
  "usergroups:read",
  "users:read",
  "channels:read",
  "groups:read",
];
const REQUIRED_SCOPE: Record<string, string> = {
  "chat.postMessage": "chat:write",
  "chat.update": "chat:write",
  "chat.postEphemeral": "chat:write",
  "usergroups.users.list": "usergroups:read",
  "users.info": "users:read",
  "conversations.info": "channels:read",
};
const CONVERSATION_ID = /^[CGD][A-Z0-9]{2,}$/;
const USER_ID = /^[UW][A-Z0-9]{2,}$/;
// Slack lets a response_url be used five times within thirty minutes.
const RESPONSE_URL_USES = 5;
const RESPONSE_URL_TTL_MS = 30 * 60_000;

interface TriggerRecord {
  user: string;
  issuedAt: number;
  used: boolean;
}

interface ResponseUrlRecord {
  kind: "command" | "action";
  channel: string;
  user: string;
  messageTs: string | undefined;
  issuedAt: number;
  uses: number;
}

export class FakeSlack {
  readonly http: FakeHttpServer;
  readonly team: { id: string; name: string; domain: string };
  readonly bot: { userId: string; botId: string; appId: string; name: string };
  readonly verificationToken = "fakeVerificationToken0000";
  readonly ephemerals: FakeEphemeral[] = [];
  readonly views: FakeView[] = [];
  readonly responses: ResponseUrlPost[] = [];
  private readonly botToken: string;
  private readonly signingSecret: string;
  private readonly triggerTtlMs: number;
  /** Slack's deadline for acknowledging a slash command or interaction, in milliseconds. */
  ackTimeoutMs: number;
  private readonly rateLimiter = new SlackRateLimiter();
  private rateLimits: boolean;
  private scopes: string[];
  private readonly users = new Map<string, FakeUser>();
  private readonly usergroups = new Map<string, string[]>();
  private readonly channels = new Map<string, FakeChannel>();
  private readonly openWorldChannels: boolean;
  private readonly messagesByChannel = new Map<string, FakeMessage[]>();
  private readonly triggers = new Map<string, TriggerRecord>();
  private readonly responseUrls = new Map<string, ResponseUrlRecord>();
  private lastTsMicros = 0;
  private readonly methods: Record<string, (args: Args) => MethodResult>;
  private readonly changeListeners = new Set<(change: SlackChange) => void>();
  /** Socket Mode: the app-level token and the WebSocket URL `apps.connections.open` hands out. */
  appToken: string | undefined;
  socketModeUrl: string | undefined;

  constructor(options: FakeSlackOptions) {
    this.botToken = options.botToken;
    this.signingSecret = options.signingSecret;
    this.triggerTtlMs = options.triggerTtlMs ?? 3_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 3_000;
    this.rateLimits = options.rateLimits ?? false;
    this.scopes = options.scopes ?? DEFAULT_SCOPES;
    this.team = options.team ?? { id: "T0DRBOT01", name: "drbot test", domain: "drbot-test" };
    this.bot = options.bot ?? { userId: "U0DRBOT01", botId: "B0DRBOT01", appId: "A0DRBOT01", name: "drbot" };
    for (const u of options.users ?? []) this.addUser(u);
    for (const [id, members] of Object.entries(options.usergroups ?? {})) this.setUsergroup(id, members);
    this.openWorldChannels = options.channels === undefined;
    for (const c of options.channels ?? []) this.addChannel(c);
    this.methods = {
      "auth.test": () => this.authTest(),
      "chat.postMessage": (a) => this.postMessage(a),
      "chat.update": (a) => this.update(a),
      "chat.postEphemeral": (a) => this.postEphemeral(a),
      "chat.getPermalink": (a) => this.getPermalink(a),
      "views.open": (a) => this.viewsOpen(a),
      "views.update": (a) => this.viewsUpdate(a),
      "usergroups.users.list": (a) => this.usergroupUsers(a),
      "users.info": (a) => this.usersInfo(a),
      "conversations.info": (a) => this.conversationsInfo(a),
      "apps.connections.open": () => {
        if (!this.socketModeUrl) throw new SlackApiError("not_allowed_token_type");
        return { url: this.socketModeUrl };
      },
    };
    this.http = new FakeHttpServer("slack", (req) => this.handle(req));
  }

  get url(): string {
    return this.http.url;
  }

  /** What SLACK_API_URL / WebClient's slackApiUrl should be. */
  get apiUrl(): string {
    return `${this.http.url}/api/`;
  }

  close(): Promise<void> {
    return this.http.close();
  }

  // ---- configuration -------------------------------------------------------------------------

  addUser(user: FakeUser): void {
    this.users.set(user.id, user);
  }

  setUsergroup(id: string, members: string[]): void {
    this.usergroups.set(id, [...members]);
  }

  removeUsergroup(id: string): void {
    this.usergroups.delete(id);
  }

  addChannel(channel: FakeChannel): void {
    this.channels.set(channel.id, { ...channel });
  }

  setScopes(scopes: string[]): void {
    this.scopes = [...scopes];
  }

  /**
   * Calls `listener` after every stored message, update, deletion, ephemeral, opened or updated
   * view and response_url post, so a viewer (the sandbox console) can push instead of polling.
   * Returns a function that removes the listener.
   */
  onChange(listener: (change: SlackChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(change: SlackChange): void {
    for (const listener of this.changeListeners) {
      try {
        listener(change);
      } catch {
        // A viewer's failure must not break the Web API call that caused the change.
      }
    }
  }

  /** Turns the per-method rate tiers on or off (off by default); turning them on starts afresh. */
  setRateLimits(enabled: boolean): void {
    this.rateLimits = enabled;
    this.rateLimiter.reset();
  }

  // ---- state for assertions ------------------------------------------------------------------

  /** Messages posted in a channel (or in all channels), oldest first, thread replies included. */
  messages(channel?: string): FakeMessage[] {
    if (channel) return [...(this.messagesByChannel.get(channel) ?? [])];
    return [...this.messagesByChannel.values()].flat().sort((a, b) => compareTs(a.ts, b.ts));
  }

  message(channel: string, ts: string): FakeMessage | undefined {
    return this.messagesByChannel.get(channel)?.find((m) => m.ts === ts);
  }

  /** Replies in the thread of `threadTs`, oldest first. */
  replies(channel: string, threadTs: string): FakeMessage[] {
    return this.messages(channel).filter((m) => m.threadTs === threadTs && m.ts !== threadTs);
  }

  view(id: string): FakeView | undefined {
    return this.views.find((v) => v.id === id);
  }

  /** Requests to a Web API method, including rate-limited and failed attempts. */
  callCount(method: string): number {
    return this.http.requests.filter((r) => r.path === `/api/${method}`).length;
  }

  // ---- issued tokens -------------------------------------------------------------------------

  /** A trigger_id like Slack's, valid for one views.open within the trigger lifetime. */
  issueTriggerId(user = "U0NOBODY1", options: { issuedAt?: number } = {}): string {
    const issuedAt = options.issuedAt ?? Date.now();
    const id = `${Math.floor(issuedAt / 1000)}.${randomDigits(12)}.${randomBytes(16).toString("hex")}`;
    this.triggers.set(id, { user, issuedAt, used: false });
    return id;
  }

  /** A response_url served by this fake, shaped like hooks.slack.com's. */
  issueResponseUrl(context: {
    kind: "command" | "action";
    channel: string;
    user: string;
    messageTs?: string;
  }): string {
    const path = `/${context.kind === "command" ? "commands" : "actions"}/${this.team.id}/${randomDigits(13)}/${randomBytes(12).toString("base64url")}`;
    this.responseUrls.set(path, { ...context, messageTs: context.messageTs, issuedAt: Date.now(), uses: 0 });
    return `${this.url}${path}`;
  }

  // ---- faults --------------------------------------------------------------------------------

  /**
   * Answer HTTP 429 with Retry-After, as Slack rate-limits, for one method (or all). By default the
   * limit lasts as long as Retry-After says; `times` caps how many requests it answers.
   */
  rateLimit(
    method?: string,
    options: { retryAfterSeconds?: number; forMs?: number; times?: number } = {},
  ): void {
    const retryAfter = options.retryAfterSeconds ?? 1;
    const forMs = options.forMs ?? retryAfter * 1000;
    const until = Date.now() + forMs;
    const times = options.times ?? (forMs > 0 ? undefined : 1);
    this.http.injectFault({
      path: method ? `/api/${method}` : /^\/api\//,
      match: () => forMs <= 0 || Date.now() < until,
      reply: {
        status: 429,
        headers: { "retry-after": String(retryAfter) },
        body: { ok: false, error: "ratelimited" },
      },
      ...(times === undefined ? {} : { times }),
    });
  }

  /** Answer a method (or all) with an HTTP 5xx, `times` times (default once). */
  serverError(method?: string, options: { status?: number; times?: number } = {}): void {
    this.http.injectFault({
      path: method ? `/api/${method}` : /^\/api\//,
      reply: {
        status: options.status ?? 500,
        headers: { "content-type": "text/html" },
        body: "<html>Internal Server Error</html>",
      },
      times: options.times ?? 1,
    });
  }

  clearFaults(): void {
    this.http.clearFaults();
  }

  // ---- driving the receiver as Slack does ----------------------------------------------------

  /** POST a slash command, form-encoded and signed, with a fresh trigger_id and response_url. */
  async sendSlashCommand(
    receiverUrl: string,
    input: SlashCommandInput,
    options: SendOptions = {},
  ): Promise<SendResult> {
    const triggerId = this.issueTriggerId(input.user_id);
    const responseUrl = this.issueResponseUrl({
      kind: "command",
      channel: input.channel_id,
      user: input.user_id,
    });
    const fields: Record<string, string> = {
      token: this.verificationToken,
      team_id: this.team.id,
      team_domain: this.team.domain,
      channel_id: input.channel_id,
      channel_name: input.channel_name ?? this.channels.get(input.channel_id)?.name ?? "ops",
      user_id: input.user_id,
      user_name: input.user_name ?? this.users.get(input.user_id)?.name ?? input.user_id.toLowerCase(),
      command: input.command,
      text: input.text ?? "",
      api_app_id: this.bot.appId,
      is_enterprise_install: "false",
      response_url: responseUrl,
      trigger_id: triggerId,
      ...input.extra,
    };
    const result = await this.post(receiverUrl, new URLSearchParams(fields).toString(), options);
    const userError = result.timedOut
      ? this.showTimeout(input.channel_id, input.user_id, input.command)
      : undefined;
    return { ...result, triggerId, responseUrl, sent: fields, ...(userError ? { userError } : {}) };
  }

  /** POST an interaction (form field `payload` holding JSON), signed, with a fresh trigger_id. */
  async sendInteraction(
    receiverUrl: string,
    input: InteractionInput,
    options: SendOptions = {},
  ): Promise<SendResult> {
    const triggerId = this.issueTriggerId(input.user_id);
    const { payload, responseUrl } =
      input.type === "block_actions"
        ? this.blockActionsPayload(input, triggerId)
        : this.viewSubmissionPayload(input, triggerId);
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const result = await this.post(receiverUrl, body, options);
    const userError = result.timedOut
      ? this.showTimeout(
          input.type === "block_actions" ? (input.channel_id ?? "") : "",
          input.user_id,
          this.bot.name,
        )
      : undefined;
    return { ...result, triggerId, responseUrl, sent: payload, ...(userError ? { userError } : {}) };
  }

  /** What Slack shows the user when the app did not answer in time, recorded as an ephemeral. */
  private showTimeout(channel: string, user: string, what: string): string {
    const text = `${what} failed with the error "operation_timeout"`;
    this.ephemerals.push({
      channel,
      user,
      text,
      blocks: undefined,
      threadTs: undefined,
      via: "slack",
      at: Date.now(),
    });
    return text;
  }

  private async post(
    receiverUrl: string,
    body: string,
    options: SendOptions,
  ): Promise<Pick<SendResult, "status" | "body" | "json" | "elapsedMs" | "timedOut">> {
    const signed = signRequest(body, options.signingSecret ?? this.signingSecret, options.timestamp);
    if (options.signature !== undefined) signed["x-slack-signature"] = options.signature;
    const started = performance.now();
    // Slack stops waiting after its acknowledgement deadline and drops the request.
    const deadline = AbortSignal.timeout(this.ackTimeoutMs);
    const signal = AbortSignal.any([deadline, AbortSignal.timeout(options.timeoutMs ?? 10_000)]);
    try {
      const res = await postOnNewConnection(
        receiverUrl,
        body,
        {
          "content-type": "application/x-www-form-urlencoded",
          "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
          ...(options.unsigned ? {} : signed),
        },
        signal,
      );
      const elapsedMs = performance.now() - started;
      return {
        status: res.status,
        body: res.text,
        json: parseJsonOrUndefined(res.text),
        elapsedMs,
        timedOut: false,
      };
    } catch (err) {
      if (!deadline.aborted) throw err;
      return { status: 0, body: "", json: undefined, elapsedMs: performance.now() - started, timedOut: true };
    }
  }

  private blockActionsPayload(
    input: BlockActionsInput,
    triggerId: string,
  ): { payload: Record<string, unknown>; responseUrl: string } {
    const message =
      input.channel_id && input.message_ts ? this.message(input.channel_id, input.message_ts) : undefined;
    const channel = input.channel_id ?? "";
    const responseUrl = this.issueResponseUrl({
      kind: "action",
      channel,
      user: input.user_id,
      ...(input.message_ts ? { messageTs: input.message_ts } : {}),
    });
    const actionTs = this.nextTs();
    const payload: Record<string, unknown> = {
      type: "block_actions",
      user: this.userRef(input.user_id),
      api_app_id: this.bot.appId,
      token: this.verificationToken,
      container: input.message_ts
        ? { type: "message", message_ts: input.message_ts, channel_id: channel, is_ephemeral: false }
        : { type: "message", channel_id: channel },
      trigger_id: triggerId,
      team: { id: this.team.id, domain: this.team.domain },
      enterprise: null,
      is_enterprise_install: false,
      ...(input.channel_id
        ? { channel: { id: channel, name: this.channels.get(channel)?.name ?? "ops" } }
        : {}),
      ...(message ? { message: this.messageJson(message) } : {}),
      state: { values: {} },
      response_url: responseUrl,
      actions: input.actions.map((a) => ({
        action_id: a.action_id,
        block_id: a.block_id ?? findBlockId(message?.blocks, a.action_id) ?? randomId("", 5),
        text: { type: "plain_text", text: a.action_id, emoji: true },
        ...(a.value === undefined ? {} : { value: a.value }),
        type: a.type ?? "button",
        action_ts: actionTs,
      })),
    };
    return { payload, responseUrl };
  }

  private viewSubmissionPayload(
    input: ViewSubmissionInput,
    triggerId: string,
  ): { payload: Record<string, unknown>; responseUrl: undefined } {
    const opened = input.view_id ? this.view(input.view_id) : undefined;
    const base = opened?.view ?? {};
    const id = opened?.id ?? input.view_id ?? randomId("V", 10);
    const view = {
      id,
      team_id: this.team.id,
      type: "modal",
      blocks: base.blocks ?? [],
      private_metadata: input.private_metadata ?? base.private_metadata ?? "",
      callback_id: input.callback_id ?? base.callback_id ?? "",
      state: { values: input.values ?? {} },
      hash: opened?.hash ?? newHash(),
      title: base.title ?? { type: "plain_text", text: "drbot" },
      clear_on_close: false,
      notify_on_close: false,
      close: base.close ?? null,
      submit: base.submit ?? null,
      previous_view_id: null,
      root_view_id: id,
      app_id: this.bot.appId,
      external_id: opened?.externalId ?? "",
      app_installed_team_id: this.team.id,
      bot_id: this.bot.botId,
    };
    const payload = {
      type: "view_submission",
      team: { id: this.team.id, domain: this.team.domain },
      user: this.userRef(input.user_id),
      api_app_id: this.bot.appId,
      token: this.verificationToken,
      trigger_id: triggerId,
      view,
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    return { payload, responseUrl: undefined };
  }

  private userRef(id: string): Record<string, string> {
    const name = this.users.get(id)?.name ?? id.toLowerCase();
    return { id, username: name, name, team_id: this.team.id };
  }

  // ---- HTTP entry ----------------------------------------------------------------------------

  private handle(req: RecordedRequest): FakeReply {
    if (req.path.startsWith("/api/")) return this.webApi(req);
    if (req.method === "POST" && this.responseUrls.has(req.path)) return this.responseUrlPost(req);
    return { status: 404, headers: { "content-type": "text/plain" }, body: "invalid_url" };
  }

  private webApi(req: RecordedRequest): FakeReply {
    const method = req.path.slice("/api/".length);
    const handler = this.methods[method];
    // Slack answers an unknown method with 404; known ones answer 200 even for errors.
    if (!handler) return json(404, { ok: false, error: "unknown_method", req_method: method });
    const headers = {
      "x-oauth-scopes": this.scopes.join(","),
      "x-accepted-oauth-scopes": REQUIRED_SCOPE[method] ?? "",
    };
    try {
      const args = parseArgs(req);
      const token = this.authenticate(req, args);
      if (this.rateLimits) {
        const wait = this.rateLimiter.take(token, method, str(args.channel));
        if (wait !== undefined)
          return {
            status: 429,
            headers: { ...headers, "retry-after": String(wait) },
            body: { ok: false, error: "ratelimited" },
          };
      }
      const needed = REQUIRED_SCOPE[method];
      if (needed && !this.scopes.includes(needed)) {
        throw new SlackApiError("missing_scope", { needed, provided: this.scopes.join(",") });
      }
      return json(200, { ok: true, ...handler(args) }, headers);
    } catch (err) {
      if (err instanceof SlackApiError)
        return json(200, { ok: false, error: err.error, ...err.extra }, headers);
      throw err;
    }
  }

  /** The token the call is made with, once accepted. */
  private authenticate(req: RecordedRequest, args: Args): string {
    const header = req.headers.authorization;
    const token = header?.startsWith("Bearer ") ? header.slice("Bearer ".length) : str(args.token);
    if (!token) throw new SlackApiError("not_authed");
    if (req.path === "/api/apps.connections.open") {
      // Only an app-level token opens Socket Mode connections.
      if (!this.appToken || token !== this.appToken) throw new SlackApiError("invalid_auth");
      return token;
    }
    if (token !== this.botToken) throw new SlackApiError("invalid_auth");
    return token;
  }

  // ---- Web API methods -----------------------------------------------------------------------

  private authTest(): MethodResult {
    return {
      url: `https://${this.team.domain}.slack.com/`,
      team: this.team.name,
      user: this.bot.name,
      team_id: this.team.id,
      user_id: this.bot.userId,
      bot_id: this.bot.botId,
      is_enterprise_install: false,
    };
  }

  private postMessage(args: Args): MethodResult {
    const channel = this.channelFor(args.channel);
    this.assertBotCanPost(channel);
    const { text, blocks } = content(args);
    const message: FakeMessage = {
      channel: channel.id,
      ts: this.nextTs(),
      text,
      blocks,
      threadTs: str(args.thread_ts) || undefined,
      user: this.bot.userId,
      updates: [],
      deleted: false,
    };
    this.store(message);
    return { channel: channel.id, ts: message.ts, message: this.messageJson(message) };
  }

  private update(args: Args): MethodResult {
    const channel = this.channelFor(args.channel);
    this.assertBotCanPost(channel);
    const message = this.existingMessage(channel.id, str(args.ts));
    if (args.text === undefined && args.blocks === undefined) throw new SlackApiError("no_text");
    // As in Slack, omitted fields keep their value; `blocks: []` removes the blocks.
    const text = args.text === undefined ? message.text : (str(args.text) ?? "");
    const blocks = args.blocks === undefined ? message.blocks : parseBlocks(args.blocks);
    checkLimits(text, blocks);
    this.applyUpdate(message, text, blocks);
    return {
      channel: channel.id,
      ts: message.ts,
      text: message.text,
      message: { ...this.messageJson(message), edited: { user: this.bot.userId, ts: this.nextTs() } },
    };
  }

  private postEphemeral(args: Args): MethodResult {
    const channel = this.channelFor(args.channel);
    this.assertBotCanPost(channel);
    const user = str(args.user) ?? "";
    if (!USER_ID.test(user) || (channel.members && !channel.members.includes(user))) {
      throw new SlackApiError("user_not_in_channel");
    }
    const { text, blocks } = content(args);
    this.ephemerals.push({
      channel: channel.id,
      user,
      text,
      blocks,
      threadTs: str(args.thread_ts) || undefined,
      via: "chat.postEphemeral",
      at: Date.now(),
    });
    this.changed({ kind: "ephemeral", channel: channel.id, user });
    return { message_ts: this.nextTs() };
  }

  private getPermalink(args: Args): MethodResult {
    const channel = this.channelFor(args.channel);
    const message = this.existingMessage(channel.id, str(args.message_ts));
    const base = `https://${this.team.domain}.slack.com/archives/${channel.id}/p${message.ts.replace(".", "")}`;
    const permalink = message.threadTs ? `${base}?thread_ts=${message.threadTs}&cid=${channel.id}` : base;
    return { channel: channel.id, permalink };
  }

  private viewsOpen(args: Args): MethodResult {
    const triggerId = str(args.trigger_id);
    if (!triggerId)
      throw new SlackApiError("invalid_arguments", {
        response_metadata: { messages: ["[ERROR] missing required field: trigger_id"] },
      });
    const view = parseView(args.view);
    const trigger = this.triggers.get(triggerId);
    if (!trigger) throw new SlackApiError("invalid_trigger_id");
    if (Date.now() - trigger.issuedAt > this.triggerTtlMs) throw new SlackApiError("expired_trigger_id");
    if (trigger.used) throw new SlackApiError("exchanged_trigger_id");
    const externalId = str(view.external_id) ?? "";
    if (externalId && this.views.some((v) => v.externalId === externalId))
      throw new SlackApiError("duplicate_external_id");
    trigger.used = true;
    const opened: FakeView = {
      id: randomId("V", 10),
      user: trigger.user,
      triggerId,
      view,
      hash: newHash(),
      externalId,
      updates: [],
    };
    this.views.push(opened);
    this.changed({ kind: "view", user: opened.user });
    return { view: this.viewJson(opened) };
  }

  private viewsUpdate(args: Args): MethodResult {
    const viewId = str(args.view_id);
    const externalId = str(args.external_id);
    if (!viewId && !externalId)
      throw new SlackApiError("invalid_arguments", {
        response_metadata: { messages: ["[ERROR] either view_id or external_id is required"] },
      });
    const view = parseView(args.view);
    const target = this.views.find((v) => (viewId ? v.id === viewId : v.externalId === externalId));
    if (!target) throw new SlackApiError("not_found");
    const hash = str(args.hash);
    if (hash && hash !== target.hash) throw new SlackApiError("hash_conflict");
    target.view = view;
    target.updates.push(view);
    target.hash = newHash();
    this.changed({ kind: "view", user: target.user });
    return { view: this.viewJson(target) };
  }

  private usergroupUsers(args: Args): MethodResult {
    const members = this.usergroups.get(str(args.usergroup) ?? "");
    if (!members) throw new SlackApiError("no_such_subteam");
    return { users: [...members] };
  }

  private usersInfo(args: Args): MethodResult {
    const user = this.users.get(str(args.user) ?? "");
    if (!user) throw new SlackApiError("user_not_found");
    const name = user.name ?? user.id.toLowerCase();
    const realName = user.realName ?? name;
    return {
      user: {
        id: user.id,
        team_id: this.team.id,
        name,
        deleted: user.deleted ?? false,
        real_name: realName,
        tz: user.tz ?? "UTC",
        is_bot: user.isBot ?? false,
        is_admin: false,
        profile: { real_name: realName, display_name: name, ...(user.email ? { email: user.email } : {}) },
      },
    };
  }

  private conversationsInfo(args: Args): MethodResult {
    const channel = this.channelFor(args.channel);
    const isIm = channel.id.startsWith("D");
    return {
      channel: {
        id: channel.id,
        name: channel.name ?? channel.id.toLowerCase(),
        is_channel: !isIm && !channel.isPrivate,
        is_group: false,
        is_im: isIm,
        is_private: channel.isPrivate ?? false,
        is_archived: channel.archived ?? false,
        is_member: channel.members ? channel.members.includes(this.bot.userId) : true,
        created: 1_700_000_000,
      },
    };
  }

  // ---- response_url --------------------------------------------------------------------------

  private responseUrlPost(req: RecordedRequest): FakeReply {
    const record = this.responseUrls.get(req.path) as ResponseUrlRecord;
    const text = (status: number, body: string): FakeReply => ({
      status,
      headers: { "content-type": "text/plain" },
      body,
    });
    if (Date.now() - record.issuedAt > RESPONSE_URL_TTL_MS) return text(404, "expired_url");
    if (record.uses >= RESPONSE_URL_USES) return text(404, "used_url");
    let body: Args;
    try {
      body = parseArgs(req);
    } catch {
      return text(400, "invalid_payload");
    }
    const deleteOriginal = bool(body.delete_original);
    const replaceOriginal = bool(body.replace_original);
    let parsed: { text: string; blocks: unknown[] | undefined };
    try {
      parsed = deleteOriginal ? { text: "", blocks: undefined } : content(body);
    } catch (err) {
      return text(400, err instanceof SlackApiError ? err.error : "invalid_payload");
    }
    record.uses += 1;
    const post: ResponseUrlPost = {
      url: `${this.url}${req.path}`,
      kind: record.kind,
      channel: record.channel,
      user: record.user,
      responseType: body.response_type === "in_channel" ? "in_channel" : "ephemeral",
      replaceOriginal,
      deleteOriginal,
      text: parsed.text,
      blocks: parsed.blocks,
      threadTs: str(body.thread_ts) || undefined,
      at: Date.now(),
    };
    this.responses.push(post);
    this.deliver(post, record);
    this.changed({ kind: "response", channel: post.channel, user: post.user });
    return json(200, { ok: true });
  }

  /** What the user would see after a response_url post. */
  private deliver(post: ResponseUrlPost, record: ResponseUrlRecord): void {
    const original = record.messageTs ? this.message(record.channel, record.messageTs) : undefined;
    if (original && post.deleteOriginal) {
      original.deleted = true;
      this.changed({ kind: "delete", channel: original.channel, ts: original.ts });
      return;
    }
    if (original && post.replaceOriginal) {
      this.applyUpdate(original, post.text, post.blocks);
      return;
    }
    if (post.responseType === "in_channel") {
      this.store({
        channel: record.channel,
        ts: this.nextTs(),
        text: post.text,
        blocks: post.blocks,
        threadTs: post.threadTs,
        user: record.kind === "command" ? record.user : this.bot.userId,
        updates: [],
        deleted: false,
      });
      return;
    }
    this.ephemerals.push({
      channel: record.channel,
      user: record.user,
      text: post.text,
      blocks: post.blocks,
      threadTs: post.threadTs,
      via: "response_url",
      at: post.at,
    });
    this.changed({ kind: "ephemeral", channel: record.channel, user: record.user });
  }

  // ---- helpers -------------------------------------------------------------------------------

  private channelFor(ref: unknown): FakeChannel {
    const key = (str(ref) ?? "").replace(/^#/, "");
    const known = this.channels.get(key) ?? [...this.channels.values()].find((c) => c.name === key);
    if (known) return known;
    if (this.openWorldChannels && CONVERSATION_ID.test(key)) {
      const created: FakeChannel = { id: key, name: key.toLowerCase() };
      this.channels.set(key, created);
      return created;
    }
    throw new SlackApiError("channel_not_found");
  }

  private assertBotCanPost(channel: FakeChannel): void {
    if (channel.archived) throw new SlackApiError("is_archived");
    if (channel.members && !channel.members.includes(this.bot.userId))
      throw new SlackApiError("not_in_channel");
  }

  private existingMessage(channel: string, ts: string | undefined): FakeMessage {
    const message = ts ? this.message(channel, ts) : undefined;
    if (!message || message.deleted) throw new SlackApiError("message_not_found");
    return message;
  }

  private store(message: FakeMessage): void {
    const list = this.messagesByChannel.get(message.channel) ?? [];
    list.push(message);
    this.messagesByChannel.set(message.channel, list);
    this.changed({ kind: "message", channel: message.channel, ts: message.ts });
  }

  private applyUpdate(message: FakeMessage, text: string, blocks: unknown[] | undefined): void {
    message.text = text;
    message.blocks = blocks;
    message.updates.push({ text, blocks, at: Date.now() });
    this.changed({ kind: "update", channel: message.channel, ts: message.ts });
  }

  /** Slack-style ts (`1732212345.000100`): unique and strictly increasing, 100 µs apart at least. */
  private nextTs(): string {
    this.lastTsMicros = Math.max(Date.now() * 1000, this.lastTsMicros + 100);
    const seconds = Math.floor(this.lastTsMicros / 1_000_000);
    return `${seconds}.${String(this.lastTsMicros % 1_000_000).padStart(6, "0")}`;
  }

  private messageJson(m: FakeMessage): Record<string, unknown> {
    return {
      type: "message",
      user: m.user,
      ...(m.user === this.bot.userId ? { bot_id: this.bot.botId, app_id: this.bot.appId } : {}),
      text: m.text,
      ts: m.ts,
      team: this.team.id,
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
    };
  }

  private viewJson(v: FakeView): Record<string, unknown> {
    return {
      id: v.id,
      team_id: this.team.id,
      type: v.view.type,
      title: v.view.title,
      ...(v.view.submit ? { submit: v.view.submit } : {}),
      ...(v.view.close ? { close: v.view.close } : {}),
      blocks: v.view.blocks ?? [],
      private_metadata: v.view.private_metadata ?? "",
      callback_id: v.view.callback_id ?? "",
      external_id: v.externalId,
      state: { values: {} },
      hash: v.hash,
      clear_on_close: v.view.clear_on_close ?? false,
      notify_on_close: v.view.notify_on_close ?? false,
      root_view_id: v.id,
      previous_view_id: null,
      app_id: this.bot.appId,
      bot_id: this.bot.botId,
    };
  }
}

// ---- request decoding ------------------------------------------------------------------------

/** Form-encoded (what WebClient sends) or JSON bodies, plus query parameters. */
function parseArgs(req: RecordedRequest): Args {
  const args: Args = Object.fromEntries(req.query);
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (!req.body) return args;
  if (type === "application/json") {
    const parsed = parseJsonOrUndefined(req.body);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
      throw new SlackApiError("invalid_json");
    return { ...args, ...(parsed as Args) };
  }
  if (type === "application/x-www-form-urlencoded")
    return { ...args, ...Object.fromEntries(new URLSearchParams(req.body)) };
  throw new SlackApiError(type ? "invalid_post_type" : "missing_post_type");
}

function content(args: Args): { text: string; blocks: unknown[] | undefined } {
  const text = str(args.text) ?? "";
  const blocks = args.blocks === undefined ? undefined : parseBlocks(args.blocks);
  if (!text && !blocks?.length && args.attachments === undefined) throw new SlackApiError("no_text");
  checkLimits(text, blocks);
  return { text, blocks };
}

/** A message's text and blocks within Slack's limits, or the error Slack answers. */
function checkLimits(text: string, blocks: unknown[] | undefined): void {
  if (text.length > BLOCK_LIMITS.messageText) throw new SlackApiError("msg_too_long");
  const problems = blocks ? blockKitProblems(blocks, "message") : [];
  if (problems.length > 0)
    throw new SlackApiError("invalid_blocks", {
      errors: problems,
      response_metadata: { messages: problems.map((m) => `[ERROR] ${m}`) },
    });
}

/** `blocks` arrive as a JSON string in form bodies and as an array in JSON bodies. */
function parseBlocks(value: unknown): unknown[] {
  const parsed = typeof value === "string" ? parseJsonOrUndefined(value) : value;
  if (!Array.isArray(parsed)) throw new SlackApiError("invalid_blocks_format");
  if (!parsed.every((b) => b && typeof b === "object" && typeof (b as Args).type === "string")) {
    throw new SlackApiError("invalid_blocks");
  }
  return parsed;
}

function parseView(value: unknown): Record<string, unknown> {
  const parsed = typeof value === "string" ? parseJsonOrUndefined(value) : value;
  const invalid = (why: string) =>
    new SlackApiError("invalid_arguments", { response_metadata: { messages: [`[ERROR] ${why}`] } });
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw invalid("missing required field: view");
  const view = parsed as Record<string, unknown>;
  if (view.type !== "modal") throw invalid("must be a modal view [json-pointer:/view/type]");
  if (!view.title) throw invalid("missing required field: title [json-pointer:/view]");
  if (view.blocks !== undefined) parseBlocks(view.blocks);
  const problems = viewProblems(view);
  if (problems.length > 0)
    throw new SlackApiError("invalid_arguments", {
      response_metadata: { messages: problems.map((m) => `[ERROR] ${m}`) },
    });
  return view;
}

function findBlockId(blocks: unknown[] | undefined, actionId: string): string | undefined {
  for (const block of blocks ?? []) {
    const b = block as {
      block_id?: string;
      elements?: { action_id?: string }[];
      accessory?: { action_id?: string };
    };
    if (b.accessory?.action_id === actionId || b.elements?.some((e) => e.action_id === actionId))
      return b.block_id;
  }
  return undefined;
}

function str(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

function bool(value: unknown): boolean {
  return value === true || value === "true" || value === "1";
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function compareTs(a: string, b: string): number {
  const [as = "0", au = "0"] = a.split(".");
  const [bs = "0", bu = "0"] = b.split(".");
  return Number(as) - Number(bs) || Number(au) - Number(bu);
}

function newHash(): string {
  return `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString("hex")}`;
}

function randomId(prefix: string, length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const bytes = randomBytes(length);
  let id = prefix;
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}

function randomDigits(length: number): string {
  let digits = "";
  for (const b of randomBytes(length)) digits += String(b % 10);
  return digits.replace(/^0/, "1");
}

/**
 * One POST on a connection of its own, as Slack sends each request: no kept-alive socket that the
 * receiver may have closed meanwhile (a reused stale socket would fail the request on our side).
 */
function postOnNewConnection(
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(
      target,
      {
        method: "POST",
        agent: false,
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
