// The clients drbot opens on each REDIS_URL form, read from the options ioredis keeps. No server
// is needed: clients are closed before they could connect (nothing listens on port 1).
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ClientPurpose,
  createRedisClient,
  openRedis,
  parseRedisUrl,
  type RedisClient,
} from "../../src/core/redis.ts";

const opened: RedisClient[] = [];
afterEach(() => {
  for (const c of opened.splice(0)) c.disconnect();
});

function client(url: string, purpose: ClientPurpose): RedisClient {
  const c = createRedisClient(parseRedisUrl(url), purpose);
  c.on("error", () => {});
  opened.push(c);
  return c;
}
const single = (url: string, purpose: ClientPurpose) => {
  const c = client(url, purpose);
  expect(c).toBeInstanceOf(Redis);
  return (c as Redis).options;
};
const cluster = (url: string, purpose: ClientPurpose) => {
  const c = client(url, purpose);
  expect(c).toBeInstanceOf(Cluster);
  return c as Cluster;
};

describe("Redis clients", () => {
  it("gives drbot's own client on one server 3 attempts, with the URL's credentials, database and TLS", () => {
    const o = single("rediss://u:p%40ss@127.0.0.1:1/2", "state");
    expect(o).toMatchObject({ host: "127.0.0.1", port: 1, db: 2, username: "u", password: "p@ss" });
    expect(o.maxRetriesPerRequest).toBe(3);
    expect(o.tls).toEqual({});
    expect(o.lazyConnect).toBe(false);
  });

  it("lets drbot's own client wait out a Sentinel failover, reconnecting soon and asking the sentinels again", () => {
    const o = single("redis-sentinel://:pw@127.0.0.1:1/drbot", "state") as RedisOptions & {
      retryStrategy: (times: number) => number;
      reconnectOnError: (err: Error) => number | false;
    };
    expect(o).toMatchObject({ sentinels: [{ host: "127.0.0.1", port: 1 }], name: "drbot", password: "pw" });
    expect(o.maxRetriesPerRequest).toBe(60);
    expect(o.retryStrategy(1)).toBe(50);
    expect(o.retryStrategy(4)).toBe(200);
    expect(o.retryStrategy(30)).toBe(500);
    expect(o.reconnectOnError(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(o.reconnectOnError(new Error("NOREPLICAS Not enough good replicas to write."))).toBe(2);
    expect(o.reconnectOnError(new Error("ERR something said READONLY here"))).toBe(false);
    expect(o.reconnectOnError(new Error("READONLYX"))).toBe(false);
    expect(o.sentinelRetryStrategy?.(1)).not.toBeNull();
  });

  it("tries a probe once, lazily and with a timeout", () => {
    for (const url of ["redis://127.0.0.1:1", "redis-sentinel://127.0.0.1:1"]) {
      const o = single(url, "probe");
      expect(o.maxRetriesPerRequest).toBe(0);
      expect(o.lazyConnect).toBe(true);
      expect(o.connectTimeout).toBe(5000);
      expect(o.retryStrategy?.(1)).toBeNull();
    }
    expect(single("redis-sentinel://127.0.0.1:1", "probe").sentinelRetryStrategy?.(1)).toBeNull();
  });

  it("waits for a server as long as BullMQ needs", () => {
    expect(single("redis://127.0.0.1:1", "bullmq").maxRetriesPerRequest).toBeNull();
    const o = single("redis://127.0.0.1:1", "state");
    expect(o.db).toBe(0);
    expect(o.tls).toBeUndefined();
    expect(o.username).toBeNull();
    expect(o.password).toBeNull();
  });

  it("opens a Cluster client on the seed nodes, connecting at once for drbot's own state", () => {
    const c = cluster("redis-cluster://u:pw@127.0.0.1:1,127.0.0.1:2", "state");
    // ioredis keeps the seed nodes in a field its types mark private.
    expect((c as unknown as { startupNodes: unknown }).startupNodes).toEqual([
      { host: "127.0.0.1", port: 1 },
      { host: "127.0.0.1", port: 2 },
    ]);
    expect(c.options.lazyConnect).toBe(false);
    expect(c.options.redisOptions).toMatchObject({ username: "u", password: "pw", maxRetriesPerRequest: 60 });
    expect(c.options.redisOptions?.tls).toBeUndefined();
    expect(c.options.redisOptions?.connectTimeout).toBeUndefined();
    expect(c.options.clusterRetryStrategy?.(1, undefined)).not.toBeNull();
  });

  it("probes a Cluster once, lazily, with a timeout", () => {
    const c = cluster("redis-cluster://127.0.0.1:1", "probe");
    expect(c.options.lazyConnect).toBe(true);
    expect(c.options.clusterRetryStrategy?.(1, undefined)).toBeNull();
    expect(c.options.redisOptions).toMatchObject({ maxRetriesPerRequest: 0, connectTimeout: 5000 });
    expect(c.options.redisOptions?.username).toBeUndefined();
    expect(c.options.redisOptions?.password).toBeUndefined();
  });

  it("reaches TLS Cluster nodes by the names they announce", () => {
    const c = cluster("rediss-cluster://127.0.0.1:1", "bullmq");
    expect(c.options.lazyConnect).toBe(true);
    expect(c.options.redisOptions).toMatchObject({ tls: {}, maxRetriesPerRequest: null });
    let resolved: unknown;
    c.options.dnsLookup?.("node-1.cache.example", (err, address) => {
      resolved = [err, address];
    });
    expect(resolved).toEqual([null, "node-1.cache.example"]);
    expect(cluster("redis-cluster://127.0.0.1:1", "bullmq").options.dnsLookup).not.toBe(c.options.dnsLookup);
  });
});

describe("a process's Redis link", () => {
  it("gives BullMQ options on one server, and a state client and the plain prefix", () => {
    const link = openRedis("redis://127.0.0.1:1/3", "drbot");
    expect(link.prefix).toBe("drbot");
    expect(link.endpoint.topology).toMatchObject({ kind: "standalone", db: 3 });
    expect(link.bullmq).not.toBeInstanceOf(Cluster);
    expect(link.bullmq).toMatchObject({ host: "127.0.0.1", port: 1, db: 3, maxRetriesPerRequest: null });
    const c = link.client();
    c.on("error", () => {});
    opened.push(c);
    expect(c).toBeInstanceOf(Redis);
    expect((c as Redis).options.maxRetriesPerRequest).toBe(3);
    link.close();
  });

  it("shares one lazy Cluster client with BullMQ, hash-tags the prefix, and closes that client", () => {
    const link = openRedis("redis-cluster://127.0.0.1:1", "drbot");
    expect(link.prefix).toBe("{drbot}");
    const shared = link.bullmq as Cluster;
    expect(shared).toBeInstanceOf(Cluster);
    expect(shared.options.lazyConnect).toBe(true);
    expect(shared.options.redisOptions?.maxRetriesPerRequest).toBeNull();
    // An error with no listener of BullMQ's must not end the process.
    expect(() => shared.emit("error", new Error("CLUSTERDOWN"))).not.toThrow();
    const c = link.client();
    c.on("error", () => {});
    opened.push(c);
    expect(c).toBeInstanceOf(Cluster);
    expect(c).not.toBe(shared);
    expect((c as Cluster).options.redisOptions?.maxRetriesPerRequest).toBe(60);
    // drbot's own Cluster client connects at once; only BullMQ's waits for a queue to need it.
    expect((c as Cluster).options.lazyConnect).toBe(false);
    expect(shared.status).toBe("wait");
    link.close();
    expect(shared.status).toBe("end");
  });
});

describe("REDIS_URL edge cases", () => {
  it("reads a credential without a colon as the password, and an empty one as none", () => {
    expect(parseRedisUrl("redis-cluster://pw@a")).toEqual({
      topology: { kind: "cluster", nodes: [{ host: "a", port: 6379 }], tls: false },
      password: "pw",
    });
    expect(parseRedisUrl("redis-sentinel://@s1/m")).toEqual({
      topology: { kind: "sentinel", sentinels: [{ host: "s1", port: 26379 }], masterName: "m" },
    });
  });

  it("accepts ports 1 to 65535", () => {
    expect(parseRedisUrl("redis-cluster://a:1,b:65535").topology).toMatchObject({
      nodes: [
        { host: "a", port: 1 },
        { host: "b", port: 65535 },
      ],
    });
  });

  it.each([
    "a.redis://h",
    "redis://h:99999",
    "redis://h/-1",
    "redis-cluster://a b:7000",
    "redis-cluster://a:7000x",
    "redis-cluster://a:7000,b:0",
    "redis-cluster://a:0",
  ])("refuses %j", (url) => {
    expect(() => parseRedisUrl(url)).toThrow(/^REDIS_URL: expected redis:\/\//);
  });
});
