// Every test run talks to a real Redis. When REDIS_URL is set it is used as is; otherwise a
// throw-away redis-server is started on a free port for the run and stopped afterwards.
import type { TestProject } from "vitest/node";
import { type RedisServer, startRedisServer } from "./redis-server.ts";

let server: RedisServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.REDIS_URL;
  if (!url) {
    server = await startRedisServer();
    url = server.url;
  }
  project.provide("redisUrl", url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
