// What the protection watch keeps in Redis, shared by every drbot process:
// - the last observation (`<prefix>:protection:observed`): which file system replicates to which
//   and when the standby last received its data. Every process's /metrics computes
//   `drbot_replication_lag_seconds` from it at scrape time, so the gauge is current in all of
//   them while only one process runs each check.
// - the alert (`<prefix>:alert:protection`): since when protection is lost, where its message is
//   and what it last said. Each transition is one Lua script, so however many processes check at
//   once, one of them posts the alert and one marks it resolved.

import type { RedisClient } from "../../core/redis.ts";

export interface Observation {
  activeFileSystemId: string;
  standbyFileSystemId: string;
  /** When the standby last received the active file system's data, if ever seen. */
  lastReplicated?: number;
  observedAt: number;
}

export interface AlertRecord {
  state: "open" | "resolved";
  since: number;
  /** The first problem seen, in a sentence (plain text). */
  summary: string;
  channel?: string;
  ts?: string;
  /** What the message says now. */
  text?: string;
  resolvedAt?: number;
}

/** What the caller must do after reporting what it saw. */
export type AlertAction =
  | { do: "post"; alert: AlertRecord } // post the alert and record it with `posted`
  | { do: "update"; alert: AlertRecord } // protection is still lost: refresh the message
  | { do: "resolve"; alert: AlertRecord } // protection is back: say so, then `resolveNotified`
  | { do: "nothing" };

// KEYS[1] alert; ARGV: lost ("1"/"0"), now, token, since, summary, claim timeout (ms).
// A claim (to post, or to mark resolved) by a process that died is taken over after the timeout.
const STEP = `
local k = KEYS[1]
local lost, now, token, timeout = ARGV[1] == "1", tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[6])
local a = {}
local flat = redis.call("HGETALL", k)
for i = 1, #flat, 2 do a[flat[i]] = flat[i + 1] end
local function stale(at) return (not at) or now - tonumber(at) > timeout end
if lost then
  if a.state ~= "open" then
    redis.call("DEL", k)
    redis.call("HSET", k, "state", "open", "since", ARGV[4], "summary", ARGV[5], "claim", token, "claimedAt", ARGV[2])
    return {"post", unpack(redis.call("HGETALL", k))}
  end
  if a.ts then return {"update", unpack(flat)} end
  if stale(a.claimedAt) then
    redis.call("HSET", k, "claim", token, "claimedAt", ARGV[2])
    return {"post", unpack(redis.call("HGETALL", k))}
  end
  return {"nothing"}
end
if a.state == "open" then
  if not a.ts then
    -- Its message is being posted; the next check resolves it. A poster that died posted nothing.
    if stale(a.claimedAt) then redis.call("DEL", k) end
    return {"nothing"}
  end
  redis.call("HSET", k, "state", "resolved", "resolvedAt", ARGV[2], "claim", token, "claimedAt", ARGV[2])
  return {"resolve", unpack(redis.call("HGETALL", k))}
end
if a.state == "resolved" and not a.notified and a.ts and stale(a.claimedAt) then
  redis.call("HSET", k, "claim", token, "claimedAt", ARGV[2])
  return {"resolve", unpack(redis.call("HGETALL", k))}
end
return {"nothing"}
`;

// KEYS[1] alert; ARGV: token, then field/value pairs to set while `token` holds the claim and the
// alert is in `state` ARGV[2].
const IF_CLAIMED = `
if redis.call("HGET", KEYS[1], "claim") ~= ARGV[1] or redis.call("HGET", KEYS[1], "state") ~= ARGV[2] then
  return 0
end
local args = {"HSET", KEYS[1]}
for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
redis.call(unpack(args))
return 1
`;

/** The gauge shows nothing once the last observation is this old: no process is checking. */
export function observationStaleAfterMs(watchIntervalMs: number): number {
  return 3 * watchIntervalMs + 60_000;
}

type Script = (key: string, ...args: string[]) => Promise<unknown>;

export class ProtectionStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
    redis.defineCommand("drbotProtectionStep", { numberOfKeys: 1, lua: STEP });
    redis.defineCommand("drbotProtectionIfClaimed", { numberOfKeys: 1, lua: IF_CLAIMED });
  }

  get alertKey(): string {
    return `${this.prefix}:alert:protection`;
  }

  get observedKey(): string {
    return `${this.prefix}:protection:observed`;
  }

  async observe(o: Observation): Promise<void> {
    await this.redis
      .multi()
      .del(this.observedKey)
      .hset(this.observedKey, {
        activeFileSystemId: o.activeFileSystemId,
        standbyFileSystemId: o.standbyFileSystemId,
        observedAt: String(o.observedAt),
        ...(o.lastReplicated === undefined ? {} : { lastReplicated: String(o.lastReplicated) }),
      })
      .exec();
  }

  async observed(): Promise<Observation | undefined> {
    const h = await this.redis.hgetall(this.observedKey);
    if (!h.activeFileSystemId || !h.standbyFileSystemId || !h.observedAt) return undefined;
    return {
      activeFileSystemId: h.activeFileSystemId,
      standbyFileSystemId: h.standbyFileSystemId,
      observedAt: Number(h.observedAt),
      ...(h.lastReplicated ? { lastReplicated: Number(h.lastReplicated) } : {}),
    };
  }

  /**
   * The gauge's value: seconds since the standby last received the active site's data, per the
   * last observation; undefined when nothing was seen or the observation is older than
   * `staleAfterMs` (no process is checking, so the figure would be a guess).
   */
  async replicationLag(
    now: number,
    staleAfterMs: number,
  ): Promise<{ fileSystemId: string; seconds: number } | undefined> {
    const o = await this.observed();
    if (!o || o.lastReplicated === undefined || now - o.observedAt > staleAfterMs) return undefined;
    return { fileSystemId: o.standbyFileSystemId, seconds: Math.max(0, now - o.lastReplicated) / 1000 };
  }

  /** Reports what a check saw; the answer says what this process (alone) must do about it. */
  async step(
    seen: { lost: boolean; since: number; summary: string },
    token: string,
    now: number,
    claimTimeoutMs: number,
  ): Promise<AlertAction> {
    const [action, ...flat] = (await this.script("drbotProtectionStep")(
      this.alertKey,
      seen.lost ? "1" : "0",
      String(now),
      token,
      String(seen.since),
      seen.summary,
      String(claimTimeoutMs),
    )) as [string, ...string[]];
    if (action === "post" || action === "update" || action === "resolve")
      return { do: action, alert: toRecord(flat) };
    return { do: "nothing" };
  }

  /** Records where the alert was posted; false when another process took the claim over meanwhile. */
  async posted(token: string, ref: { channel: string; ts: string }, text: string): Promise<boolean> {
    return this.ifClaimed(token, "open", { channel: ref.channel, ts: ref.ts, text });
  }

  /** After a failed post: the next check (by any process) may try at once. */
  async releasePost(token: string): Promise<void> {
    await this.ifClaimed(token, "open", { claimedAt: "0" });
  }

  /** The message now says `text` (no claim: an update while lost is harmless to repeat). */
  async updated(ts: string, text: string): Promise<void> {
    await this.redis.eval(
      `if redis.call("HGET", KEYS[1], "ts") == ARGV[1] and redis.call("HGET", KEYS[1], "state") == "open" then redis.call("HSET", KEYS[1], "text", ARGV[2]) end`,
      1,
      this.alertKey,
      ts,
      text,
    );
  }

  async resolveNotified(token: string, text: string): Promise<void> {
    await this.ifClaimed(token, "resolved", { notified: "1", text });
  }

  async releaseResolve(token: string): Promise<void> {
    await this.ifClaimed(token, "resolved", { claimedAt: "0" });
  }

  async alert(): Promise<AlertRecord | undefined> {
    const flat = await this.redis.hgetall(this.alertKey);
    return flat.state ? toRecord(Object.entries(flat).flat()) : undefined;
  }

  private async ifClaimed(token: string, state: string, fields: Record<string, string>): Promise<boolean> {
    const done = await this.script("drbotProtectionIfClaimed")(
      this.alertKey,
      token,
      state,
      ...Object.entries(fields).flat(),
    );
    return done === 1;
  }

  private script(name: string): Script {
    const fn = (this.redis as unknown as Record<string, Script>)[name] as Script;
    return fn.bind(this.redis);
  }
}

function toRecord(flat: string[]): AlertRecord {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i] as string] = flat[i + 1] as string;
  return {
    state: h.state === "resolved" ? "resolved" : "open",
    since: Number(h.since),
    summary: h.summary ?? "",
    ...(h.channel ? { channel: h.channel } : {}),
    ...(h.ts ? { ts: h.ts } : {}),
    ...(h.text ? { text: h.text } : {}),
    ...(h.resolvedAt ? { resolvedAt: Number(h.resolvedAt) } : {}),
  };
}
