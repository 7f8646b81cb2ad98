// Every test run talks to a real Redis. When REDIS_URL is set it is used as is; otherwise a
// throw-away redis-server is started on a free port for the run and stopped afterwards.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { freePort } from "./free-port.ts";

let server: ChildProcess | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.REDIS_URL;
  if (!url) {
    const port = await freePort();
    dir = await mkdtemp(join(tmpdir(), "drbot-redis-"));
    server = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: "ignore" },
    );
    url = `redis://127.0.0.1:${port}`;
    await waitForRedis(port);
  }
  project.provide("redisUrl", url);
}

export async function teardown(): Promise<void> {
  server?.kill("SIGTERM");
  if (dir) await rm(dir, { recursive: true, force: true });
}

async function waitForRedis(port: number): Promise<void> {
  const { Socket } = await import("node:net");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once("error", () => resolve(false));
      s.connect(port, "127.0.0.1", () => {
        s.write("PING\r\n");
        s.once("data", (d) => {
          s.destroy();
          resolve(d.toString().startsWith("+PONG"));
        });
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not answer on port ${port}; is the redis-server package installed?`);
}
