// Approval requests in Redis. Every transition runs as one Lua script, so simultaneous clicks
// cannot approve twice, a resolved request never changes again, and each transition is written
// to the audit stream in the same atomic step. Who is *eligible* (configured users and user-group
// members) is decided by the caller before the script runs; the script enforces the rest.

import { AUDIT_APPEND_LUA, AuditLog } from "./audit.ts";
import type { RedisClient } from "./redis.ts";

export type ApprovalState = "pending" | "approved" | "denied" | "expired" | "cancelled";

export interface ApprovalRecord {
  id: string;
  /** What is being approved, e.g. `failover`, `reprotect`, `volume-delete`. */
  action: string;
  /** What the card calls it, e.g. "DR failover" (drbot's wording). */
  title?: string;
  /** The confirm dialog of the Approve button (safe mrkdwn). */
  confirm?: string;
  /** The queue of the job waiting on it (to wake it). */
  queue?: string;
  requester: string;
  /** Short digest of the plan shown on the card and approved. */
  digest: string;
  required: number;
  approvals: Array<{ user: string; at: number }>;
  denial?: { user: string; at: number; reason?: string };
  /** Why drbot withdrew it (its job ended without it); state is then `cancelled`. */
  withdrawn?: string;
  state: ApprovalState;
  createdAt: number;
  expiresAt: number;
  resolvedAt?: number;
  /** Where the approval card is. */
  channel?: string;
  ts?: string;
  /** The job waiting on it. */
  jobId?: string;
  /** What the approvers are shown: the plan, one line each (safe mrkdwn). */
  plan: string[];
  /** Who may approve, as shown on the card (safe mrkdwn). */
  approversText: string;
}

export type TransitionResult =
  | "recorded" // an approval was added; more are needed
  | "approved" // this approval completed the request
  | "denied"
  | "cancelled"
  | "withdrawn" // drbot ended it (its job ended without it); state cancelled
  | "expired" // the request had expired; it is now marked so
  | "already-resolved"
  | "requester" // the requester may not approve or deny
  | "duplicate" // this person already approved
  | "not-requester" // only the requester may cancel
  | "missing";

const TRANSITION = `${AUDIT_APPEND_LUA}
local raw = redis.call("GET", KEYS[1])
if not raw then return {"missing", ""} end
local r = cjson.decode(raw)
local action, user, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if type(r.approvals) ~= "table" then r.approvals = {} end
local function save(result)
  local encoded = cjson.encode(r)
  redis.call("SET", KEYS[1], encoded, "KEEPTTL")
  if r.state ~= "pending" then redis.call("ZREM", KEYS[3], r.id) end
  local fields = {
    "event", "approval." .. result, "request", r.id, "action", r.action, "user", user,
    "digest", r.digest, "state", r.state, "at", tostring(now)}
  if (result == "denied" or result == "withdrawn") and ARGV[4] ~= "" then
    fields[#fields + 1] = "reason"; fields[#fields + 1] = ARGV[4]
  end
  audit_append(KEYS[2], KEYS[4], ARGV[5], ARGV[6], fields)
  return {result, encoded}
end
if r.state ~= "pending" then return {"already-resolved", raw} end
if now >= r.expiresAt then
  r.state = "expired"; r.resolvedAt = now
  return save("expired")
end
if action == "expire" then return {"already-resolved", raw} end
-- drbot itself ends a request whose job ended without it (e.g. a DR operation took the lock).
if action == "withdraw" then
  r.state = "cancelled"; r.resolvedAt = now; r.withdrawn = ARGV[4]
  return save("withdrawn")
end
if action == "cancel" then
  if user ~= r.requester then return {"not-requester", raw} end
  r.state = "cancelled"; r.resolvedAt = now
  return save("cancelled")
end
if user == r.requester then return {"requester", raw} end
-- One deny from an approver ends the request, even from someone who approved before.
if action == "approve" then
  for _, a in ipairs(r.approvals) do
    if a.user == user then return {"duplicate", raw} end
  end
end
if action == "deny" then
  r.denial = {user = user, at = now, reason = ARGV[4]}
  r.state = "denied"; r.resolvedAt = now
  return save("denied")
end
table.insert(r.approvals, {user = user, at = now})
if #r.approvals >= r.required then
  r.state = "approved"; r.resolvedAt = now
  return save("approved")
end
return save("recorded")
`;

const SET_CARD = `
local raw = redis.call("GET", KEYS[1])
if not raw then return false end
local r = cjson.decode(raw)
r.channel = ARGV[1]
r.ts = ARGV[2]
local encoded = cjson.encode(r)
redis.call("SET", KEYS[1], encoded, "KEEPTTL")
return encoded
`;

export class Approvals {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly audit: AuditLog;

  constructor(redis: RedisClient, prefix: string, audit: AuditLog = new AuditLog(redis, prefix)) {
    this.redis = redis;
    this.prefix = prefix;
    this.audit = audit;
    redis.defineCommand("drbotApprovalTransition", { numberOfKeys: 4, lua: TRANSITION });
    redis.defineCommand("drbotApprovalSetCard", { numberOfKeys: 1, lua: SET_CARD });
  }

  private key(id: string): string {
    return `${this.prefix}:approval:${id}`;
  }

  get auditKey(): string {
    return this.audit.key;
  }

  private get pendingKey(): string {
    return `${this.prefix}:approvals:pending`;
  }

  /** Creates the request unless one with this id exists (idempotent); returns the stored one. */
  async create(record: Omit<ApprovalRecord, "approvals" | "state">): Promise<ApprovalRecord> {
    const full: ApprovalRecord = { ...record, approvals: [], state: "pending" };
    // Kept well past expiry for the audit trail and late clicks.
    const ttlSeconds = Math.ceil((record.expiresAt - Date.now()) / 1000) + 30 * 24 * 3600;
    const created = await this.redis.set(this.key(record.id), JSON.stringify(full), "EX", ttlSeconds, "NX");
    if (created === "OK") {
      const multi = this.redis.multi().zadd(this.pendingKey, record.expiresAt, record.id);
      this.audit.recordIn(multi, {
        event: "approval.requested",
        request: record.id,
        action: record.action,
        user: record.requester,
        digest: record.digest,
        state: "pending",
        at: String(Date.now()),
      });
      await multi.exec();
      return full;
    }
    return (await this.get(record.id)) as ApprovalRecord;
  }

  async get(id: string): Promise<ApprovalRecord | null> {
    const raw = await this.redis.get(this.key(id));
    return raw ? normalise(JSON.parse(raw)) : null;
  }

  /** Records where the card is, without touching anything else (atomic, like every write). */
  async setCard(id: string, channel: string, ts: string): Promise<ApprovalRecord | null> {
    const raw = await (
      this.redis as unknown as { drbotApprovalSetCard(...args: unknown[]): Promise<string | null> }
    ).drbotApprovalSetCard(this.key(id), channel, ts);
    return raw ? normalise(JSON.parse(raw)) : null;
  }

  async transition(
    id: string,
    action: "approve" | "deny" | "cancel" | "expire" | "withdraw",
    user: string,
    now = Date.now(),
    reason = "",
  ): Promise<{ result: TransitionResult; record: ApprovalRecord | null }> {
    // Trimming follows the clock, not `now` (which tests move to exercise expiry).
    const trim = this.audit.trimArgs();
    const [result, raw] = (await (
      this.redis as unknown as { drbotApprovalTransition(...args: unknown[]): Promise<[string, string]> }
    ).drbotApprovalTransition(
      this.key(id),
      this.auditKey,
      this.pendingKey,
      this.audit.indexKey(id),
      action,
      user,
      String(now),
      reason,
      trim.minMs,
      trim.ttlMs,
    )) as [TransitionResult, string];
    return { result, record: raw ? normalise(JSON.parse(raw)) : null };
  }

  /** Ids of requests still pending. */
  async pending(): Promise<string[]> {
    return this.redis.zrange(this.pendingKey, "0", "-1");
  }
}

/** cjson writes an empty Lua table as `{}`; give arrays back their shape. */
function normalise(r: ApprovalRecord): ApprovalRecord {
  return { ...r, approvals: Array.isArray(r.approvals) ? r.approvals : [] };
}
