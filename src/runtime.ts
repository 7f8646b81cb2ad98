// Everything a drbot process holds, built once from the environment: configuration, logger,
// metrics, Redis, queues, the state stores and the adapters behind the ports. `serve`, `bot`,
// `worker` and every CLI command start from here, and `close()` releases it all.

import type { DestinationStream } from "pino";
import { Approvals } from "./core/approvals.ts";
import { AuditLog } from "./core/audit.ts";
import { Authorizer } from "./core/authorize.ts";
import { type Config, loadConfig } from "./core/config.ts";
import { DrState } from "./core/dr-state.ts";
import { type EnvSettings, type Role, readEnv } from "./core/env.ts";
import { createLogger, type Logger } from "./core/logger.ts";
import { createMetrics, type Metrics } from "./core/metrics.ts";
import { OperationStore } from "./core/operation-store.ts";
import { openRedis, type RedisClient, type RedisLink } from "./core/redis.ts";
import { registerKubeconfigSecrets, registerSecrets } from "./core/secrets.ts";
import { observationStaleAfterMs, ProtectionStore } from "./jobs/protection-watch/store.ts";
import { createQueues, type Queues } from "./jobs/queues.ts";
import { type AdapterOverrides, type Adapters, createAdapters } from "./wiring.ts";

export interface RuntimeOptions {
  /** Key prefix in Redis for queues and state (tests isolate runs with it). */
  redisPrefix?: string;
  adapters?: AdapterOverrides;
  logDestination?: DestinationStream;
  /** Already read and validated (a CLI that checks its input before connecting anywhere). */
  loaded?: Loaded;
}

export interface Loaded {
  settings: EnvSettings;
  config: Config;
}

/** The environment and the configuration file, validated; nothing is connected yet. */
export function loadSettings(env: NodeJS.ProcessEnv, role: Role): Loaded {
  const settings = readEnv(env, role);
  return { settings, config: loadConfig(settings.configPath) };
}

export interface Runtime {
  role: Role;
  settings: EnvSettings;
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** The key prefix in Redis (hash-tagged on a Cluster: `{drbot}`). */
  prefix: string;
  /** BullMQ's `connection` (see RedisLink.bullmq). */
  connection: RedisLink["bullmq"];
  /** Where Redis is: one server, Sentinel or a Cluster. */
  topology: RedisLink["endpoint"]["topology"];
  redis: RedisClient;
  queues: Queues;
  adapters: Adapters;
  dr: DrState;
  approvals: Approvals;
  operations: OperationStore;
  audit: AuditLog;
  protection: ProtectionStore;
  authorizer: Authorizer;
  close(): Promise<void>;
}

/** Reads and validates everything first (a bad setting throws ConfigError before any connection). */
export function createRuntime(env: NodeJS.ProcessEnv, role: Role, options: RuntimeOptions = {}): Runtime {
  const { settings, config } = options.loaded ?? loadSettings(env, role);
  // The AWS SDK reads its own credentials; drbot must still never echo them.
  const aws = (name: string) => env[name] ?? process.env[name];
  registerSecrets([...settings.secrets, aws("AWS_SECRET_ACCESS_KEY"), aws("AWS_SESSION_TOKEN")]);
  registerKubeconfigSecrets(
    [config.sites.primary.cluster.kubeconfig, config.sites.secondary.cluster.kubeconfig],
    env,
  );
  const log = createLogger({
    level: role === "cli" ? "warn" : settings.logLevel,
    secrets: settings.secrets,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  }).child({ role });
  const link = openRedis(settings.redisUrl, options.redisPrefix ?? settings.tuning.redisPrefix);
  const { prefix, bullmq: connection } = link;
  const redis = link.client();
  redis.on("error", (err) => log.warn({ err }, "redis connection error"));
  const protection = new ProtectionStore(redis, prefix);
  const metrics = createMetrics({
    replicationLag: () =>
      protection.replicationLag(Date.now(), observationStaleAfterMs(config.dr.watchInterval)),
    // Read from Redis only (the drill record needs no Git).
    lastDrillSuccess: async () => (await new DrState(redis, prefix).lastDrill()).lastSuccess?.at,
  });
  const adapters = createAdapters(config, settings, log, {
    paceGitWrites: settings.tuning.paceGitWrites,
    ...(role === "cli" ? {} : { metrics }),
    ...options.adapters,
  });
  const queues = createQueues(connection, prefix);
  for (const q of Object.values(queues))
    q.on("error", (err) => log.warn({ err, queue: q.name }, "queue connection error"));

  const audit = new AuditLog(redis, prefix, config.audit.retention);
  let closing: Promise<void> | undefined;
  return {
    role,
    settings,
    config,
    log,
    metrics,
    prefix,
    connection,
    topology: link.endpoint.topology,
    redis,
    queues,
    adapters,
    dr: new DrState(redis, prefix, adapters.git),
    approvals: new Approvals(redis, prefix, audit),
    operations: new OperationStore(redis, prefix),
    audit,
    protection,
    authorizer: new Authorizer(adapters.chat),
    close() {
      closing ??= (async () => {
        await Promise.all(Object.values(queues).map((q) => q.close()));
        adapters.close();
        redis.disconnect();
        link.close();
      })();
      return closing;
    },
  };
}
