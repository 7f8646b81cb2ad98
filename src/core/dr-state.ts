// Shared DR state in Redis: which site is active, the one-DR-operation-at-a-time lock, and short
// admission locks that serialise simultaneous submissions of the same request.

import type { Redis } from "ioredis";
import type { SiteName } from "./paths.ts";

const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

export interface ActiveSite {
  site: SiteName;
  since?: number;
  by?: string;
}

export class DrState {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(":");
  }

  async activeSite(): Promise<ActiveSite> {
    const raw = await this.redis.hgetall(this.key("state", "active-site"));
    const site = raw.site === "secondary" ? "secondary" : "primary";
    return { site, ...(raw.since ? { since: Number(raw.since) } : {}), ...(raw.by ? { by: raw.by } : {}) };
  }

  async setActiveSite(site: SiteName, by: string): Promise<void> {
    await this.redis.hset(this.key("state", "active-site"), { site, since: String(Date.now()), by });
  }

  /** The request id holding the DR lock, or null. */
  drLockHolder(): Promise<string | null> {
    return this.redis.get(this.key("lock", "dr"));
  }

  /** Takes the DR lock for `owner` (no expiry: a failover may resume after a crash). Re-entrant. */
  async acquireDrLock(owner: string): Promise<boolean> {
    const ok = await this.redis.set(this.key("lock", "dr"), owner, "NX");
    return ok === "OK" || (await this.drLockHolder()) === owner;
  }

  async releaseDrLock(owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key("lock", "dr"), owner);
  }

  /** A short lock around admitting one request for `subject`; false if another admission holds it. */
  async admit(subject: string, owner: string, ttlMs = 15_000): Promise<boolean> {
    return (await this.redis.set(this.key("admit", subject), owner, "PX", ttlMs, "NX")) === "OK";
  }

  async admitted(subject: string, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key("admit", subject), owner);
  }
}
