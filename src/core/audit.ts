// The audit trail: one Redis stream (`<prefix>:audit`) of who did what, when, with which plan
// digest. Entries are kept for the configured retention and trimmed by age only (XADD MINID), never
// by count: a busy week must not push last year's failover out of the record. Each request also
// has a small index (a list of its stream ids, trimmed the same way) so one request's trail is
// read without scanning the whole stream. Writers that are themselves Lua scripts (approval
// transitions) embed AUDIT_APPEND_LUA, so an entry and its index are written in the same atomic
// step as the change they record.

import type { ChainableCommander } from "ioredis";
import type { RedisClient } from "./redis.ts";

/** What a caller records. Every value is a string; undefined values are left out. */
export interface AuditRecord {
  event: string;
  request?: string;
  user?: string;
  digest?: string;
  detail?: string;
  [field: string]: string | undefined;
}

export interface AuditEntry {
  /** Stream id, `<ms>-<seq>`. */
  id: string;
  /** When it was recorded (ms since the epoch, from the stream id). */
  at: number;
  event: string;
  request?: string;
  user?: string;
  digest?: string;
  /** Every other field, e.g. `detail`, `action`, `state`, `reason`. */
  fields: Record<string, string>;
}

export interface AuditReadOptions {
  /** Only entries recorded at or after this instant (ms since the epoch). */
  sinceMs?: number;
  /** Only this request's entries (read through its index). */
  request?: string;
}

export const DEFAULT_AUDIT_RETENTION_MS = 400 * 86_400_000;

/** Entries fetched per round trip when reading. */
const PAGE = 500;

/**
 * Lua: `audit_append(stream, index, min_ms, ttl_ms, fields)` adds one entry, trims the stream to
 * entries not older than `min_ms` (approximately: whole stream nodes), and when `index` is not
 * "" appends the id to that request's list, drops ids older than `min_ms` from its head and lets
 * the list expire `ttl_ms` after its newest entry. Returns the id.
 */
export const AUDIT_APPEND_LUA = `
local function audit_append(stream, index, min_ms, ttl_ms, fields)
  local args = {"XADD", stream, "MINID", "~", min_ms, "*"}
  for _, v in ipairs(fields) do args[#args + 1] = v end
  local id = redis.call(unpack(args))
  if index ~= "" then
    local floor = tonumber(min_ms)
    redis.call("RPUSH", index, id)
    while true do
      local head = redis.call("LINDEX", index, 0)
      if (not head) or tonumber(string.match(head, "^(%d+)")) >= floor then break end
      redis.call("LPOP", index)
    end
    redis.call("PEXPIRE", index, ttl_ms)
  end
  return id
end
`;

// KEYS[1] stream, KEYS[2] the request's index (optional); ARGV: min_ms, ttl_ms, field, value, …
const APPEND = `${AUDIT_APPEND_LUA}
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
return audit_append(KEYS[1], KEYS[2] or "", ARGV[1], ARGV[2], fields)
`;

const NAMED = new Set(["event", "request", "user", "digest"]);
// Older writers also put their clock in an `at` field; the stream id is the one time we show.
const HIDDEN = new Set(["at"]);

type AppendCommand = (numberOfKeys: number, ...args: string[]) => Promise<string>;

export class AuditLog {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  readonly retentionMs: number;

  constructor(redis: RedisClient, prefix: string, retentionMs: number = DEFAULT_AUDIT_RETENTION_MS) {
    if (!Number.isFinite(retentionMs) || retentionMs <= 0)
      throw new Error(`audit retention must be a positive duration, not ${retentionMs}`);
    this.redis = redis;
    this.prefix = prefix;
    this.retentionMs = retentionMs;
    redis.defineCommand("drbotAuditAppend", { lua: APPEND });
  }

  /** The stream (the key approvals and `drbot dr unlock` have always written to). */
  get key(): string {
    return `${this.prefix}:audit`;
  }

  /** The list of one request's stream ids. */
  indexKey(request: string): string {
    return `${this.prefix}:audit:request:${request}`;
  }

  /** Script arguments for trimming at `now`: the oldest instant kept, and the index's lifetime. */
  trimArgs(now = Date.now()): { minMs: string; ttlMs: string } {
    return { minMs: String(Math.max(0, now - this.retentionMs)), ttlMs: String(this.retentionMs) };
  }

  /** Appends one entry (and indexes it under its request); returns its stream id. */
  async record(entry: AuditRecord): Promise<string> {
    const [numberOfKeys, ...args] = this.appendArgs(entry);
    return (this.redis as unknown as { drbotAuditAppend: AppendCommand }).drbotAuditAppend(
      numberOfKeys as number,
      ...(args as string[]),
    );
  }

  /** Queues the same append on a MULTI or pipeline, so it commits with the caller's other writes. */
  recordIn(pipeline: ChainableCommander, entry: AuditRecord): void {
    const [numberOfKeys, ...args] = this.appendArgs(entry);
    (pipeline as unknown as { drbotAuditAppend: AppendCommand }).drbotAuditAppend(
      numberOfKeys as number,
      ...(args as string[]),
    );
  }

  private appendArgs(entry: AuditRecord): [number, ...string[]] {
    if (!entry.event) throw new Error("an audit entry needs an event");
    const fields: string[] = [];
    for (const [name, value] of Object.entries(entry)) {
      if (value === undefined) continue;
      if (typeof value !== "string") throw new Error(`audit field ${name} must be a string`);
      fields.push(name, value);
    }
    const { minMs, ttlMs } = this.trimArgs();
    return entry.request
      ? [2, this.key, this.indexKey(entry.request), minMs, ttlMs, ...fields]
      : [1, this.key, minMs, ttlMs, ...fields];
  }

  /**
   * Entries oldest first, fetched a page at a time, so a year of them is never held at once.
   * Entries older than the retention are never returned, even where trimming (approximate, by
   * whole stream nodes) has not dropped them yet.
   */
  async *read(options: AuditReadOptions = {}): AsyncGenerator<AuditEntry> {
    const floor = Math.max(options.sinceMs ?? 0, Date.now() - this.retentionMs, 0);
    if (options.request !== undefined) {
      yield* this.readRequest(options.request, floor);
      return;
    }
    let start = `${Math.floor(floor)}-0`;
    for (;;) {
      const page = await this.redis.xrange(this.key, start, "+", "COUNT", PAGE);
      for (const [id, fields] of page) yield toEntry(id, fields);
      const last = page.at(-1);
      if (!last || page.length < PAGE) return;
      start = `(${last[0]}`;
    }
  }

  private async *readRequest(request: string, floor: number): AsyncGenerator<AuditEntry> {
    const index = this.indexKey(request);
    for (let offset = 0; ; offset += PAGE) {
      const ids = await this.redis.lrange(index, offset, offset + PAGE - 1);
      const wanted = ids.filter((id) => idTime(id) >= floor);
      if (wanted.length > 0) {
        const pipeline = this.redis.pipeline();
        for (const id of wanted) pipeline.xrange(this.key, id, id);
        for (const [err, reply] of (await pipeline.exec()) ?? []) {
          if (err) throw err;
          // An id whose entry the stream has already trimmed is simply gone.
          const found = (reply as Array<[string, string[]]>)[0];
          if (found) yield toEntry(found[0], found[1]);
        }
      }
      if (ids.length < PAGE) return;
    }
  }
}

function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf("-")));
}

function toEntry(id: string, flat: string[]): AuditEntry {
  const entry: AuditEntry = { id, at: idTime(id), event: "", fields: {} };
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i] as string;
    const value = flat[i + 1] as string;
    if (NAMED.has(name)) (entry as unknown as Record<string, string>)[name] = value;
    else if (!HIDDEN.has(name)) entry.fields[name] = value;
  }
  return entry;
}
