// The long-running process: `serve` (receiver + workers), `bot` (receiver only) or `worker`
// (workers only). One HTTP server on PORT carries /healthz, /readyz, /metrics and, in HTTP
// mode, Slack's /slack/events. SIGTERM stops intake, lets running steps checkpoint, and exits.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { App, HTTPReceiver, LogLevel, SocketModeReceiver } from "@slack/bolt";
import { Redis } from "ioredis";
import { registerCommands } from "./commands/index.ts";
import { Approvals } from "./core/approvals.ts";
import { Authorizer } from "./core/authorize.ts";
import { type Config, loadConfig } from "./core/config.ts";
import { DrState } from "./core/dr-state.ts";
import { type EnvSettings, readEnv } from "./core/env.ts";
import { FailoverStore } from "./core/failover-store.ts";
import { createLogger, type Logger } from "./core/logger.ts";
import { createMetrics, type Metrics } from "./core/metrics.ts";
import { Notifier } from "./core/notifier.ts";
import type { EfsPort } from "./core/ports/efs.ts";
import { createDashboard } from "./dashboard.ts";
import { DEFAULT_TIMING, type JobDeps, type JobTiming } from "./jobs/deps.ts";
import { failoverJob } from "./jobs/dr-failover/index.ts";
import { createQueue, type JobKind, redisConnection } from "./jobs/queues.ts";
import { volumeCreateJob } from "./jobs/volume-create/index.ts";
import { type RunningWorkers, startWorkers } from "./jobs/worker.ts";
import { type AdapterOverrides, createAdapters } from "./wiring.ts";

export type Role = "serve" | "bot" | "worker";

export interface ServiceOptions {
  /** Key prefix in Redis for queues and state (tests isolate runs with it). */
  redisPrefix?: string;
  timing?: Partial<JobTiming>;
  worker?: { concurrency?: number; lockDurationMs?: number; stalledIntervalMs?: number };
  notifier?: { minIntervalMs?: number; retryDelayMs?: number };
  adapters?: AdapterOverrides;
  logDestination?: import("pino").DestinationStream;
}

export interface Service {
  url: string;
  config: Config;
  log: Logger;
  metrics: Metrics;
  stop(): Promise<void>;
}

export async function startService(
  role: Role,
  env: NodeJS.ProcessEnv,
  options: ServiceOptions = {},
): Promise<Service> {
  const settings = readEnv(env, role);
  const config = loadConfig(settings.configPath);
  const log = createLogger({
    level: settings.logLevel,
    secrets: settings.secrets,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  }).child({ role });
  const metrics = createMetrics();
  const prefix = options.redisPrefix ?? settings.tuning.redisPrefix;
  const connection = redisConnection(settings.redisUrl);
  const redis = new Redis({ ...connection, maxRetriesPerRequest: 3 } as never);
  redis.on("error", (err) => log.warn({ err }, "redis connection error"));
  const adapters = createAdapters(config, settings, log, {
    paceGitWrites: settings.tuning.paceGitWrites,
    metrics,
    ...options.adapters,
  });
  const dr = new DrState(redis, prefix);
  const approvals = new Approvals(redis, prefix);
  const authorizer = new Authorizer(adapters.chat);
  const queues = {
    "volume-create": createQueue("volume-create", connection, prefix),
    "dr-failover": createQueue("dr-failover", connection, prefix),
  } satisfies Record<JobKind, unknown>;
  for (const q of Object.values(queues))
    q.on("error", (err) => log.warn({ err, queue: q.name }, "queue connection error"));

  let workers: RunningWorkers | undefined;
  let notifier: Notifier | undefined;
  if (role !== "bot") {
    notifier = adapters.progressChat
      ? new Notifier(adapters.progressChat, log.child({ part: "notifier" }), options.notifier)
      : undefined;
    if (!notifier) log.warn("SLACK_BOT_TOKEN is not set: jobs run, but their Slack cards are not updated");
    const deps: JobDeps = {
      config,
      efs: adapters.efs,
      clusters: adapters.clusters,
      git: adapters.git,
      directories: adapters.directories,
      dr,
      timing: { ...DEFAULT_TIMING, ...options.timing },
      approvals,
      authorizer,
      failovers: new FailoverStore(redis, prefix),
      notifier,
      volumeJobsInFlight: async () => {
        const jobs = await queues["volume-create"].getJobs(["active", "waiting", "delayed", "prioritized"]);
        return jobs.filter((j) => j.data && !j.data.outcome).map((j) => j.data.requestId);
      },
    };
    workers = startWorkers(
      { "volume-create": volumeCreateJob, "dr-failover": failoverJob },
      deps,
      notifier,
      log,
      {
        connection,
        prefix,
        metrics,
        concurrency: settings.tuning.workerConcurrency,
        lockDurationMs: settings.tuning.workerLockMs,
        stalledIntervalMs: Math.max(500, Math.round(settings.tuning.workerLockMs / 2)),
        ...options.worker,
      },
    );
  }

  let slackListener: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let app: App | undefined;
  if (role !== "worker") {
    const bolt = boltApp(settings, log);
    app = bolt.app;
    slackListener = bolt.listener;
    registerCommands(app, {
      config,
      dr,
      git: adapters.git,
      efs: adapters.efs,
      clusters: adapters.clusters,
      authorizer,
      approvals,
      queues,
      chat: adapters.chat,
      cardChat: adapters.progressChat,
      log: log.child({ part: "bot" }),
      metrics,
    });
    if (!slackListener) await app.start();
  }

  const lagWatch = role === "bot" ? undefined : watchReplicationLag(config, adapters.efs, metrics, log);

  const dashboardSettings = settings.tuning.dashboard;
  const dashboard = dashboardSettings
    ? await createDashboard(dashboardSettings, Object.values(queues))
    : undefined;

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (
      dashboard &&
      dashboardSettings &&
      (path === dashboardSettings.path || path.startsWith(`${dashboardSettings.path}/`))
    ) {
      return dashboard(req, res);
    }
    if (req.method === "GET" && path === "/healthz") return send(res, 200, { status: "ok", role });
    if (req.method === "GET" && path === "/readyz") {
      void readiness(redis, workers).then((r) => send(res, r.ready ? 200 : 503, r));
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
      });
      return;
    }
    if (slackListener && path === "/slack/events") return slackListener(req, res);
    send(res, 404, { error: "not found" });
  });
  await new Promise<void>((resolve) => server.listen(settings.port, resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log.info(
    {
      url,
      mode: settings.slack.appToken ? "socket" : "http",
      prefix,
      dashboard: settings.tuning.dashboard?.path ?? "off",
    },
    "drbot started",
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info("stopping: no new work, letting running steps checkpoint");
      clearInterval(lagWatch);
      await closeServer(server);
      await app?.stop().catch(() => {});
      await workers?.close();
      notifier?.close();
      await Promise.all(Object.values(queues).map((q) => q.close()));
      adapters.close();
      redis.disconnect();
      log.info("stopped");
      log.flush();
    })();
    return stopping;
  };
  return { url, config, log, metrics, stop };
}

function boltApp(
  settings: EnvSettings,
  log: Logger,
): { app: App; listener?: (req: IncomingMessage, res: ServerResponse) => void } {
  const clientOptions = settings.slack.apiUrl ? { slackApiUrl: settings.slack.apiUrl } : {};
  const logger = boltLogger(log.child({ part: "bolt" }));
  if (settings.slack.appToken) {
    const receiver = new SocketModeReceiver({
      appToken: settings.slack.appToken,
      logger,
      installerOptions: { clientOptions },
    });
    return { app: new App({ token: settings.slack.botToken, receiver, clientOptions, logger }) };
  }
  const receiver = new HTTPReceiver({
    signingSecret: settings.slack.signingSecret ?? "",
    endpoints: "/slack/events",
    logger,
  });
  const app = new App({ token: settings.slack.botToken, receiver, clientOptions, logger });
  return { app, listener: receiver.requestListener };
}

async function readiness(redis: Redis, workers: RunningWorkers | undefined) {
  const checks: Record<string, string> = { config: "ok" };
  try {
    await redis.ping();
    checks.redis = "ok";
  } catch (err) {
    checks.redis = (err as Error).message;
  }
  if (workers) checks.workers = workers.workers.every((w) => w.isRunning()) ? "ok" : "not running";
  return { ready: Object.values(checks).every((v) => v === "ok"), checks };
}

/** Keeps `drbot_replication_lag_seconds` current: one EFS call a minute, to the secondary's region. */
function watchReplicationLag(config: Config, efs: EfsPort, metrics: Metrics, log: Logger): NodeJS.Timeout {
  const { fileSystemId, region } = config.sites.secondary.efs;
  const refresh = async () => {
    try {
      const r = await efs.describeReplication(region, fileSystemId);
      const when = r?.destinations.find((d) => d.fileSystemId === fileSystemId)?.lastReplicatedTimestamp;
      if (when)
        metrics.replicationLagSeconds.set(
          { file_system_id: fileSystemId },
          (Date.now() - when.getTime()) / 1000,
        );
      else metrics.replicationLagSeconds.remove({ file_system_id: fileSystemId });
    } catch (err) {
      log.debug({ err }, "replication lag not refreshed");
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 60_000);
  timer.unref();
  return timer;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** Bolt logs through drbot's logger, so its lines are JSON and redacted too. */
function boltLogger(log: Logger) {
  let level = LogLevel.INFO;
  return {
    debug: (...m: unknown[]) => log.debug({ bolt: m.map(String).join(" ") }, "bolt"),
    info: (...m: unknown[]) => log.info({ bolt: m.map(String).join(" ") }, "bolt"),
    warn: (...m: unknown[]) => log.warn({ bolt: m.map(String).join(" ") }, "bolt"),
    error: (...m: unknown[]) => log.error({ bolt: m.map(String).join(" ") }, "bolt"),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
