// Redis for the sandbox: REDIS_URL when set; otherwise `redis-server` from PATH on a free port of
// 127.0.0.1, its append-only file under the sandbox directory so approvals, jobs and the active
// site survive a restart. The child runs in its own process group (a Ctrl-C in the terminal
// reaches only the sandbox, which stops drbot first and Redis last) and is killed when the
// sandbox process exits however it exits; a pid file lets the next start stop a Redis that a
// killed sandbox left behind.

import { type ChildProcess, spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { createServer, Socket } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SandboxStartError } from "./start-error.ts";

export interface SandboxRedis {
  url: string;
  /** The redis-server this sandbox started, if it started one. */
  pid: number | undefined;
  stop(): Promise<void>;
}

export const REDIS_MISSING = [
  "Redis is needed and redis-server is not on the PATH. Install it, and the sandbox starts its own:",
  "  apt-get install redis-server    (Debian, Ubuntu)",
  "  brew install redis              (macOS)",
  "or point REDIS_URL at a Redis you have (e.g. REDIS_URL=redis://127.0.0.1:6379).",
].join("\n");

export async function startSandboxRedis(dir: string, env: NodeJS.ProcessEnv): Promise<SandboxRedis> {
  if (env.REDIS_URL) return { url: env.REDIS_URL, pid: undefined, stop: async () => {} };
  await stopLeftoverRedis(dir);
  const port = await freePort();
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--save",
      "",
      "--pidfile",
      join(dir, "redis.pid"),
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
      "--logfile",
      join(dir, "redis.log"),
    ],
    { stdio: "ignore", detached: true },
  );
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once("spawn", () => resolve(undefined));
    child.once("error", (err) => resolve(err));
  });
  if (spawned) {
    if ((spawned as NodeJS.ErrnoException).code === "ENOENT") throw new SandboxStartError(REDIS_MISSING);
    throw new SandboxStartError(`redis-server could not be started: ${spawned.message}`);
  }
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  try {
    await waitForPong(port, child);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      process.removeListener("exit", killOnExit);
      await stopChild(child);
    },
  };
}

/** SIGTERM (Redis writes its append-only file and exits), SIGKILL if it takes too long. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A Redis that a killed sandbox left running on this directory would share its files: stop it. */
export async function stopLeftoverRedis(dir: string): Promise<void> {
  const pidFile = join(dir, "redis.pid");
  const pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const command = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => undefined);
  // Only where /proc tells it is a redis-server; elsewhere a stale pid file is just removed.
  if (command?.includes("redis-server")) {
    try {
      process.kill(pid, "SIGTERM");
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
    } catch {
      // already gone
    }
  }
  await rm(pidFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForPong(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new SandboxStartError(
        `redis-server exited at once (code ${child.exitCode}); see its log in the sandbox's redis/ folder`,
      );
    if (await ping(port)) return;
    await sleep(50);
  }
  throw new SandboxStartError(`redis-server did not answer on 127.0.0.1:${port} within 10 s`);
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1_000, () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(false));
    s.connect(port, "127.0.0.1", () => {
      s.write("PING\r\n");
      s.once("data", (d) => {
        s.destroy();
        // LOADING while it replays a large append-only file: not ready yet.
        resolve(d.toString().startsWith("+PONG"));
      });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
