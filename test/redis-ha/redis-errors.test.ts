// What Redis answers while a Sentinel failover is under way counts as transient (the step is
// retried from its checkpoint), not as a failure for good: the real errors of real servers.

import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isTransient } from "../../src/core/errors.ts";
import { type RedisServer, startRedisServer } from "../support/redis-server.ts";

describe("Redis errors during a failover", () => {
  const servers: RedisServer[] = [];
  const clients: Redis[] = [];
  const client = (port: number) => {
    const c = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 0 });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    // A master with a replica, and a master that requires a replica it does not have.
    const master = await startRedisServer();
    servers.push(
      master,
      await startRedisServer({ args: ["--replicaof", "127.0.0.1", String(master.port)] }),
      await startRedisServer({ args: ["--min-replicas-to-write", "1"] }),
    );
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const s of servers) await s.stop();
  });

  const failure = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error("expected the command to fail");
      },
      (err: Error) => err,
    );

  it("a write to a replica (a demoted master) and to a master without its replicas", async () => {
    const [, replica, lonely] = servers as [RedisServer, RedisServer, RedisServer];
    const readonly = await failure(client(replica.port).set("k", "v"));
    expect(readonly.message).toMatch(/^READONLY/);
    expect(isTransient(readonly)).toBe(true);
    const noReplicas = await failure(client(lonely.port).set("k", "v"));
    expect(noReplicas.message).toMatch(/^NOREPLICAS/);
    expect(isTransient(noReplicas)).toBe(true);
  });

  it("but not a script error that mentions those words", async () => {
    const [master] = servers as [RedisServer];
    const err = await failure(client(master.port).eval("return redis.error_reply('bad READONLY input')", 0));
    expect(isTransient(err)).toBe(false);
  });
});
