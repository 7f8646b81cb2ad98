// A DR operation's per-volume data, kept beside the job rather than in it: the job's own data is
// rewritten at every checkpoint, and 1,000 manifests there would make each checkpoint a megabyte.
// It is written while the plan is made and read back in batches, so a worker never holds a
// 10,000-volume fleet's manifests at once.

import type { KubeObject } from "./ports/cluster.ts";
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
  /** The manifest rewritten for the target site (YAML, both documents): what Git records. */
  manifest: string;
  /** The same objects, to apply without parsing YAML again. */
  objects: KubeObject[];
}

/** What a plan keeps in memory of each volume: enough for its digest, card and checks. */
export interface PlannedRef {
  path: string;
  sha: string;
  namespace: string;
  pvName: string;
}

/** Volumes written to Redis per round trip. */
const BATCH = 200;

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

  /** Starts a plan afresh (a plan step that runs again). */
  async clearPlan(id: string): Promise<void> {
    await this.redis.del(this.key(id, "plan"), this.key(id, "applied"), this.key(id, "attention"));
  }

  /** Adds (or replaces) planned volumes. */
  async savePlanBatch(id: string, volumes: readonly PlannedVolume[]): Promise<void> {
    if (volumes.length === 0) return;
    const key = this.key(id, "plan");
    await this.redis
      .multi()
      .hset(key, ...volumes.flatMap((v) => [v.path, JSON.stringify(v)]))
      .expire(key, KEEP_SECONDS)
      .exec();
  }

  /** Every planned volume, a batch at a time (HSCAN: bounded memory, any order). */
  async scanPlan(id: string, fn: (batch: PlannedVolume[]) => Promise<void>): Promise<void> {
    let cursor = "0";
    do {
      const [next, flat] = await this.redis.hscan(this.key(id, "plan"), cursor, "COUNT", BATCH);
      cursor = next;
      const batch: PlannedVolume[] = [];
      for (let i = 1; i < flat.length; i += 2) batch.push(JSON.parse(flat[i] as string) as PlannedVolume);
      if (batch.length > 0) await fn(batch);
    } while (cursor !== "0");
  }

  /** The planned volumes' paths and blob ids, for the stale-plan check. */
  async plannedShas(id: string): Promise<Array<{ path: string; sha: string }>> {
    const out: Array<{ path: string; sha: string }> = [];
    await this.scanPlan(id, async (batch) => {
      for (const v of batch) out.push({ path: v.path, sha: v.sha });
    });
    return out;
  }

  async planSize(id: string): Promise<number> {
    return this.redis.hlen(this.key(id, "plan"));
  }

  /** Every planned volume at once, sorted by path (small plans and tests). */
  async loadPlan(id: string): Promise<PlannedVolume[]> {
    const all: PlannedVolume[] = [];
    await this.scanPlan(id, async (batch) => {
      all.push(...batch);
    });
    return all.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  /** A resume re-planned some volumes: they count as not applied; `removed` leave the plan. */
  async forget(id: string, paths: readonly string[], removed: readonly string[]): Promise<void> {
    if (paths.length + removed.length === 0) return;
    const tx = this.redis.multi();
    for (const path of [...paths, ...removed]) {
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
