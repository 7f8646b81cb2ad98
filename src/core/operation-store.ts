// A DR operation's per-volume data, kept beside the job rather than in it: the job's own data is
// rewritten at every checkpoint, and 1,000 manifests there would make each checkpoint a megabyte.

import type { RedisClient } from "./redis.ts";

export interface PlannedVolume {
  /** The recorded manifest on the site being left, and its blob id (for the stale-plan check). */
  path: string;
  sha: string;
  /** Where the rewritten copy is recorded for the target site. */
  targetPath: string;
  pvName: string;
  namespace: string;
  pvcName: string;
  businessUnit: string;
  sizeGi: number;
  /** The manifest rewritten for the target site (YAML, both documents). */
  manifest: string;
}

const KEEP_SECONDS = 30 * 24 * 3600;

export class OperationStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  private key(id: string, part: "plan" | "applied" | "attention"): string {
    return `${this.prefix}:failover:${id}:${part}`;
  }

  async savePlan(id: string, volumes: readonly PlannedVolume[]): Promise<void> {
    const key = this.key(id, "plan");
    const tx = this.redis.multi().del(key);
    for (let i = 0; i < volumes.length; i += 500) {
      const chunk = volumes.slice(i, i + 500).flatMap((v) => [v.path, JSON.stringify(v)]);
      tx.hset(key, ...chunk);
    }
    await tx.expire(key, KEEP_SECONDS).exec();
  }

  async loadPlan(id: string): Promise<PlannedVolume[]> {
    const all = await this.redis.hgetall(this.key(id, "plan"));
    return Object.values(all)
      .map((v) => JSON.parse(v) as PlannedVolume)
      .sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  /** Replaces some volumes of a saved plan (a resume re-planned them); they count as not applied. */
  async replaceVolumes(
    id: string,
    volumes: readonly PlannedVolume[],
    removed: readonly string[],
  ): Promise<void> {
    const tx = this.redis.multi();
    for (const v of volumes) tx.hset(this.key(id, "plan"), v.path, JSON.stringify(v));
    for (const path of [...volumes.map((v) => v.path), ...removed]) {
      tx.srem(this.key(id, "applied"), path).hdel(this.key(id, "attention"), path);
    }
    if (removed.length > 0) tx.hdel(this.key(id, "plan"), ...removed);
    await tx.exec();
  }

  async markApplied(id: string, path: string): Promise<void> {
    await this.redis
      .multi()
      .sadd(this.key(id, "applied"), path)
      .expire(this.key(id, "applied"), KEEP_SECONDS)
      .exec();
  }

  async applied(id: string): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.key(id, "applied")));
  }

  async markAttention(id: string, path: string, reason: string): Promise<void> {
    await this.redis
      .multi()
      .hset(this.key(id, "attention"), path, reason)
      .expire(this.key(id, "attention"), KEEP_SECONDS)
      .exec();
  }

  async attention(id: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.key(id, "attention"));
  }
}
