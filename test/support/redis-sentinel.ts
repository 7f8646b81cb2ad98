// A real Sentinel deployment on free local ports: one master, one replica and three
// `redis-sentinel` processes watching them, as production runs it. Tests kill the master and
// wait for the sentinels to promote the replica.

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { freePort } from "./free-port.ts";
import { type RedisServer, startRedisServer } from "./redis-server.ts";

export interface Address {
  host: string;
  port: number;
}

export interface SentinelDeployment {
  /** `redis-sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/<master name>`: what drbot is given. */
  url: string;
  masterName: string;
  /** The data nodes, master first (until a failover changes which is which). */
  servers: RedisServer[];
  sentinelPorts: number[];
  /** The master as a majority of the sentinels report it now. */
  master(): Promise<Address>;
  /**
   * SIGKILLs the current master and waits until every sentinel reports the replica as the new
   * master; returns how long that took.
   */
  killMaster(timeoutMs?: number): Promise<{ promotedAfterMs: number; master: Address }>;
  /**
   * A planned failover (`SENTINEL FAILOVER`, as before maintenance): the master stays up and is
   * turned into a replica; waits until every sentinel names the promoted one.
   */
  switchover(timeoutMs?: number): Promise<{ promotedAfterMs: number; master: Address }>;
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";

export interface SentinelOptions {
  masterName?: string;
  /** How long a master may not answer before a sentinel thinks it down (production: seconds). */
  downAfterMs?: number;
}

export async function startSentinelDeployment(options: SentinelOptions = {}): Promise<SentinelDeployment> {
  const masterName = options.masterName ?? "mymaster";
  const downAfterMs = options.downAfterMs ?? 400;
  const dir = await mkdtemp(join(tmpdir(), "drbot-sentinel-"));
  const servers: RedisServer[] = [];
  const sentinels: ChildProcess[] = [];
  const clients: Redis[] = [];
  const stop = async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.all(sentinels.splice(0).map(stopProcess));
    await Promise.all(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // Writes need a connected replica on the master (an isolated master refuses them instead of
    // taking writes the promotion would lose); the replica, once promoted, has none left here, so
    // it must not require one. Production keeps two replicas and sets it on every node.
    const master = await startRedisServer({
      // No wait for more replicas before the first full sync (the default waits 5 s).
      args: [
        "--min-replicas-to-write",
        "1",
        "--min-replicas-max-lag",
        "10",
        "--repl-diskless-sync-delay",
        "0",
      ],
    });
    servers.push(master);
    const replica = await startRedisServer({ args: ["--replicaof", HOST, String(master.port)] });
    servers.push(replica);
    const admin = (port: number) => {
      const c = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 1 });
      c.on("error", () => {});
      clients.push(c);
      return c;
    };
    const replicaAdmin = admin(replica.port);
    await waitFor("the replica to finish its first sync", 10_000, "", async () =>
      /master_link_status:up/.test(await replicaAdmin.info("replication")),
    );

    const sentinelPorts = await Promise.all([freePort(), freePort(), freePort()]);
    for (const port of sentinelPorts) {
      const conf = join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its own configuration file (it records what it learns), so each has one.
      await writeFile(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${masterName} ${HOST} ${master.port} 2`,
          `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
          "",
        ].join("\n"),
      );
      const child = spawn("redis-sentinel", [conf], { stdio: "ignore" });
      child.once("error", () => {}); // reported by the wait below
      sentinels.push(child);
    }
    const sentinelAdmins = sentinelPorts.map(admin);
    // Ready when every sentinel knows the replica and the two other sentinels (they find each
    // other through hello messages every 2 s): only then can they agree on a failover.
    const hint = "is the redis-sentinel package installed?";
    await waitFor("the sentinels to know each other and the replica", 15_000, hint, async () => {
      for (const s of sentinelAdmins) {
        const replicas = (await s.call("SENTINEL", "REPLICAS", masterName)) as unknown[];
        const peers = (await s.call("SENTINEL", "SENTINELS", masterName)) as unknown[];
        if (replicas.length !== 1 || peers.length !== 2) return false;
      }
      return true;
    });

    const reported = async (): Promise<Address[]> =>
      Promise.all(
        sentinelAdmins.map(async (s) => {
          const [host = "", port = "0"] = (await s.call(
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            masterName,
          )) as string[];
          return { host, port: Number(port) };
        }),
      );
    const deployment: SentinelDeployment = {
      url: `redis-sentinel://${sentinelPorts.map((p) => `${HOST}:${p}`).join(",")}/${masterName}`,
      masterName,
      servers,
      sentinelPorts,
      async master() {
        const all = await reported();
        const counts = new Map<number, number>();
        for (const a of all) counts.set(a.port, (counts.get(a.port) ?? 0) + 1);
        const [port] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [0];
        return { host: HOST, port };
      },
      async killMaster(timeoutMs = 20_000) {
        const before = await deployment.master();
        const victim = servers.find((s) => s.port === before.port);
        if (!victim) throw new Error(`no server of this deployment listens on ${before.port}`);
        const started = performance.now();
        victim.process.kill("SIGKILL");
        await once(victim.process, "exit");
        await waitFor("the sentinels to promote the replica", timeoutMs, "", async () =>
          (await reported()).every((a) => a.port !== before.port),
        );
        return {
          promotedAfterMs: Math.round(performance.now() - started),
          master: await deployment.master(),
        };
      },
      async switchover(timeoutMs = 20_000) {
        const before = await deployment.master();
        const started = performance.now();
        await sentinelAdmins[0]?.call("SENTINEL", "FAILOVER", masterName);
        await waitFor("the sentinels to name the promoted replica", timeoutMs, "", async () =>
          (await reported()).every((a) => a.port !== before.port),
        );
        return {
          promotedAfterMs: Math.round(performance.now() - started),
          master: await deployment.master(),
        };
      },
      stop,
    };
    return deployment;
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitFor(
  what: string,
  timeoutMs: number,
  hint: string,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${hint ? `; ${hint}` : ""}`);
    await sleep(50);
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}
