// `drbot config check`: validate the configuration, then probe every dependency once and print
// one line each. Exit status 1 on any failure, so it can gate a deployment.

import { Redis } from "ioredis";
import { type Config, ConfigError, loadConfig } from "../core/config.ts";
import { formatDuration } from "../core/duration.ts";
import { type EnvSettings, readEnv } from "../core/env.ts";
import { errorMessage } from "../core/errors.ts";
import type { SiteName } from "../core/paths.ts";
import { redisConnection } from "../jobs/queues.ts";
import { type Adapters, createAdapters } from "../wiring.ts";

type Status = "ok" | "FAIL" | "warn";
interface Line {
  status: Status;
  what: string;
  detail: string;
}

const PROBE_TIMEOUT_MS = 10_000;

export async function configCheck(env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  let settings: EnvSettings;
  let config: Config;
  try {
    settings = readEnv(env, "cli");
    config = loadConfig(settings.configPath);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    print(`FAIL  configuration      ${err.message}`);
    return 1;
  }
  const tenants = Object.keys(config.volumes.tenants).length;
  print(
    row({
      status: "ok",
      what: "configuration",
      detail: `${config.source} (${tenants} tenant${tenants === 1 ? "" : "s"}, template ${config.template.path})`,
    }),
  );

  const adapters = createAdapters(config, settings);
  try {
    const lines = await Promise.all(
      probes(config, settings, adapters).map(([what, probe]) => settle(what, probe)),
    );
    for (const line of lines) print(row(line));
    return lines.some((l) => l.status === "FAIL") ? 1 : 0;
  } finally {
    adapters.close();
  }
}

type Probe = () => Promise<{ detail: string; status?: Status }>;

function probes(config: Config, settings: EnvSettings, a: Adapters): Array<[string, Probe]> {
  const list: Array<[string, Probe]> = [["redis", () => probeRedis(settings.redisUrl)]];
  for (const site of ["primary", "secondary"] as const) {
    list.push([`cluster ${site}`, () => probeCluster(a, site)]);
  }
  for (const site of ["primary", "secondary"] as const) {
    list.push([`efs ${site}`, () => probeEfs(config, a, site)]);
  }
  list.push([
    "git",
    async () => {
      const repo = await a.git.probe();
      return { detail: `${repo.fullName}@${repo.branch} (head ${repo.headSha.slice(0, 7)})` };
    },
  ]);
  list.push([
    "slack",
    async () => {
      if (!a.chat) throw new Error("SLACK_BOT_TOKEN is not set; the bot and the workers need it");
      const who = await a.chat.authTest();
      return { detail: `auth.test: bot user ${who.userId} in team ${who.team}` };
    },
  ]);
  for (const site of ["primary", "secondary"] as const) {
    const root = config.sites[site].efs.mountPath;
    list.push([
      `mount ${site}`,
      async () => {
        try {
          await a.directories.probe(root);
          return { detail: `${root} is mounted` };
        } catch {
          // The bot and this CLI may run where EFS is not mounted; only workers need it.
          return { status: "warn", detail: `${root} is not mounted here (workers need it)` };
        }
      },
    ]);
  }
  return list;
}

async function probeCluster(a: Adapters, site: SiteName) {
  const cluster = a.clusters[site];
  const version = await cluster.version();
  return { detail: `${cluster.name}: Kubernetes ${version}` };
}

async function probeEfs(config: Config, a: Adapters, site: SiteName) {
  const { fileSystemId, region } = config.sites[site].efs;
  const fs = await a.efs.describeFileSystem(region, fileSystemId);
  const targets = await a.efs.countMountTargets(region, fileSystemId);
  const replication = await a.efs.describeReplication(region, fileSystemId);
  let repl = "no replication";
  if (replication) {
    const dest = replication.destinations[0];
    const lag = dest?.lastReplicatedTimestamp
      ? `, last replicated ${formatDuration(Date.now() - dest.lastReplicatedTimestamp.getTime())} ago`
      : "";
    repl =
      replication.sourceFileSystemId === fileSystemId
        ? `replicating to ${dest?.fileSystemId} (${dest?.region}), ${dest?.status}${lag}`
        : `replica of ${replication.sourceFileSystemId} (${replication.sourceRegion}), ${dest?.status}${lag}`;
  }
  const ok = fs.lifeCycleState === "available";
  return {
    status: ok ? ("ok" as const) : ("FAIL" as const),
    detail: `${fileSystemId} in ${region}: ${fs.lifeCycleState}, ${targets} mount target${targets === 1 ? "" : "s"}, overwrite protection ${fs.overwriteProtection}; ${repl}`,
  };
}

async function probeRedis(url: string) {
  const redis = new Redis({
    ...(redisConnection(url) as object),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 5_000,
    retryStrategy: () => null,
  });
  redis.on("error", () => {}); // reported through the awaited calls below
  const started = performance.now();
  try {
    await redis.connect();
    const pong = await redis.ping();
    const info = await redis.info("server");
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
    return {
      detail: `${redactUrl(url)} answered ${pong} in ${Math.round(performance.now() - started)} ms (Redis ${version})`,
    };
  } finally {
    redis.disconnect();
  }
}

async function settle(what: string, probe: Probe): Promise<Line> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000}s`)),
      PROBE_TIMEOUT_MS,
    );
  });
  try {
    const result = await Promise.race([probe(), timeout]);
    return { what, status: result.status ?? "ok", detail: result.detail };
  } catch (err) {
    return { what, status: "FAIL", detail: errorMessage(err) };
  } finally {
    clearTimeout(timer);
  }
}

function row(line: Line): string {
  return `${line.status.padEnd(5)} ${line.what.padEnd(18)} ${line.detail}`;
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]+)@/, "//$1:***@");
}
