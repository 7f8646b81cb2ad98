// `drbot dr status [--json]`: the same report as `/dr status`, for a terminal or a script.

import { drStatus, formatDrStatus } from "../jobs/dr/status.ts";
import { createRuntime } from "../runtime.ts";

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
  const rt = createRuntime(env, "cli");
  try {
    const report = await drStatus({ ...rt, efs: rt.adapters.efs, git: rt.adapters.git });
    print(json ? JSON.stringify(report, null, 2) : formatDrStatus(report, rt.config, "text"));
    return 0;
  } finally {
    await rt.close();
  }
}
