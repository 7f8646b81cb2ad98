// Coded errors. The kind decides what the job runner does (retry transient ones with backoff,
// fail the rest at once) and the message is written for the human who reads it in Slack.

import type { ErrorCode } from "./error-codes.ts";
import { isNetworkFailure } from "./http-errors.ts";
import { escapeMrkdwn, Mrkdwn } from "./mrkdwn.ts";

export type { ErrorCode } from "./error-codes.ts";

export type ErrorKind =
  | "invalid" // bad input or configuration: fix the request
  | "forbidden" // the caller may not do this
  | "not_found" // something that must exist does not
  | "conflict" // the world is not in the state the request expects
  | "transient" // worth retrying: throttling, 5xx, timeouts, connection resets
  | "internal"; // a bug or an unexpected answer

export class DrbotError extends Error {
  readonly kind: ErrorKind;
  /** Stable machine-readable code, e.g. `efs.replication_not_found`. */
  readonly code: ErrorCode;
  /** What the reader should do next: drbot's own wording (trusted in mrkdwn). */
  readonly hint: string | undefined;
  /** The message as safe mrkdwn, when it was built with `md` (mentions, code spans). */
  readonly markdown: Mrkdwn | undefined;
  /** For rate limits: how long the other side asked us to wait. */
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: ErrorKind,
    code: ErrorCode,
    message: string | Mrkdwn,
    options?: { hint?: string; cause?: unknown; retryAfterMs?: number },
  ) {
    super(String(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.markdown = message instanceof Mrkdwn ? message : undefined;
    this.name = "DrbotError";
    this.kind = kind;
    this.code = code;
    this.hint = options?.hint;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/**
 * Worth retrying: a DrbotError that says so, or a connection-level failure from a client drbot
 * does not wrap (Redis through ioredis): a restarting Redis must not fail a job for good.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof DrbotError) return err.kind === "transient";
  if (!(err instanceof Error)) return false;
  if (isNetworkFailure(err)) return true;
  // Redis during a restart or a Sentinel/Cluster failover: a command cut off with its connection,
  // a master without its replicas (min-replicas-to-write), a demoted master, a cluster moving slots.
  return /Connection is closed|Stream isn't writeable|MaxRetriesPerRequestError|Reached the max retries|LOADING Redis is loading|Command aborted due to connection close|^\S+ (READONLY|NOREPLICAS|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) /.test(
    `${err.name} ${err.message}`,
  );
}

/**
 * The error for a Slack message: drbot's own wording kept, anything that came from outside
 * (an SDK's or a server's message) escaped.
 */
export function errorMarkdown(err: unknown): Mrkdwn {
  if (err instanceof DrbotError) {
    const message = err.markdown?.text ?? escapeMrkdwn(err.message, 1000);
    return new Mrkdwn(err.hint ? `${message} ${err.hint}` : message);
  }
  const own = (err as { markdown?: unknown } | null)?.markdown;
  if (own instanceof Mrkdwn) return own;
  return new Mrkdwn(escapeMrkdwn(err instanceof Error ? err.message : String(err), 1000));
}

export function errorMessage(err: unknown): string {
  if (err instanceof DrbotError) return err.hint ? `${err.message} ${err.hint}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
