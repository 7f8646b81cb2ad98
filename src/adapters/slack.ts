// ChatPort on Slack's Web API (@slack/web-api). Every SDK failure leaves here as a DrbotError whose
// kind tells the job runner whether to retry, and whose message tells the person on call what to fix.

import {
  type ChatUpdateArguments,
  ErrorCode,
  LogLevel,
  type RetryOptions,
  type Logger as SlackLogger,
  type View,
  WebClient,
} from "@slack/web-api";
import { DrbotError, type ErrorKind } from "../core/errors.ts";
import { kindOfHttpStatus } from "../core/http-errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Blocks, ChatPort, MessageRef } from "../core/ports/chat.ts";
import { scrub, scrubDeep } from "../core/secrets.ts";

/** Retry presets. The SDK's own default (ten retries over ~30 minutes) would stall a job step. */
export const slackRetry = {
  /** Default: a few quick retries of 5xx and network errors, a handful of seconds in all. */
  standard: { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 4_000, randomize: true },
  /** For the notifier and interactive paths: one quick retry, then give up (pair it with
   * `failFastOnRateLimit` so a 429 does not park the caller for Retry-After). */
  brief: { retries: 1, minTimeout: 200, maxTimeout: 200 },
  none: { retries: 0 },
} satisfies Record<string, RetryOptions>;

export interface SlackChatOptions {
  token: string;
  /** Base URL of the Web API (SLACK_API_URL), e.g. `http://proxy/api/`; Slack's own when unset. */
  apiUrl?: string;
  /** How 5xx, network errors and rate limits are retried; `slackRetry.standard` when unset. */
  retryConfig?: RetryOptions;
  /**
   * Fail at once on HTTP 429 instead of pausing for Retry-After. The SDK waits out Retry-After
   * even when no retries are left, so a caller that must not block needs this.
   */
  failFastOnRateLimit?: boolean;
  /** Per-request timeout in milliseconds; none when unset. */
  timeoutMs?: number;
  logger?: Logger;
}

/** The port keeps Block Kit opaque; the SDK wants its own block types. */
type SlackBlocks = Extract<ChatUpdateArguments, { blocks: unknown[] }>["blocks"];
const asSlackBlocks = (blocks: Blocks): SlackBlocks => blocks as unknown as SlackBlocks;

export function createSlackChat(options: SlackChatOptions): ChatPort {
  const web = new WebClient(options.token, {
    ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
    retryConfig: options.retryConfig ?? slackRetry.standard,
    rejectRateLimitedCalls: options.failFastOnRateLimit ?? false,
    timeout: options.timeoutMs ?? 0,
    ...(options.logger ? { logger: slackLogger(options.logger) } : { logLevel: LogLevel.WARN }),
  });

  /** Runs one call, translating what the SDK throws. */
  async function call<T>(method: string, target: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw translateSlackError(err, method, target);
    }
  }

  return {
    async authTest() {
      const res = await call("auth.test", "the bot token", () => web.auth.test());
      if (!res.user_id) throw unexpected("auth.test", "the bot token", "a user_id");
      return { userId: res.user_id, team: res.team ?? res.team_id ?? "" };
    },

    async post(channel, text, blocks, threadTs) {
      const target = threadTs ? `thread ${threadTs} in channel ${channel}` : `channel ${channel}`;
      const res = await call("chat.postMessage", target, () =>
        web.chat.postMessage({
          channel,
          text: scrub(text),
          ...(blocks ? { blocks: asSlackBlocks(scrubDeep(blocks)) } : {}),
          ...(threadTs ? { thread_ts: threadTs } : {}),
        }),
      );
      if (!res.ts) throw unexpected("chat.postMessage", target, "a ts");
      // Slack answers with the channel id even when given a name; chat.update needs the id.
      return { channel: res.channel ?? channel, ts: res.ts };
    },

    async update(ref: MessageRef, text, blocks) {
      // Slack keeps a message's old blocks when none are sent; the port means "replace the
      // message", so an update without blocks clears them.
      await call("chat.update", `message ${ref.ts} in channel ${ref.channel}`, () =>
        web.chat.update({
          channel: ref.channel,
          ts: ref.ts,
          text: scrub(text),
          blocks: asSlackBlocks(scrubDeep(blocks ?? [])),
        }),
      );
    },

    async postEphemeral(channel, user, text, blocks) {
      await call("chat.postEphemeral", `user ${user} in channel ${channel}`, () =>
        web.chat.postEphemeral({
          channel,
          user,
          text: scrub(text),
          ...(blocks ? { blocks: asSlackBlocks(scrubDeep(blocks)) } : {}),
        }),
      );
    },

    async openView(triggerId, view) {
      await call("views.open", "a modal", () =>
        web.views.open({ trigger_id: triggerId, view: scrubDeep(view) as unknown as View }),
      );
    },

    async usergroupMembers(groupId) {
      const res = await call("usergroups.users.list", `user group ${groupId}`, () =>
        web.usergroups.users.list({ usergroup: groupId }),
      );
      return res.users ?? [];
    },
  };
}

// ---- error translation -------------------------------------------------------------------------

interface Classified {
  kind: ErrorKind;
  hint?: string;
}

const TOKEN_HINT =
  "Check SLACK_BOT_TOKEN: it must be the bot token (xoxb-…) of the installed app, and still valid.";

/** Slack's `error` strings (HTTP 200, `ok: false`) and what each means for drbot. */
const PLATFORM_ERRORS: Record<string, Classified> = {
  ratelimited: { kind: "transient", hint: "Slack is rate-limiting drbot; it will be retried." },
  fatal_error: { kind: "transient" },
  internal_error: { kind: "transient" },
  service_unavailable: { kind: "transient" },
  request_timeout: { kind: "transient" },
  team_added_to_org: { kind: "transient" },
  not_authed: { kind: "forbidden", hint: TOKEN_HINT },
  invalid_auth: { kind: "forbidden", hint: TOKEN_HINT },
  account_inactive: { kind: "forbidden", hint: TOKEN_HINT },
  token_revoked: { kind: "forbidden", hint: TOKEN_HINT },
  token_expired: { kind: "forbidden", hint: TOKEN_HINT },
  not_allowed_token_type: { kind: "forbidden", hint: TOKEN_HINT },
  no_permission: { kind: "forbidden", hint: "The workspace does not let drbot do this; ask a Slack admin." },
  ekm_access_denied: { kind: "forbidden", hint: "Slack admins have suspended posting; ask a Slack admin." },
  restricted_action: {
    kind: "forbidden",
    hint: "A workspace preference prevents the bot from posting here.",
  },
  not_in_channel: {
    kind: "forbidden",
    hint: "Invite the bot to the channel (/invite @drbot) and try again.",
  },
  channel_not_found: {
    kind: "not_found",
    hint: "Check the channel id; for a private channel, invite the bot to it first.",
  },
  message_not_found: { kind: "not_found", hint: "The message was probably deleted; post a new one instead." },
  no_such_subteam: { kind: "not_found", hint: "Check the user-group id (S…) in drbot's configuration." },
  user_not_found: { kind: "not_found", hint: "Check the user id (U…) in drbot's configuration." },
  not_found: { kind: "not_found" },
  user_not_in_channel: { kind: "conflict", hint: "The user is not a member of that channel." },
  is_archived: { kind: "conflict", hint: "The channel is archived; unarchive it or configure another one." },
  cant_update_message: { kind: "conflict", hint: "Only messages the bot posted can be updated." },
  edit_window_closed: { kind: "conflict", hint: "The message can no longer be edited; post a new one." },
  hash_conflict: { kind: "conflict", hint: "The modal changed meanwhile; reload it." },
  expired_trigger_id: {
    kind: "invalid",
    hint: "A modal must be opened within 3 seconds of the click or command; ask the user to run the command again.",
  },
  invalid_trigger_id: {
    kind: "invalid",
    hint: "Trigger ids come from a command or click and work once; ask the user to run the command again.",
  },
  exchanged_trigger_id: {
    kind: "invalid",
    hint: "Trigger ids work once; ask the user to run the command again.",
  },
};

/** Turns whatever the SDK threw into a DrbotError naming the method and what it was about. */
export function translateSlackError(err: unknown, method: string, target: string): DrbotError {
  if (err instanceof DrbotError) return err;
  const what = `Slack ${method} for ${target}`;
  const code = (err as { code?: unknown } | null)?.code;

  if (code === ErrorCode.PlatformError) {
    const data = (err as { data: { error?: string; needed?: string } }).data;
    const error = data.error ?? "unknown_error";
    if (error === "missing_scope") {
      return new DrbotError(
        "forbidden",
        "slack.missing_scope",
        `${what} failed: the bot token lacks a scope.`,
        {
          hint: `Add the ${data.needed ?? "required"} scope to the Slack app's bot token scopes and reinstall the app.`,
          cause: err,
        },
      );
    }
    const known = PLATFORM_ERRORS[error];
    // Unlisted errors are mostly malformed requests (no_text, invalid_blocks, invalid_arguments…).
    const kind =
      known?.kind ??
      (/^(invalid|no_|too_|msg_too|markdown|view_too|duplicate)/.test(error) ? "invalid" : "internal");
    return new DrbotError(kind, `slack.${error}`, `${what} failed: ${error}.`, {
      ...(known?.hint ? { hint: known.hint } : {}),
      cause: err,
    });
  }

  if (code === ErrorCode.RateLimitedError) {
    const retryAfter = (err as { retryAfter?: number }).retryAfter;
    return new DrbotError("transient", "slack.ratelimited", `${what} was rate-limited by Slack.`, {
      hint: `Slack asked to wait ${retryAfter ?? "a few"} seconds before retrying.`,
      cause: err,
      ...(typeof retryAfter === "number" ? { retryAfterMs: retryAfter * 1_000 } : {}),
    });
  }

  if (code === ErrorCode.HTTPError) {
    const status = (err as { statusCode: number }).statusCode;
    return new DrbotError(
      kindOfHttpStatus(status),
      `slack.http_${status}`,
      `${what} failed with HTTP ${status}.`,
      {
        hint:
          status === 404
            ? "Check SLACK_API_URL: it must end in /api/ (Slack's is https://slack.com/api/)."
            : status >= 500
              ? "Slack (or the proxy in SLACK_API_URL) is having trouble; it will be retried."
              : "Check SLACK_API_URL and any proxy in between.",
        cause: err,
      },
    );
  }

  if (code === ErrorCode.RequestError) {
    const original = (err as { original?: Error }).original;
    // When 429s outlast the retries, the SDK wraps its own "rate limit was exceeded" error here.
    if (original && /rate limit was exceeded|Retry header/.test(original.message)) {
      return new DrbotError("transient", "slack.ratelimited", `${what} was rate-limited by Slack.`, {
        hint: "Slack is rate-limiting drbot; it will be retried.",
        cause: err,
      });
    }
    const timedOut = original?.name === "TimeoutError" || original?.name === "AbortError";
    return new DrbotError(
      "transient",
      timedOut ? "slack.timeout" : "slack.unreachable",
      timedOut ? `${what} timed out.` : `${what} could not reach Slack (${causeOf(original)}).`,
      { hint: "Check network access to Slack (or SLACK_API_URL); it will be retried.", cause: err },
    );
  }

  return new DrbotError("internal", "slack.unexpected", `${what} failed unexpectedly: ${causeOf(err)}.`, {
    cause: err,
  });
}

function unexpected(method: string, target: string, what: string): DrbotError {
  return new DrbotError(
    "internal",
    "slack.unexpected_response",
    `Slack ${method} for ${target} answered without ${what}.`,
  );
}

/** The innermost message, e.g. ECONNREFUSED rather than "fetch failed". */
function causeOf(err: unknown): string {
  let current: unknown = err;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

const PINO_TO_SLACK_LEVEL: Record<string, LogLevel> = {
  trace: LogLevel.DEBUG,
  debug: LogLevel.DEBUG,
  info: LogLevel.INFO,
  warn: LogLevel.WARN,
  error: LogLevel.ERROR,
  fatal: LogLevel.ERROR,
  silent: LogLevel.ERROR,
};

/** The SDK's logger interface on top of drbot's pino logger; the level is pino's to decide. */
function slackLogger(logger: Logger): SlackLogger {
  const log = logger.child({ component: "slack-web-api" });
  const at =
    (level: "debug" | "info" | "warn" | "error") =>
    (...msg: unknown[]) =>
      log[level]({ detail: msg.map(String).join(" ") }, "slack client");
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    setLevel: () => {},
    getLevel: () => PINO_TO_SLACK_LEVEL[log.level] ?? LogLevel.INFO,
    setName: () => {},
  };
}
