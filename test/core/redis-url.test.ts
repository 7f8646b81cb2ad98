import { describe, expect, it } from "vitest";
import { readEnv } from "../../src/core/env.ts";
import { redisConnection } from "../../src/jobs/queues.ts";

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
    });
  });

  it("reads Sentinel: several sentinels, the master name and the password", () => {
    expect(redisConnection("redis-sentinel://:s3cret@s1:26379,s2:26380,s3/drbot")).toEqual({
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
        { host: "s3", port: 26379 },
      ],
      name: "drbot",
      password: "s3cret",
      maxRetriesPerRequest: null,
    });
    expect(redisConnection("redis-sentinel://s1:26379")).toMatchObject({ name: "mymaster" });
  });

  it("accepts the forms in the environment and refuses others, treating the password as a secret", () => {
    const base = { GITHUB_TOKEN: "ghp_x123" };
    expect(
      readEnv({ ...base, REDIS_URL: "redis-sentinel://:pw12@a:26379,b:26379/m" }, "cli").secrets,
    ).toContain("pw12");
    for (const bad of ["localhost:6379", "redis-sentinel://", "redis-sentinel://a,b/m/x", "http://x"]) {
      expect(() => readEnv({ ...base, REDIS_URL: bad }, "cli"), bad).toThrow(/REDIS_URL: expected/);
    }
  });
});
