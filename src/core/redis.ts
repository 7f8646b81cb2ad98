// How drbot reaches Redis: the REDIS_URL forms (one server, Sentinel, Cluster), the clients opened
// on them for drbot's own state and for BullMQ, and the key prefix they all share. The one place
// that knows ioredis's connection options.

import type { ConnectionOptions } from "bullmq";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";

export interface HostPort {
  host: string;
  port: number;
}

/** Where Redis is and how it is deployed, as REDIS_URL says. */
export type RedisTopology =
  | { kind: "standalone"; address: HostPort; db: number; tls: boolean }
  | { kind: "sentinel"; sentinels: HostPort[]; masterName: string }
  | { kind: "cluster"; nodes: HostPort[]; tls: boolean };

export interface RedisEndpoint {
  topology: RedisTopology;
  username?: string;
  /** The data nodes' password (with Sentinel, the master's, not the sentinels'). */
  password?: string;
}

/** The forms REDIS_URL takes, for error messages. */
export const REDIS_URL_FORMS =
  "redis://[user:pass@]host:6379[/db], rediss://… (TLS), redis-sentinel://[user:pass@]host1:26379,host2:26379[/mymaster] or redis-cluster://[user:pass@]host1:6379,host2:6379 (rediss-cluster:// with TLS)";

/** Reads REDIS_URL; throws an Error naming the accepted forms when it is none of them. */
export function parseRedisUrl(url: string): RedisEndpoint {
  const bad = () => new Error(`REDIS_URL: expected ${REDIS_URL_FORMS}`);
  const scheme = /^([a-z-]+):\/\//.exec(url)?.[1];
  if (scheme === "redis" || scheme === "rediss") {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw bad();
    }
    const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
    if (!u.hostname || !Number.isInteger(db) || db < 0) throw bad();
    return withAuth(
      {
        topology: {
          kind: "standalone",
          address: { host: u.hostname, port: Number(u.port || 6379) },
          db,
          tls: scheme === "rediss",
        },
      },
      decodeURIComponent(u.username),
      decodeURIComponent(u.password),
    );
  }
  if (scheme !== "redis-sentinel" && scheme !== "redis-cluster" && scheme !== "rediss-cluster") throw bad();
  // host:port lists are not URLs (commas in the authority), so they are read by hand.
  const rest = url.slice(scheme.length + 3);
  const at = rest.lastIndexOf("@");
  const auth = at >= 0 ? rest.slice(0, at) : "";
  const [hostList = "", path, ...extra] = (at >= 0 ? rest.slice(at + 1) : rest).split("/");
  const defaultPort = scheme === "redis-sentinel" ? 26379 : 6379;
  const hosts = hostList.split(",").map((h) => {
    const m = /^([^:@/,\s]+)(?::(\d{1,5}))?$/.exec(h);
    if (!m?.[1]) throw bad();
    return { host: m[1], port: m[2] ? Number(m[2]) : defaultPort };
  });
  if (extra.length > 0 || hosts.some((h) => h.port < 1 || h.port > 65535)) throw bad();
  const colon = auth.indexOf(":");
  const username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : "");
  const password = decodeURIComponent(colon >= 0 ? auth.slice(colon + 1) : auth);
  if (scheme === "redis-sentinel") {
    return withAuth(
      {
        topology: { kind: "sentinel", sentinels: hosts, masterName: decodeURIComponent(path || "mymaster") },
      },
      username,
      password,
    );
  }
  // A cluster has one database; a path would be a mistake.
  if (path) throw bad();
  return withAuth(
    { topology: { kind: "cluster", nodes: hosts, tls: scheme === "rediss-cluster" } },
    username,
    password,
  );
}

function withAuth(endpoint: RedisEndpoint, username: string, password: string): RedisEndpoint {
  return {
    ...endpoint,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  };
}

/**
 * The prefix every key of drbot and of BullMQ starts with. On a Cluster it is a hash tag
 * (`{drbot}`), so every key lands in one slot: BullMQ's scripts and drbot's own (approvals, the
 * DR lock) touch several keys at once, which a Cluster allows only within one slot.
 */
export function keyPrefix(prefix: string, topology: RedisTopology): string {
  return topology.kind === "cluster" ? `{${prefix}}` : prefix;
}

/** drbot's own client: the same commands on one server, through Sentinel, or on a Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * What a client is for. `bullmq`: BullMQ's connections, which wait for Redis as long as it takes
 * (BullMQ requires it). `state`: drbot's own; on one server its commands fail after 3
 * reconnection attempts (a fraction of a second; the step is retried from its checkpoint), but
 * with Sentinel or a Cluster an outage is usually a failover that ends by itself within seconds,
 * so they wait for it, up to about 30 s: a volume applied just before the master died is then
 * recorded as applied instead of applied again. `probe`: one attempt, for `config check`.
 */
export type ClientPurpose = "bullmq" | "state" | "probe";

function retriesFor(purpose: ClientPurpose, topology: RedisTopology): number | null {
  if (purpose === "bullmq") return null;
  if (purpose === "probe") return 0;
  return topology.kind === "standalone" ? 3 : 60;
}

const PROBE_CONNECT_TIMEOUT_MS = 5_000;
/** Reconnect soon after a failover: at most half a second apart (ioredis waits up to 2 s). */
const reconnectSoon = (times: number) => Math.min(times * 50, 500);
/**
 * A master that cannot take writes (NOREPLICAS: its replica was just promoted; READONLY: Sentinel
 * has made it a replica) is the old master of a failover: ask the sentinels again and resend.
 */
const askSentinelsAgain = (err: Error) => (/^(READONLY|NOREPLICAS) /.test(err.message) ? 2 : false);

/** ioredis options for one server or Sentinel. */
function nodeOptions(endpoint: RedisEndpoint, purpose: ClientPurpose): RedisOptions {
  const t = endpoint.topology;
  const common: RedisOptions = {
    ...(endpoint.username ? { username: endpoint.username } : {}),
    ...(endpoint.password ? { password: endpoint.password } : {}),
    maxRetriesPerRequest: retriesFor(purpose, t),
    ...(purpose === "probe"
      ? { lazyConnect: true, retryStrategy: () => null, connectTimeout: PROBE_CONNECT_TIMEOUT_MS }
      : {}),
  };
  switch (t.kind) {
    case "standalone":
      return {
        host: t.address.host,
        port: t.address.port,
        ...(t.db ? { db: t.db } : {}),
        ...(t.tls ? { tls: {} } : {}),
        ...common,
      };
    case "sentinel":
      return {
        sentinels: t.sentinels,
        name: t.masterName,
        retryStrategy: reconnectSoon,
        reconnectOnError: askSentinelsAgain,
        ...common,
        ...(purpose === "probe" ? { sentinelRetryStrategy: () => null } : {}),
      };
    case "cluster":
      throw new Error("a Redis Cluster is reached through a Cluster client (openRedis), not node options");
  }
}

function clusterClient(endpoint: RedisEndpoint, purpose: ClientPurpose): Cluster {
  const t = endpoint.topology;
  if (t.kind !== "cluster") throw new Error("not a Redis Cluster");
  const options: ClusterOptions = {
    // BullMQ's shared client connects when a queue first needs it.
    lazyConnect: purpose !== "state",
    ...(purpose === "probe" ? { clusterRetryStrategy: () => null } : {}),
    // With TLS, nodes are reached by the names they announce, not resolved to addresses first,
    // so their certificates match (ElastiCache's configuration endpoint).
    ...(t.tls
      ? { dnsLookup: (address: string, done: (e: null, a: string) => void) => done(null, address) }
      : {}),
    redisOptions: {
      ...(endpoint.username ? { username: endpoint.username } : {}),
      ...(endpoint.password ? { password: endpoint.password } : {}),
      ...(t.tls ? { tls: {} } : {}),
      maxRetriesPerRequest: retriesFor(purpose, t),
      ...(purpose === "probe" ? { connectTimeout: PROBE_CONNECT_TIMEOUT_MS } : {}),
    },
  };
  return new Cluster(t.nodes, options);
}

/** A new client on the endpoint, for `purpose`. */
export function createRedisClient(endpoint: RedisEndpoint, purpose: ClientPurpose): RedisClient {
  return endpoint.topology.kind === "cluster"
    ? clusterClient(endpoint, purpose)
    : new Redis(nodeOptions(endpoint, purpose));
}

/**
 * ioredis options for BullMQ from a one-server or Sentinel REDIS_URL. A Cluster needs a client
 * instead (see `openRedis`).
 */
export function redisConnection(url: string): ConnectionOptions {
  return forBullmq(nodeOptions(parseRedisUrl(url), "bullmq"));
}

/** ioredis's options as BullMQ types them (BullMQ's type leaves out a null `retryStrategy`, which drbot never sets). */
const forBullmq = (options: RedisOptions) => options as ConnectionOptions;

/** A drbot process's way to Redis: what BullMQ is given, drbot's own client, and the key prefix. */
export interface RedisLink {
  readonly endpoint: RedisEndpoint;
  /** The effective key prefix (hash-tagged on a Cluster). */
  readonly prefix: string;
  /**
   * BullMQ's `connection`: ioredis options (each queue and worker opens its own connections), or
   * on a Cluster one shared Cluster client that queues use and workers duplicate for their
   * blocking reads.
   */
  readonly bullmq: ConnectionOptions;
  /** A new client for drbot's own state (approvals, locks, audit, DR state); the caller closes it. */
  client(): RedisClient;
  /** Closes what the link itself opened (the shared Cluster client). */
  close(): void;
}

export function openRedis(url: string, prefix: string): RedisLink {
  const endpoint = parseRedisUrl(url);
  const shared = endpoint.topology.kind === "cluster" ? clusterClient(endpoint, "bullmq") : undefined;
  // BullMQ reports the shared client's errors through the queues' and workers' own error events
  // (drbot logs those); this keeps one emitted while none of them listens from ending the process.
  shared?.on("error", () => {});
  const bullmq = shared ?? forBullmq(nodeOptions(endpoint, "bullmq"));
  return {
    endpoint,
    prefix: keyPrefix(prefix, endpoint.topology),
    bullmq,
    client: () => createRedisClient(endpoint, "state"),
    close() {
      shared?.disconnect();
    },
  };
}
