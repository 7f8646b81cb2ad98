// `drbot sandbox`: the whole system on one machine, on 127.0.0.1 only. Redis (REDIS_URL, or a
// redis-server of our own), the Slack, EFS, two Kubernetes and GitHub stand-ins, a replicator
// that plays EFS replication on two folders, a sandbox drbot.yaml, the real `serve` code against
// all of them, and the console that shows it all in a browser. State lives under one directory
// and survives a restart; `--reset` starts from scratch.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import type { DestinationStream } from "pino";
import { loadConfig } from "../core/config.ts";
import { DrState } from "../core/dr-state.ts";
import { type Service, startService } from "../service.ts";
import { writeSandboxConfig } from "./config-file.ts";
import { ChannelConsole } from "./console/channel.ts";
import { ConsoleServer } from "./console/server.ts";
import { WorldReader } from "./console/world.ts";
import { type ControlState, Controls } from "./controls.ts";
import { claimDirectory, configSafePath, type Layout, layoutOf } from "./layout.ts";
import { SITE_NAMES, SITES } from "./people.ts";
import { startSandboxRedis } from "./redis.ts";
import { Replicator } from "./replicator.ts";
import { seedVolumes } from "./seed.ts";
import type { FakeEfs } from "./stand-ins/efs.ts";
import type { FakeGitHub } from "./stand-ins/github.ts";
import type { FakeKube } from "./stand-ins/kube.ts";
import type { FakeSlack } from "./stand-ins/slack.ts";
import { SandboxStartError } from "./start-error.ts";
import { freshWorld, type StandIns, startStandIns, trimRequestLogs } from "./start-stand-ins.ts";
import { loadState, restoreState, type SandboxState, snapshotState, startStateSaver } from "./state.ts";

const execFileAsync = promisify(execFile);

/** How fast the sandbox's world moves. The defaults are demo-friendly; tests pass shorter ones. */
export interface SandboxTiming {
  /** A replication pass (copy the primary's tree, advance LastReplicatedTimestamp) this often. */
  replicateEveryMs: number;
  /** An accepted replication deletion takes this long (the secondary stays read-only meanwhile). */
  replicationDeletionMs: number;
  /** The PV controller binds claims this long after a write. */
  bindDelayMs: number;
  /** At most one update of a status card this often. */
  cardUpdateMs: number;
  /** Jobs look again this often while they wait (binding, deletion). */
  pollMs: number;
  /** The EFS and Kubernetes state is saved this often (when it changed) and at stop. */
  saveEveryMs: number;
  /** The console looks at the world this often while a page is open. */
  worldRefreshMs: number;
}

export const DEMO_TIMING: SandboxTiming = {
  replicateEveryMs: 5_000,
  replicationDeletionMs: 5_000,
  bindDelayMs: 1_500,
  cardUpdateMs: 300,
  pollMs: 500,
  saveEveryMs: 2_000,
  worldRefreshMs: 1_000,
};

export interface SandboxOptions {
  /** The state directory (./.drbot-sandbox). */
  dir: string;
  /** The console's port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Seed this many recorded volumes on the active site (those already there are kept). */
  volumes?: number;
  /** Start from scratch: the state directory (and, with REDIS_URL, drbot's keys there) are removed. */
  reset?: boolean;
  /** REDIS_URL and LOG_LEVEL are read from here. */
  env?: NodeJS.ProcessEnv;
  /** Key prefix in Redis (default drbot-sandbox; tests that share one Redis pass their own). */
  redisPrefix?: string;
  timing?: Partial<SandboxTiming>;
  /** Where drbot's JSON log goes; default: drbot.log in the state directory. */
  logDestination?: DestinationStream;
}

export interface Sandbox {
  url: string;
  layout: Layout;
  redisUrl: string;
  /** The redis-server the sandbox started, if it started one. */
  redisPid: number | undefined;
  service: Service;
  slack: FakeSlack;
  /** The bot token the Slack stand-in accepts (random per start), to post to it as drbot does. */
  slackBotToken: string;
  efs: FakeEfs;
  kube: { primary: FakeKube; secondary: FakeKube };
  github: FakeGitHub;
  controls: Controls;
  replicator: Replicator;
  /** Volumes `--volumes` added at this start. */
  seeded: number;
  /** What the saved state held that could not be restored (each a sentence). */
  restoreProblems: string[];
  stop(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const timing = { ...DEMO_TIMING, ...options.timing };
  const env = options.env ?? process.env;
  const layout = layoutOf(options.dir);
  // Its own prefix: with REDIS_URL the sandbox shares a Redis, and --reset removes only its keys.
  const prefix = options.redisPrefix ?? "drbot-sandbox";
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  const unwind = async () => {
    for (const step of cleanup.splice(0).reverse()) await Promise.resolve(step()).catch(() => {});
  };

  try {
    await requireGit();
    await claimDirectory(layout, options.reset ?? false);
    cleanup.push(() => rm(layout.lock, { force: true }));

    // The console's port first: a port in use is the likeliest problem, found before anything starts.
    const http = await listen(options.port);
    cleanup.push(() => closeServer(http));

    const redis = await startSandboxRedis(layout.redisDir, env);
    cleanup.push(() => redis.stop());
    const redisClient = new Redis(redis.url, { maxRetriesPerRequest: 2, lazyConnect: true });
    redisClient.on("error", () => {}); // reported through the console's reads and drbot's own log
    await redisClient.connect();
    cleanup.push(() => redisClient.disconnect());
    if (options.reset && env.REDIS_URL) await deleteKeys(redisClient, prefix);

    const secrets = {
      bot: `xoxb-sandbox-${randomBytes(12).toString("hex")}`,
      signing: randomBytes(16).toString("hex"),
      github: `ghp_sandbox${randomBytes(16).toString("hex")}`,
    };
    const stand = await startStandIns(layout.gitDir, secrets, timing);
    cleanup.push(() => stand.close());

    const saved = await loadState(layout.state);
    const restoreProblems = saved ? restoreState(saved, stand) : freshWorld(stand.efs);
    const controls = new Controls(stand.efs, stand.kube.primary, saved?.controls);
    // Saved every few seconds and, at stop, after drbot and the replicator have stopped.
    const saver = startStateSaver(
      layout.state,
      () => snapshotOf(stand, controls.state()),
      timing.saveEveryMs,
    );
    cleanup.push(() => saver.stop());

    const mounts = {
      primary: await configSafePath(layout.mounts.primary),
      secondary: await configSafePath(layout.mounts.secondary),
    };
    await writeSandboxConfig(layout.config, {
      kubeconfigs: {
        primary: await stand.kube.primary.writeKubeconfig(layout.kubeconfigs),
        secondary: await stand.kube.secondary.writeKubeconfig(layout.kubeconfigs),
      },
      mounts,
      githubApiUrl: stand.github.apiUrl,
    });
    pointAwsSdkAt(stand.efs.endpointTemplate, stand.efs.credentials);

    const log = options.logDestination ?? createWriteStream(layout.log, { flags: "w", mode: 0o600 });
    if (!options.logDestination) cleanup.push(() => new Promise((r) => (log as WriteStream).end(r)));
    const service = await startService(
      "serve",
      {
        DRBOT_CONFIG: layout.config,
        SLACK_BOT_TOKEN: secrets.bot,
        SLACK_SIGNING_SECRET: secrets.signing,
        SLACK_API_URL: stand.slack.apiUrl,
        GITHUB_TOKEN: secrets.github,
        REDIS_URL: redis.url,
        PORT: "0",
        LOG_LEVEL: env.LOG_LEVEL ?? "info",
        DRBOT_REDIS_PREFIX: prefix,
        DRBOT_GITHUB_PACE_WRITES: "false",
      },
      {
        host: "127.0.0.1",
        redisPrefix: prefix,
        timing: { pollMs: timing.pollMs },
        notifier: { minIntervalMs: timing.cardUpdateMs, retryDelayMs: 1_000 },
        adapters: { paceGitWrites: false },
        logDestination: log,
      },
    );
    cleanup.push(() => service.stop());

    let seeded = 0;
    if (options.volumes && options.volumes > 0) {
      const site = (await new DrState(redisClient, prefix).activeSite()).site;
      seeded = await seedVolumes(options.volumes, {
        config: loadConfig(layout.config),
        site,
        github: stand.github,
        kube: stand.kube[site],
      });
    }

    const replicator = new Replicator({
      efs: stand.efs,
      mounts: Object.fromEntries(SITE_NAMES.map((s) => [SITES[s].fileSystemId, layout.mounts[s]])),
      intervalMs: timing.replicateEveryMs,
      regionDown: (region) => controls.regionDown(region),
      fallingBehind: () => controls.state().fallingBehind,
      onError: (err) => service.log.warn({ err }, "sandbox replication pass failed"),
    });
    replicator.start();
    cleanup.push(() => replicator.stop());

    const receiverUrl = `${service.url}/slack/events`;
    let consoleServer: ConsoleServer | undefined;
    const channel = new ChannelConsole(
      stand.slack,
      () => receiverUrl,
      () => consoleServer?.channelChanged(),
    );
    consoleServer = new ConsoleServer({
      slack: stand.slack,
      channel,
      world: new WorldReader({
        efs: stand.efs,
        kube: stand.kube,
        github: stand.github,
        mounts: layout.mounts,
        redis: redisClient,
        prefix,
        controls: () => controls.state(),
      }),
      controls,
      worldRefreshMs: timing.worldRefreshMs,
      onError: (err) => service.log.warn({ err }, "sandbox console failed"),
    });
    const served = consoleServer;
    http.on("request", (req, res) => served.handle(req, res));
    cleanup.push(() => served.close());
    const trim = setInterval(() => trimRequestLogs(stand), 60_000);
    trim.unref();
    cleanup.push(() => clearInterval(trim));

    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
    let stopping: Promise<void> | undefined;
    return {
      url,
      layout,
      redisUrl: redis.url,
      redisPid: redis.pid,
      service,
      slack: stand.slack,
      efs: stand.efs,
      kube: stand.kube,
      github: stand.github,
      slackBotToken: secrets.bot,
      controls,
      replicator,
      seeded,
      restoreProblems,
      stop: () => {
        stopping ??= unwind();
        return stopping;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

function snapshotOf(stand: StandIns, controls: ControlState): SandboxState {
  return snapshotState({
    efs: stand.efs,
    kube: stand.kube,
    fileSystemIds: SITE_NAMES.map((s) => SITES[s].fileSystemId),
    controls,
  });
}

/** The AWS SDK reads its EFS endpoint and credentials from the environment: make both local. */
function pointAwsSdkAt(
  endpoint: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
): void {
  // With this set the SDK would ignore the endpoint below and go to AWS.
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_EFS: endpoint,
    // The stand-in verifies SigV4 signatures against its own (local, made-up) key.
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_REGION: SITES.primary.region,
  });
}

async function requireGit(): Promise<void> {
  try {
    await execFileAsync("git", ["--version"]);
  } catch {
    throw new SandboxStartError(
      "git is needed (the GitHub stand-in keeps a real repository) and is not on the PATH: `apt-get install git` (Debian, Ubuntu) or `brew install git` (macOS).",
    );
  }
}

async function listen(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new SandboxStartError(
              `port ${port} on 127.0.0.1 is in use; pick another with --port <n> (or PORT=<n>)`,
            )
          : err,
      ),
    );
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return server;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}
