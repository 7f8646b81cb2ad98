import { describe, expect, it } from "vitest";
import { readEnv } from "../../src/core/env.ts";
import { keyPrefix, parseRedisUrl, redisConnection } from "../../src/core/redis.ts";

describe("REDIS_URL", () => {
  it("reads a plain, a TLS and a password-protected URL", () => {
    expect(redisConnection("redis://127.0.0.1:6390")).toMatchObject({ host: "127.0.0.1", port: 6390 });
    expect(redisConnection("rediss://u:p%40ss@cache.example:6380/2")).toMatchObject({
      host: "cache.example",
      port: 6380,
      username: "u",
      password: "p@ss",
      db: 2,
      tls: {},
      maxRetriesPerRequest: null,
    });
    expect(parseRedisUrl("redis://cache")).toEqual({
      topology: { kind: "standalone", address: { host: "cache", port: 6379 }, db: 0, tls: false },
    });
  });

  it("reads Sentinel: several sentinels, the master name and the password", () => {
    expect(parseRedisUrl("redis-sentinel://:s3cret@s1:26379,s2:26380,s3/drbot")).toEqual({
      topology: {
        kind: "sentinel",
        sentinels: [
          { host: "s1", port: 26379 },
          { host: "s2", port: 26380 },
          { host: "s3", port: 26379 },
        ],
        masterName: "drbot",
      },
      password: "s3cret",
    });
    expect(redisConnection("redis-sentinel://s1:26379")).toMatchObject({
      sentinels: [{ host: "s1", port: 26379 }],
      name: "mymaster",
      maxRetriesPerRequest: null,
    });
  });

  it("reads Cluster: seed nodes, credentials and TLS", () => {
    expect(parseRedisUrl("redis-cluster://n1:7000,n2,10.0.0.3:7002")).toEqual({
      topology: {
        kind: "cluster",
        nodes: [
          { host: "n1", port: 7000 },
          { host: "n2", port: 6379 },
          { host: "10.0.0.3", port: 7002 },
        ],
        tls: false,
      },
    });
    expect(parseRedisUrl("rediss-cluster://default:p%2Fw@cfg.example:6379")).toEqual({
      topology: { kind: "cluster", nodes: [{ host: "cfg.example", port: 6379 }], tls: true },
      username: "default",
      password: "p/w",
    });
    // BullMQ on a Cluster needs a client (openRedis), not options.
    expect(() => redisConnection("redis-cluster://n1:7000")).toThrow(/Cluster client/);
  });

  it("hash-tags the key prefix on a Cluster only, so every key of drbot and BullMQ shares one slot", () => {
    expect(keyPrefix("drbot", parseRedisUrl("redis-cluster://n1:7000").topology)).toBe("{drbot}");
    expect(keyPrefix("drbot", parseRedisUrl("redis-sentinel://s1/m").topology)).toBe("drbot");
    expect(keyPrefix("drbot", parseRedisUrl("redis://h").topology)).toBe("drbot");
  });

  it("accepts the forms in the environment and refuses others, treating the password as a secret", () => {
    const base = { GITHUB_TOKEN: "ghp_x123" };
    expect(
      readEnv({ ...base, REDIS_URL: "redis-sentinel://:pw12@a:26379,b:26379/m" }, "cli").secrets,
    ).toContain("pw12");
    expect(readEnv({ ...base, REDIS_URL: "redis-cluster://u:pw34@a:7000,b:7001" }, "cli").secrets).toContain(
      "pw34",
    );
    expect(readEnv({ ...base, REDIS_URL: "rediss://:p%40ss5@h:6380" }, "cli").secrets).toContain("p@ss5");
    for (const bad of [
      "localhost:6379",
      "redis-sentinel://",
      "redis-sentinel://a,b/m/x",
      "http://x",
      "redis-cluster://",
      "redis-cluster://a:7000,,b:7001",
      "redis-cluster://a:7000/0",
      "redis-cluster://a:99999",
      "redis://h:6379/x",
    ]) {
      expect(() => readEnv({ ...base, REDIS_URL: bad }, "cli"), bad).toThrow(
        /REDIS_URL: expected .*redis-cluster:\/\//,
      );
    }
  });
});
