// `drbot audit [--since 7d] [--request <id>] [--json]`: the audit trail, oldest first, one line
// (or one JSON object) per entry, streamed page by page so a year of entries is never held at once.

import { parseArgs } from "node:util";
import type { AuditEntry } from "../core/audit.ts";
import { formatAuditEntry } from "../core/audit-format.ts";
import { formatDuration, parseDuration } from "../core/duration.ts";
import { createRuntime } from "../runtime.ts";

export const AUDIT_USAGE = "usage: drbot audit [--since 7d] [--request <id>] [--json]";

const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

interface AuditArgs {
  sinceMs?: number;
  request?: string;
  json: boolean;
}

/** The arguments, or the reason they are wrong. */
export function parseAuditArgs(argv: string[], now = Date.now()): AuditArgs | string {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    return (err as Error).message;
  }
  const { since, request, json } = parsed.values;
  const args: AuditArgs = { json: json ?? false };
  if (since !== undefined) {
    const ms = parseDuration(since);
    if (ms === undefined || ms <= 0)
      return `--since ${JSON.stringify(since)}: expected a duration such as 90m, 12h or 7d`;
    args.sinceMs = now - ms;
  }
  if (request !== undefined) {
    if (!REQUEST_ID.test(request))
      return `--request ${JSON.stringify(request.slice(0, 120))}: expected a request id such as dr-1a2b3c4d`;
    args.request = request;
  }
  return args;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      since: { type: "string" },
      request: { type: "string" },
      json: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
}

export async function auditCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
): Promise<number> {
  const args = parseAuditArgs(argv);
  if (typeof args === "string") {
    print(`${args}\n${AUDIT_USAGE}`);
    return 2;
  }
  const rt = createRuntime(env, "cli");
  try {
    let count = 0;
    for await (const entry of rt.audit.read(args)) {
      print(line(entry, args.json));
      count++;
    }
    if (count === 0 && !args.json) {
      const scope = args.request ? ` for ${args.request}` : "";
      const window =
        args.sinceMs === undefined ? "" : ` in the last ${formatDuration(Date.now() - args.sinceMs)}`;
      print(`no audit entries${scope}${window} (entries are kept ${formatDuration(rt.audit.retentionMs)})`);
    }
    return 0;
  } finally {
    await rt.close();
  }
}

function line(entry: AuditEntry, asJson: boolean): string {
  if (!asJson) return formatAuditEntry(entry, "text");
  return JSON.stringify({ ...entry, at: new Date(entry.at).toISOString() });
}
