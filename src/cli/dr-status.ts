// `drbot dr status [--json]`: the same report as `/dr status`, for a terminal or a script.

import { Redis } from "ioredis";
import { Approvals } from "../core/approvals.ts";
import { loadConfig } from "../core/config.ts";
import { DrState } from "../core/dr-state.ts";
import { readEnv } from "../core/env.ts";
import { drStatus, formatDrStatus } from "../jobs/dr-failover/status.ts";
import { redisConnection } from "../jobs/queues.ts";
import { createAdapters } from "../wiring.ts";

export async function drStatusCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
): Promise<number> {
  const json = argv.includes("--json");
  const unknown = argv.filter((a) => a !== "--json");
  if (unknown.length > 0) {
    print(`unknown argument ${unknown[0]}\nusage: drbot dr status [--json]`);
    return 2;
  }
  const settings = readEnv(env, "cli");
  const config = loadConfig(settings.configPath);
  const redis = new Redis({ ...redisConnection(settings.redisUrl), maxRetriesPerRequest: 3 } as never);
  const adapters = createAdapters(config, settings);
  try {
    const prefix = settings.tuning.redisPrefix;
    const report = await drStatus({
      config,
      efs: adapters.efs,
      git: adapters.git,
      dr: new DrState(redis, prefix),
      approvals: new Approvals(redis, prefix),
    });
    print(json ? JSON.stringify(report, null, 2) : formatDrStatus(report, config, "text"));
    return 0;
  } finally {
    adapters.close();
    redis.disconnect();
  }
}
