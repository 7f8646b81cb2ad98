// `drbot config check`: validate the configuration, then probe every dependency once and print
// one line each. Exit status 1 on any failure, so it can gate a deployment.

import { Cluster, Redis } from "ioredis";
import { type Config, ConfigError, loadConfig } from "../core/config.ts";
import { formatDuration } from "../core/duration.ts";
import { type EnvSettings, readEnv } from "../core/env.ts";
import { errorMessage } from "../core/errors.ts";
import type { SiteName } from "../core/paths.ts";
import {
  createRedisClient,
  keyPrefix,
  parseRedisUrl,
  type RedisClient,
  type RedisTopology,
} from "../core/redis.ts";
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
  const list: Array<[string, Probe]> = [
    ["redis", () => probeRedis(settings.redisUrl, settings.tuning.redisPrefix)],
  ];
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

async function probeRedis(url: string, prefix: string): Promise<{ detail: string; status?: Status }> {
  const endpoint = parseRedisUrl(url);
  const redis = createRedisClient(endpoint, "probe");
  redis.on("error", () => {}); // reported through the awaited calls below
  const started = performance.now();
  try {
    await redis.connect();
    const pong = await redis.ping();
    const took = Math.round(performance.now() - started);
    const info = await redis.info("server");
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
    const where = await topologyOf(redis, endpoint.topology, prefix);
    return {
      ...(where.status ? { status: where.status } : {}),
      detail: `${redactUrl(url)}: ${where.detail}; answered ${pong} in ${took} ms (Redis ${version})`,
    };
  } catch (err) {
    throw new Error(`${redactUrl(url)}: ${errorMessage(err)}`);
  } finally {
    redis.disconnect();
  }
}

/** What the operator needs to know of the deployment: which node is master, and what could fail over. */
async function topologyOf(
  redis: RedisClient,
  topology: RedisTopology,
  prefix: string,
): Promise<{ detail: string; status?: Status }> {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (redis instanceof Cluster) {
    const info = await redis.cluster("INFO");
    const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? "unknown";
    const address = (n: { options: { host?: string; port?: number } }) =>
      `${n.options.host}:${n.options.port}`;
    const masters = redis.nodes("master").map(address).sort();
    const replicas = redis.nodes("slave").length;
    // Every key drbot and BullMQ use is in the slot of the hash-tagged prefix.
    const tag = keyPrefix(prefix, topology);
    const slot = await redis.cluster("KEYSLOT", tag);
    const owner = (await redis.cluster("SLOTS")).find(([from, to]) => slot >= from && slot <= to)?.[2];
    return {
      ...(state === "ok" ? {} : { status: "FAIL" as const }),
      detail: `cluster of ${plural(masters.length, "master")} (${masters.join(", ")}) and ${plural(replicas, "replica")}, cluster_state ${state}; keys of ${tag} in slot ${slot}${owner ? ` on ${owner[0]}:${owner[1]}` : ""}`,
    };
  }
  const replication = await redis.info("replication");
  const role = /role:(\w+)/.exec(replication)?.[1] ?? "unknown";
  const connected = Number(/connected_slaves:(\d+)/.exec(replication)?.[1] ?? 0);
  if (role !== "master") {
    return { status: "FAIL", detail: `a ${role}, not a master: drbot cannot write to it` };
  }
  if (topology.kind !== "sentinel")
    return { detail: `standalone master with ${plural(connected, "replica")}` };
  const report = await askSentinels(topology);
  if (!report) return { status: "FAIL", detail: `no sentinel of ${topology.sentinels.length} answered` };
  return {
    // Without a replica there is nothing to promote: the next master failure stops drbot.
    ...(connected === 0 ? { status: "warn" as const } : {}),
    detail: `sentinel master "${topology.masterName}" at ${report.master}, ${plural(connected, "replica")} connected, ${plural(report.sentinels, "sentinel")} watching (${report.answered}/${topology.sentinels.length} listed answered)`,
  };
}

/** The master as the listed sentinels name it, and how many sentinels watch it. */
async function askSentinels(topology: Extract<RedisTopology, { kind: "sentinel" }>) {
  const answers = await Promise.all(
    topology.sentinels.map(async ({ host, port }) => {
      const sentinel = new Redis({
        host,
        port,
        lazyConnect: true,
        connectTimeout: 5_000,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      sentinel.on("error", () => {});
      try {
        await sentinel.connect();
        const [ip, p] = (await sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", topology.masterName)) as [
          string,
          string,
        ];
        const others = (await sentinel.call("SENTINEL", "SENTINELS", topology.masterName)) as unknown[];
        return { master: `${ip}:${p}`, sentinels: others.length + 1 };
      } catch {
        return undefined;
      } finally {
        sentinel.disconnect();
      }
    }),
  );
  const answered = answers.filter((a) => a !== undefined);
  const first = answered[0];
  return first ? { ...first, answered: answered.length } : undefined;
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
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, "//$1:***@");
}
