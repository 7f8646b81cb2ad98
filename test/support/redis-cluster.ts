// A real Redis Cluster on free local ports: three masters (no replicas) joined by
// `redis-cli --cluster create`, ready once every node reports cluster_state:ok.

import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "./free-port.ts";
import { type RedisServer, startRedisServer } from "./redis-server.ts";

export interface ClusterDeployment {
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`: what drbot is given. */
  url: string;
  servers: RedisServer[];
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";

export async function startClusterDeployment(masters = 3): Promise<ClusterDeployment> {
  const servers: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      // The cluster bus gets its own free port (by default it is the port + 10000, which may be
      // taken or out of range).
      const busPort = await freePort();
      servers.push(
        await startRedisServer({
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
            String(busPort),
            "--cluster-node-timeout",
            "2000",
          ],
        }),
      );
    }
    await promisify(execFile)(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...servers.map((s) => `${HOST}:${s.port}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      { timeout: 30_000 },
    );
    const admins = servers.map((s) => {
      const c = new Redis({ host: HOST, port: s.port, lazyConnect: true, maxRetriesPerRequest: 1 });
      c.on("error", () => {});
      return c;
    });
    try {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const infos = await Promise.all(admins.map((a) => a.cluster("INFO").catch(() => "")));
        if (infos.every((i) => /cluster_state:ok/.test(i))) break;
        if (Date.now() > deadline) throw new Error("timed out waiting for cluster_state:ok on every node");
        await sleep(50);
      }
    } finally {
      for (const a of admins) a.disconnect();
    }
    return {
      url: `redis-cluster://${servers.map((s) => `${HOST}:${s.port}`).join(",")}`,
      servers,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
