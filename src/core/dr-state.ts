// Shared DR state in Redis: the recorded DR state (a copy of Git's dr/state.yaml), the
// reservation that admits one DR operation at a time, the DR lock that keeps volume requests out
// while one changes things, the volume requests that had applied something when it was taken,
// resume requests of halted operations, and short admission locks.

import { DR_STATE_PATH, type DrRecord, INITIAL_RECORD, parseDrRecord } from "./dr-record.ts";
import type { SiteName } from "./paths.ts";
import type { GitPort } from "./ports/git.ts";
import type { RedisClient } from "./redis.ts";
import type { ResumeRequest } from "./steps.ts";

const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

/** Takes the DR lock (re-entrant) and returns the volume requests that had applied something. */
const ACQUIRE_LOCK = `
local holder = redis.call("GET", KEYS[1])
if holder and holder ~= ARGV[1] then return {0, holder} end
redis.call("SET", KEYS[1], ARGV[1])
return {1, unpack(redis.call("SMEMBERS", KEYS[2]))}
`;

/** A volume request that has applied objects joins the in-flight set, unless a DR lock is held. */
const VOLUME_APPLIED = `
local holder = redis.call("GET", KEYS[1])
if holder then
  if redis.call("SISMEMBER", KEYS[2], ARGV[1]) == 1 then return false end
  return holder
end
redis.call("SADD", KEYS[2], ARGV[1])
return false
`;

/** Deletes the reservation when it is `owner`'s (its value starts with "<owner>@"). */
const RELEASE_RESERVATION = `local v = redis.call("GET", KEYS[1]) if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;

const FILL_IF_EMPTY = `if redis.call("EXISTS", KEYS[1]) == 0 then redis.call("HSET", KEYS[1], unpack(ARGV)) end return 1`;

/** Takes over a reservation whose holder is gone (compare-and-set). */
const REPLACE = `if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("SET", KEYS[1], ARGV[2]) return 1 else return 0 end`;

export interface LastDrill {
  id: string;
  at: number;
  outcome: "succeeded" | "failed";
  /** Path of its report in Git. */
  report: string;
}

/** The one DR operation slot: who holds it, since when. */
export interface Reservation {
  id: string;
  since: number;
  raw: string;
}

export interface ActiveSite {
  site: SiteName;
  since?: number;
  by?: string;
}

/** What an operation holding the lock is doing, for `/dr status` and refusals. */
export interface OperationStatus {
  id: string;
  kind: string;
  /** `running`, or `incomplete` once it is halted past its point of no return. */
  status: "running" | "incomplete";
  /** e.g. "replication deleted, 3/5 volumes applied, Git not recorded". */
  note?: string;
}

export class DrState {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly git: GitPort | undefined;

  constructor(redis: RedisClient, prefix: string, git?: GitPort) {
    this.redis = redis;
    this.prefix = prefix;
    this.git = git;
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(":");
  }

  /** The recorded DR state: Redis's copy, else Git's dr/state.yaml (then cached), else the initial one. */
  async record(): Promise<DrRecord> {
    const raw = await this.redis.hgetall(this.key("state", "active-site"));
    if (raw.site === "primary" || raw.site === "secondary") return fromHash(raw);
    const text = this.git ? await this.git.readFile(DR_STATE_PATH) : null;
    const record = text ? parseDrRecord(text) : INITIAL_RECORD;
    // Only fill an empty copy: a DR operation may have written a newer one meanwhile.
    await this.redis.eval(
      FILL_IF_EMPTY,
      1,
      this.key("state", "active-site"),
      ...Object.entries(toHash(record)).flat(),
    );
    return fromHash(await this.redis.hgetall(this.key("state", "active-site")));
  }

  async activeSite(): Promise<ActiveSite> {
    const r = await this.record();
    return {
      site: r.activeSite,
      ...(r.at ? { since: Date.parse(r.at) } : {}),
      ...(r.requestId ? { by: r.requestId } : {}),
    };
  }

  async setRecord(record: DrRecord): Promise<void> {
    const key = this.key("state", "active-site");
    await this.redis.multi().del(key).hset(key, toHash(record)).exec();
  }

  /** The request id holding the DR lock, or null. */
  drLockHolder(): Promise<string | null> {
    return this.redis.get(this.key("lock", "dr"));
  }

  /**
   * Takes the DR lock for `owner` (no expiry: an operation may resume after a crash; re-entrant).
   * Returns the volume requests that had already applied objects at that moment (they may
   * finish), or null when another operation holds it.
   */
  async acquireDrLock(owner: string): Promise<string[] | null> {
    const [ok, ...rest] = (await this.redis.eval(
      ACQUIRE_LOCK,
      2,
      this.key("lock", "dr"),
      this.key("volumes", "applying"),
      owner,
    )) as [number, ...string[]];
    return ok === 1 ? rest : null;
  }

  async releaseDrLock(owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key("lock", "dr"), owner);
    await this.releaseReservation(owner);
    const op = await this.operation();
    if (op?.id === owner) await this.redis.del(this.key("state", "operation"));
  }

  /**
   * Reserves the one DR operation slot for `owner` before anything else happens (no Slack call
   * first). Returns the holder (and since when) when another operation has it.
   */
  async reserve(owner: string): Promise<Reservation | null> {
    const key = this.key("dr", "reservation");
    if ((await this.redis.set(key, `${owner}@${Date.now()}`, "NX")) === "OK") return null;
    return this.reservation();
  }

  async reservation(): Promise<Reservation | null> {
    const raw = await this.redis.get(this.key("dr", "reservation"));
    if (!raw) return null;
    const [id = "", at = "0"] = raw.split("@");
    return { id, since: Number(at), raw };
  }

  /** Takes over the reservation `stale`, whose operation is known to have ended. */
  async replaceReservation(stale: Reservation, owner: string): Promise<boolean> {
    const value = `${owner}@${Date.now()}`;
    return (await this.redis.eval(REPLACE, 1, this.key("dr", "reservation"), stale.raw, value)) === 1;
  }

  async releaseReservation(owner: string): Promise<void> {
    await this.redis.eval(RELEASE_RESERVATION, 1, this.key("dr", "reservation"), `${owner}@`);
  }

  async operation(): Promise<OperationStatus | null> {
    const raw = await this.redis.get(this.key("state", "operation"));
    return raw ? (JSON.parse(raw) as OperationStatus) : null;
  }

  async setOperation(status: OperationStatus): Promise<void> {
    await this.redis.set(this.key("state", "operation"), JSON.stringify(status));
  }

  /**
   * A volume request has applied objects to a cluster: it joins the set a DR operation lets
   * finish. Returns the DR lock holder instead when an operation got there first.
   */
  async volumeApplied(requestId: string): Promise<string | null> {
    return (await this.redis.eval(
      VOLUME_APPLIED,
      2,
      this.key("lock", "dr"),
      this.key("volumes", "applying"),
      requestId,
    )) as string | null;
  }

  async isVolumeApplying(requestId: string): Promise<boolean> {
    return (await this.redis.sismember(this.key("volumes", "applying"), requestId)) === 1;
  }

  async volumeDone(requestId: string): Promise<void> {
    await this.redis.srem(this.key("volumes", "applying"), requestId);
  }

  /** Asks a halted operation to go on; its job takes the request when it wakes. */
  async requestResume(id: string, by: string, approver: boolean): Promise<void> {
    const request: ResumeRequest = { by, at: Date.now(), approver };
    await this.redis.set(this.key("dr", "resume", id), JSON.stringify(request), "EX", 86_400);
  }

  async takeResume(id: string): Promise<ResumeRequest | null> {
    const raw = await this.redis.getdel(this.key("dr", "resume", id));
    return raw ? (JSON.parse(raw) as ResumeRequest) : null;
  }

  /** The last drill, for `/dr status` and the drill-age reminder. */
  async setLastDrill(drill: LastDrill): Promise<void> {
    const tx = this.redis.multi().set(this.key("drill", "last"), JSON.stringify(drill));
    if (drill.outcome === "succeeded") tx.set(this.key("drill", "last-success"), JSON.stringify(drill));
    await tx.exec();
  }

  async lastDrill(): Promise<{ last: LastDrill | null; lastSuccess: LastDrill | null }> {
    const [last, success] = await this.redis.mget(
      this.key("drill", "last"),
      this.key("drill", "last-success"),
    );
    return {
      last: last ? (JSON.parse(last) as LastDrill) : null,
      lastSuccess: success ? (JSON.parse(success) as LastDrill) : null,
    };
  }

  /** A short lock around admitting one request for `subject`; false if another admission holds it. */
  async admit(subject: string, owner: string, ttlMs = 15_000): Promise<boolean> {
    return (await this.redis.set(this.key("admit", subject), owner, "PX", ttlMs, "NX")) === "OK";
  }

  async admitted(subject: string, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key("admit", subject), owner);
  }
}

function toHash(r: DrRecord): Record<string, string> {
  return {
    site: r.activeSite,
    replication: r.replication ? `${r.replication.source}>${r.replication.destination}` : "none",
    ...(r.operation ? { operation: r.operation } : {}),
    ...(r.requestId ? { by: r.requestId } : {}),
    ...(r.at ? { since: String(Date.parse(r.at)) } : {}),
    ...(r.requester ? { requester: r.requester } : {}),
    ...(r.approvers ? { approvers: r.approvers.join(",") } : {}),
    ...(r.replicatedUntil ? { replicatedUntil: r.replicatedUntil } : {}),
  };
}

function fromHash(h: Record<string, string>): DrRecord {
  const activeSite: SiteName = h.site === "secondary" ? "secondary" : "primary";
  const [source, destination] = (h.replication ?? "").split(">");
  const isSite = (s: string | undefined): s is SiteName => s === "primary" || s === "secondary";
  // A copy written before the direction was recorded: the initial direction.
  const replication =
    h.replication === undefined
      ? INITIAL_RECORD.replication
      : isSite(source) && isSite(destination)
        ? { source, destination }
        : null;
  return {
    activeSite,
    replication,
    ...(h.operation ? { operation: h.operation } : {}),
    ...(h.by ? { requestId: h.by } : {}),
    ...(h.since ? { at: new Date(Number(h.since)).toISOString() } : {}),
    ...(h.requester ? { requester: h.requester } : {}),
    ...(h.approvers ? { approvers: h.approvers.split(",").filter(Boolean) } : {}),
    ...(h.replicatedUntil ? { replicatedUntil: h.replicatedUntil } : {}),
  };
}
