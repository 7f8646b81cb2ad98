// drbot's one executable. Subcommands: serve | bot | worker | sandbox | volume create|resize|delete | dr status |
// dr unlock | audit | config check.

import { auditCli } from "./cli/audit.ts";
import { configCheck } from "./cli/config-check.ts";
import { drStatusCli } from "./cli/dr-status.ts";
import { drUnlockCli } from "./cli/dr-unlock.ts";
import {
  VOLUME_DELETE_USAGE,
  VOLUME_RESIZE_USAGE,
  volumeDeleteCli,
  volumeResizeCli,
} from "./cli/volume-change.ts";
import { VOLUME_CREATE_USAGE, volumeCreateCli } from "./cli/volume-create.ts";
import { ConfigError } from "./core/config.ts";
import { type Role, startService } from "./service.ts";

const USAGE = `drbot — disaster-recoverable EFS volumes and regional failover, from Slack

usage:
  drbot serve                 Slack receiver, HTTP endpoints and workers in one process
  drbot bot                   Slack receiver and HTTP endpoints only
  drbot worker                workers only (still serving /healthz, /readyz, /metrics)
  drbot sandbox [--volumes N] [--reset] [--port P]
                              everything on this machine: local stand-ins of Slack, EFS,
                              Kubernetes and GitHub, and a Slack-like console in the browser
  ${VOLUME_CREATE_USAGE.replace("usage: ", "")}
  ${VOLUME_RESIZE_USAGE.replace("usage: ", "")}
  ${VOLUME_DELETE_USAGE.replace("usage: ", "")}
                              a deletion waits for its approval in Slack (the card goes to --channel)
  drbot dr status [--json]    active site, replication and lag, recorded volumes, DR operations
  drbot dr unlock <id>        release a DR lock whose DR operation is no longer running
  drbot audit [--since 7d] [--request <id>] [--json]
                              the audit trail, oldest first: requests, approvals, unlocks, outcomes
  drbot config check          validate the configuration and probe every dependency

environment: DRBOT_CONFIG (./drbot.yaml), SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET or SLACK_APP_TOKEN,
SLACK_API_URL, REDIS_URL, PORT, GITHUB_TOKEN, AWS_REGION / AWS_* / AWS_ENDPOINT_URL_EFS, LOG_LEVEL`;

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  const print = (line: string) => process.stdout.write(`${line}\n`);
  switch (command) {
    case "serve":
    case "bot":
    case "worker":
      return runService(command);
    case "sandbox": {
      // Loaded only here: serve, bot and worker never touch the stand-ins.
      const { sandboxCli } = await import("./sandbox/cli.ts");
      return sandboxCli(argv.slice(1), process.env, print);
    }
    case "volume":
      if (sub === "create") return volumeCreateCli(rest, process.env, print);
      if (sub === "resize") return volumeResizeCli(rest, process.env, print);
      if (sub === "delete") return volumeDeleteCli(rest, process.env, print);
      break;
    case "dr":
      if (sub === "status") return drStatusCli(rest, process.env, print);
      if (sub === "unlock") return drUnlockCli(rest, process.env, print);
      break;
    case "audit":
      return auditCli(sub === undefined ? rest : [sub, ...rest], process.env, print);
    case "config":
      if (sub === "check") return configCheck(process.env, print);
      break;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      print(USAGE);
      return 0;
  }
  process.stderr.write(`unknown command: ${argv.join(" ")}\n\n${USAGE}\n`);
  return 2;
}

async function runService(role: Role): Promise<number> {
  const service = await startService(role, process.env);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      service.log.info({ signal }, "signal received");
      void service.stop().then(resolve);
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Idle keep-alive sockets of the SDKs must not hold a finished command open.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`drbot: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`drbot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 200).unref();
  },
);
