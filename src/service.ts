// The long-running process: `serve` (receiver + workers), `bot` (receiver only) or `worker`
// (workers only). One HTTP server on PORT carries /healthz, /readyz, /metrics and, in HTTP
// mode, Slack's /slack/events. SIGTERM stops intake, lets running steps checkpoint, and exits.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { App, HTTPReceiver, LogLevel, SocketModeReceiver } from "@slack/bolt";
import { registerCommands } from "./commands/index.ts";
import type { Config } from "./core/config.ts";
import type { EnvSettings } from "./core/env.ts";
import type { Logger } from "./core/logger.ts";
import type { Metrics } from "./core/metrics.ts";
import { Notifier } from "./core/notifier.ts";
import type { RedisClient } from "./core/redis.ts";
import { createDashboard } from "./dashboard.ts";
import { DEFAULT_TIMING, type JobDeps, type JobTiming } from "./jobs/deps.ts";
import { drillJob } from "./jobs/dr/drill.ts";
import { DR_JOBS } from "./jobs/dr/jobs.ts";
import { startProtectionWatch } from "./jobs/protection-watch/index.ts";
import { startSchedules } from "./jobs/schedules.ts";
import { startTrashPurge } from "./jobs/trash-purge/index.ts";
import { volumeCreateJob } from "./jobs/volume-create/index.ts";
import { volumeDeleteJob } from "./jobs/volume-delete/index.ts";
import { startVolumeMeasure } from "./jobs/volume-measure/index.ts";
import { volumeResizeJob } from "./jobs/volume-resize/index.ts";
import { type RunningWorkers, startWorkers } from "./jobs/worker.ts";
import { createRuntime, type Runtime } from "./runtime.ts";
import type { AdapterOverrides } from "./wiring.ts";

export type Role = "serve" | "bot" | "worker";

export interface ServiceOptions {
  /** Key prefix in Redis for queues and state (tests isolate runs with it). */
  redisPrefix?: string;
  timing?: Partial<JobTiming>;
  worker?: { concurrency?: number; lockDurationMs?: number; stalledIntervalMs?: number };
  notifier?: { minIntervalMs?: number; retryDelayMs?: number };
  adapters?: AdapterOverrides;
  logDestination?: import("pino").DestinationStream;
  /** Listen on this address only (the sandbox: 127.0.0.1); default: every interface. */
  host?: string;
}

export interface Service {
  url: string;
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** The job workers of this process (`serve` and `worker`); `/readyz` reports them. */
  workers: RunningWorkers | undefined;
  stop(): Promise<void>;
}

export async function startService(
  role: Role,
  env: NodeJS.ProcessEnv,
  options: ServiceOptions = {},
): Promise<Service> {
  const rt = createRuntime(env, role, {
    ...(options.redisPrefix ? { redisPrefix: options.redisPrefix } : {}),
    ...(options.adapters ? { adapters: options.adapters } : {}),
    ...(options.logDestination ? { logDestination: options.logDestination } : {}),
  });
  const { config, log, metrics, settings, queues } = rt;
  const workers = role === "bot" ? undefined : startJobWorkers(rt, options);
  const watch = role === "bot" ? undefined : startWatch(rt);
  const schedules = role === "bot" ? undefined : startScheduledWork(rt);
  const housekeeping = role === "bot" ? undefined : startHousekeeping(rt);
  const receiver = role === "worker" ? undefined : await startReceiver(rt);
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
      void readiness(rt.redis, workers?.running).then((r) => send(res, r.ready ? 200 : 503, r));
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
      });
      return;
    }
    if (receiver?.listener && path === "/slack/events") return receiver.listener(req, res);
    send(res, 404, { error: "not found" });
  });
  await new Promise<void>((resolve) =>
    options.host
      ? server.listen(settings.port, options.host, resolve)
      : server.listen(settings.port, resolve),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log.info(
    {
      url,
      mode: settings.slack.appToken ? "socket" : "http",
      prefix: rt.prefix,
      dashboard: settings.tuning.dashboard?.path ?? "off",
    },
    "drbot started",
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info("stopping: no new work, letting running steps checkpoint");
      await closeServer(server);
      await receiver?.app.stop().catch(() => {});
      await Promise.all([
        workers?.running.close(),
        watch?.close(),
        schedules?.close(),
        housekeeping?.close(),
      ]);
      workers?.notifier?.close();
      await rt.close();
      log.info("stopped");
      log.flush();
    })();
    return stopping;
  };
  return { url, config, log, metrics, workers: workers?.running, stop };
}

/** Workers for every job kind, reporting through a notifier when there is a Slack token. */
function startJobWorkers(rt: Runtime, options: ServiceOptions) {
  const { log, adapters, queues } = rt;
  const notifier = adapters.progressChat
    ? new Notifier(adapters.progressChat, log.child({ part: "notifier" }), options.notifier)
    : undefined;
  if (!notifier) log.warn("SLACK_BOT_TOKEN is not set: jobs run, but their Slack cards are not updated");
  const deps: JobDeps = {
    config: rt.config,
    efs: adapters.efs,
    clusters: adapters.clusters,
    git: adapters.git,
    directories: adapters.directories,
    dr: rt.dr,
    timing: { ...DEFAULT_TIMING, ...options.timing },
    approvals: rt.approvals,
    authorizer: rt.authorizer,
    operations: rt.operations,
    notifier,
    queues,
    audit: rt.audit,
  };
  const running = startWorkers(
    {
      "volume-create": volumeCreateJob,
      "volume-delete": volumeDeleteJob,
      "volume-resize": volumeResizeJob,
      "dr-failover": DR_JOBS.failover,
      "dr-reprotect": DR_JOBS.reprotect,
      "dr-switchover": DR_JOBS.switchover,
      "dr-drill": drillJob,
    },
    deps,
    notifier,
    log,
    {
      connection: rt.connection,
      prefix: rt.prefix,
      metrics: rt.metrics,
      concurrency: rt.settings.tuning.workerConcurrency,
      lockDurationMs: rt.settings.tuning.workerLockMs,
      stepDelayMs: rt.settings.tuning.stepDelayMs,
      stalledIntervalMs: Math.max(500, Math.round(rt.settings.tuning.workerLockMs / 2)),
      ...options.worker,
    },
  );
  return { running, notifier };
}

/** Scheduled drills and the drill-age reminder. */
function startScheduledWork(rt: Runtime) {
  return startSchedules(
    {
      config: rt.config,
      dr: rt.dr,
      authorizer: rt.authorizer,
      queues: rt.queues,
      chat: rt.adapters.progressChat,
      log: rt.log.child({ part: "schedules" }),
      remindOnce: async (key, ttl) =>
        (await rt.redis.set(`${rt.prefix}:remind:${key}`, "1", "EX", ttl, "NX")) === "OK",
      watchingSince: async () => {
        const key = `${rt.prefix}:drill:watching-since`;
        await rt.redis.set(key, String(Date.now()), "NX");
        return Number(await rt.redis.get(key));
      },
    },
    { connection: rt.connection, prefix: rt.prefix },
  );
}

/** The protection watch: replication checks, the lag gauge's source, and protection alerts. */
function startWatch(rt: Runtime) {
  return startProtectionWatch(
    {
      config: rt.config,
      efs: rt.adapters.efs,
      dr: rt.dr,
      store: rt.protection,
      audit: rt.audit,
      chat: rt.adapters.progressChat,
      log: rt.log.child({ part: "protection-watch" }),
    },
    rt.queues,
    { connection: rt.connection, prefix: rt.prefix },
  );
}

/** What workers do besides jobs: the daily trash purge, and measuring directories for /volume list. */
function startHousekeeping(rt: Runtime) {
  const settings = { connection: rt.connection, prefix: rt.prefix };
  const purge = startTrashPurge(
    {
      config: rt.config,
      directories: rt.adapters.directories,
      chat: rt.adapters.progressChat,
      audit: rt.audit,
      dr: rt.dr,
      log: rt.log.child({ part: "trash-purge" }),
    },
    rt.queues,
    settings,
  );
  const measure = startVolumeMeasure(
    {
      config: rt.config,
      directories: rt.adapters.directories,
      log: rt.log.child({ part: "volume-measure" }),
    },
    settings,
  );
  return { close: () => Promise.all([purge.close(), measure.close()]).then(() => {}) };
}

/** The Bolt app with every command registered; in HTTP mode its listener serves /slack/events. */
async function startReceiver(rt: Runtime) {
  const bolt = boltApp(rt.settings, rt.log);
  registerCommands(bolt.app, {
    config: rt.config,
    dr: rt.dr,
    git: rt.adapters.git,
    efs: rt.adapters.efs,
    clusters: rt.adapters.clusters,
    authorizer: rt.authorizer,
    approvals: rt.approvals,
    queues: rt.queues,
    chat: rt.adapters.chat,
    cardChat: rt.adapters.progressChat,
    log: rt.log.child({ part: "bot" }),
    metrics: rt.metrics,
    audit: rt.audit,
  });
  if (!bolt.listener) await bolt.app.start();
  return bolt;
}

function boltApp(
  settings: EnvSettings,
  log: Logger,
): { app: App; listener: ((req: IncomingMessage, res: ServerResponse) => void) | undefined } {
  const clientOptions = settings.slack.apiUrl ? { slackApiUrl: settings.slack.apiUrl } : {};
  const logger = boltLogger(log.child({ part: "bolt" }));
  if (settings.slack.appToken) {
    const receiver = new SocketModeReceiver({
      appToken: settings.slack.appToken,
      logger,
      installerOptions: { clientOptions },
    });
    return {
      app: new App({ token: settings.slack.botToken, receiver, clientOptions, logger }),
      listener: undefined,
    };
  }
  const receiver = new HTTPReceiver({
    signingSecret: settings.slack.signingSecret ?? "",
    endpoints: "/slack/events",
    logger,
  });
  const app = new App({ token: settings.slack.botToken, receiver, clientOptions, logger });
  return { app, listener: receiver.requestListener };
}

async function readiness(redis: RedisClient, workers: RunningWorkers | undefined) {
  const checks: Record<string, string> = { config: "ok" };
  try {
    await redis.ping();
    checks.redis = "ok";
  } catch (err) {
    checks.redis = (err as Error).message;
  }
  if (workers) {
    const stopped = workers.workers.filter((w) => !w.isRunning()).map((w) => w.name);
    checks.workers = stopped.length === 0 ? "ok" : `not running: ${stopped.join(", ")}`;
  }
  return { ready: Object.values(checks).every((v) => v === "ok"), checks };
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
