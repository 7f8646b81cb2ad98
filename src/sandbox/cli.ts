// `drbot sandbox [--volumes N] [--reset] [--port P]`: starts the sandbox, prints one line with the
// console's URL, and stops everything (drbot, the stand-ins, the replicator, its redis-server) on
// Ctrl-C or SIGTERM.

import { parseArgs } from "node:util";
import { startSandbox } from "./sandbox.ts";
import { SandboxStartError } from "./start-error.ts";
import { StateFileError } from "./state.ts";

const DETAIL = `usage: drbot sandbox [--volumes N] [--reset] [--port P]

Runs drbot against local stand-ins of Slack, EFS, two Kubernetes clusters and GitHub (and its own
redis-server unless REDIS_URL is set), on 127.0.0.1 only, with a console in the browser.
Nothing touches AWS, Kubernetes, Slack or GitHub. State is kept in ./.drbot-sandbox/
(or DRBOT_SANDBOX_DIR); drbot's log is drbot.log there.

  --volumes N   seed N recorded volumes on the active site (kept ones are not repeated)
  --reset       start from scratch (removes ./.drbot-sandbox/)
  --port P      the console's port (default: PORT, else 3000; 0 picks a free one)`;

export async function sandboxCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
): Promise<number> {
  const fail = (message: string) => {
    process.stderr.write(`drbot sandbox: ${message}\n\n${DETAIL}\n`);
    return 2;
  };
  let values: { volumes?: string; reset?: boolean; port?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        volumes: { type: "string" },
        reset: { type: "boolean" },
        port: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return fail((err as Error).message);
  }
  if (values.help) {
    print(DETAIL);
    return 0;
  }
  const volumes = values.volumes === undefined ? 0 : wholeNumber(values.volumes);
  if (volumes === undefined || volumes > 5_000)
    return fail(`--volumes: expected a whole number from 0 to 5000, got "${values.volumes}"`);
  const portText = values.port ?? env.PORT ?? "3000";
  const port = wholeNumber(portText);
  if (port === undefined || port > 65_535)
    return fail(`${values.port === undefined ? "PORT" : "--port"}: expected a TCP port, got "${portText}"`);

  let sandbox: Awaited<ReturnType<typeof startSandbox>>;
  try {
    sandbox = await startSandbox({
      dir: env.DRBOT_SANDBOX_DIR || ".drbot-sandbox",
      port,
      volumes,
      reset: values.reset ?? false,
      env,
    });
  } catch (err) {
    if (err instanceof SandboxStartError || err instanceof StateFileError) {
      process.stderr.write(`drbot sandbox: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  for (const problem of sandbox.restoreProblems)
    process.stderr.write(`drbot sandbox: not restored: ${problem}\n`);
  print(
    `drbot sandbox: console at ${sandbox.url} (local stand-ins only; state in ${sandbox.layout.root}; Ctrl-C stops)`,
  );

  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = () => {
      if (stopping) {
        // A second Ctrl-C: do not wait any longer (the redis-server child is killed on exit).
        process.exit(130);
      }
      stopping = true;
      void sandbox.stop().then(resolve, (err: unknown) => {
        process.stderr.write(`drbot sandbox: stopping failed: ${(err as Error).message}\n`);
        resolve();
      });
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  });
  return 0;
}

function wholeNumber(text: string): number | undefined {
  return /^\d{1,7}$/.test(text) ? Number(text) : undefined;
}
