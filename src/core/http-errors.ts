// How drbot reads a failed call to any of the services it talks to (EFS, Kubernetes, GitHub,
// Slack): the HTTP status decides the kind (retry or not, whose fault), and a connection-level
// failure is always worth retrying. Each adapter keeps only what its service adds on top (EFS's
// exception names, Kubernetes' field-manager conflicts, GitHub's rate-limit headers, Slack's
// `ok: false` errors) and its own wording.

import type { ErrorKind } from "./errors.ts";

/** The kind of failure an HTTP status means, before any service-specific reading. */
export function kindOfHttpStatus(status: number): ErrorKind {
  if (status === 408 || status === 429 || status >= 500) return "transient";
  if (status === 401 || status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 400 || status === 422) return "invalid";
  return "internal";
}

/** errno codes of a connection that failed or went away: the network, not the request. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/**
 * A call that got no HTTP answer at all: refused, reset, unresolvable, timed out. Node's fetch
 * (undici) reports these as `TypeError: fetch failed` with the errno on its cause; the AWS SDK and
 * ioredis put it on the error itself.
 */
export function isNetworkFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (e.name === "TimeoutError" || e.name === "RequestTimeout") return true;
    if (e instanceof TypeError && e.message === "fetch failed") return true;
  }
  return false;
}
