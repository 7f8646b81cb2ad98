// Settings and secrets from the environment (interface.md). Secrets are read only here: from
// the variable, or from the file named by `<NAME>_FILE` (Kubernetes Secret volumes).

import { readFileSync } from "node:fs";
import { ConfigError } from "./config.ts";
import { parseRedisUrl } from "./redis.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

export type GitHubAuth =
  | { kind: "token"; token: string }
  | { kind: "app"; appId: string; privateKey: string; installationId: string };

export interface EnvSettings {
  configPath: string;
  redisUrl: string;
  port: number;
  logLevel: LogLevel;
  slack: {
    botToken: string | undefined;
    signingSecret: string | undefined;
    appToken: string | undefined;
    apiUrl: string | undefined;
  };
  github: GitHubAuth | undefined;
  tuning: Tuning;
  /** Every secret value, so logs and messages can redact them. */
  secrets: string[];
}

/** Operational knobs with safe defaults. */
export interface Tuning {
  /** Redis key prefix of queues and state (`DRBOT_REDIS_PREFIX`). */
  redisPrefix: string;
  /** Jobs one worker process runs at once (`DRBOT_WORKER_CONCURRENCY`). */
  workerConcurrency: number;
  /** A dead worker's job is taken over after this long (`DRBOT_WORKER_LOCK_MS`). */
  workerLockMs: number;
  /**
   * Fault-injection aid (`DRBOT_STEP_DELAY_MS`, default 0): a pause before every step, so a
   * crash test's kill lands between two steps for sure. Never set in production.
   */
  stepDelayMs: number;
  /** Space GitHub writes a second apart, as GitHub asks (`DRBOT_GITHUB_PACE_WRITES`). */
  paceGitWrites: boolean;
  /** The queue dashboard, when `DRBOT_DASHBOARD_PATH` is set (basic auth required). */
  dashboard: { path: string; user: string; password: string } | undefined;
}

/** What a process role needs from the environment. */
export type Role = "serve" | "bot" | "worker" | "cli";

export function readEnv(env: NodeJS.ProcessEnv, role: Role): EnvSettings {
  const problems: string[] = [];
  const secret = (name: string): string | undefined => {
    const direct = env[name];
    if (direct !== undefined && direct !== "") return direct.trim();
    const file = env[`${name}_FILE`];
    if (!file) return undefined;
    try {
      return readFileSync(file, "utf8").trim();
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      return undefined;
    }
  };

  // Empty means unset, as for the other settings: never a random port (Number("") is 0).
  const port = Number(env.PORT || "3000");
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    problems.push(`PORT: expected a TCP port, got "${env.PORT}"`);

  const logLevel = (env.LOG_LEVEL ?? "info").toLowerCase();
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    problems.push(`LOG_LEVEL: expected debug, info, warn or error, got "${env.LOG_LEVEL}"`);
  }

  const redisUrl = env.REDIS_URL ?? "redis://127.0.0.1:6379";
  let redisPassword: string | undefined;
  try {
    redisPassword = parseRedisUrl(redisUrl).password;
  } catch (err) {
    problems.push((err as Error).message);
  }

  const slack = {
    botToken: secret("SLACK_BOT_TOKEN"),
    signingSecret: secret("SLACK_SIGNING_SECRET"),
    appToken: secret("SLACK_APP_TOKEN"),
    apiUrl: env.SLACK_API_URL || undefined,
  };
  if (slack.apiUrl && !/^https?:\/\//.test(slack.apiUrl))
    problems.push("SLACK_API_URL: expected an http(s) URL");
  // The receiver cannot work without Slack. A worker without the token still runs jobs but
  // cannot update their cards (it says so at start-up).
  if ((role === "serve" || role === "bot") && !slack.botToken) {
    problems.push("SLACK_BOT_TOKEN: required (the bot token, xoxb-…)");
  }
  if (role === "serve" || role === "bot") {
    if (!slack.appToken && !slack.signingSecret) {
      problems.push("SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)");
    }
  }
  if (slack.botToken && !slack.botToken.startsWith("xoxb-"))
    problems.push("SLACK_BOT_TOKEN: expected a bot token starting with xoxb-");
  if (slack.appToken && !slack.appToken.startsWith("xapp-"))
    problems.push("SLACK_APP_TOKEN: expected an app-level token starting with xapp-");

  let github: GitHubAuth | undefined;
  const token = secret("GITHUB_TOKEN");
  const appId = env.GITHUB_APP_ID;
  // A configured GitHub App wins over a token (a chart may still pass an empty GITHUB_TOKEN).
  if (appId) {
    const privateKey = secret("GITHUB_APP_PRIVATE_KEY");
    const installationId = env.GITHUB_APP_INSTALLATION_ID;
    if (!privateKey) problems.push("GITHUB_APP_PRIVATE_KEY: required with GITHUB_APP_ID");
    if (!installationId) problems.push("GITHUB_APP_INSTALLATION_ID: required with GITHUB_APP_ID");
    // Keys pasted into CI variables often carry literal "\n" instead of line breaks.
    const pem = privateKey && !privateKey.includes("\n") ? privateKey.replaceAll("\\n", "\n") : privateKey;
    if (pem && installationId) github = { kind: "app", appId, privateKey: pem, installationId };
  } else if (token) {
    github = { kind: "token", token };
  } else if (role !== "cli") {
    problems.push(
      "GITHUB_TOKEN: required (or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID)",
    );
  }

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  };
  const prefix = env.DRBOT_REDIS_PREFIX || "drbot";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix))
    problems.push("DRBOT_REDIS_PREFIX: expected letters, digits, _ or -");
  const pace = (env.DRBOT_GITHUB_PACE_WRITES ?? "true").toLowerCase();
  if (!["true", "false"].includes(pace)) problems.push("DRBOT_GITHUB_PACE_WRITES: expected true or false");
  let dashboard: Tuning["dashboard"];
  const dashboardPath = env.DRBOT_DASHBOARD_PATH;
  if (dashboardPath) {
    const user = env.DRBOT_DASHBOARD_USER;
    const password = secret("DRBOT_DASHBOARD_PASSWORD");
    if (
      !/^\/[A-Za-z0-9/_-]*[A-Za-z0-9_-]$/.test(dashboardPath) ||
      ["/slack", "/healthz", "/readyz", "/metrics"].some((p) => dashboardPath.startsWith(p))
    ) {
      problems.push(
        "DRBOT_DASHBOARD_PATH: expected a path like /admin/queues, apart from drbot's own endpoints",
      );
    }
    if (!user || !password || password.length < 12) {
      problems.push(
        "DRBOT_DASHBOARD_USER and DRBOT_DASHBOARD_PASSWORD: required with the dashboard (a password of 12 characters or more)",
      );
    } else dashboard = { path: dashboardPath, user, password };
  }
  const tuning: Tuning = {
    dashboard,
    redisPrefix: prefix,
    workerConcurrency: integer("DRBOT_WORKER_CONCURRENCY", 4, 1, 64),
    workerLockMs: integer("DRBOT_WORKER_LOCK_MS", 30_000, 1_000, 600_000),
    stepDelayMs: integer("DRBOT_STEP_DELAY_MS", 0, 0, 60_000),
    paceGitWrites: pace !== "false",
  };

  if (problems.length > 0) throw new ConfigError("the environment", problems);

  const secrets = [slack.botToken, slack.signingSecret, slack.appToken, token, dashboard?.password]
    .concat(github?.kind === "app" ? [github.privateKey] : [])
    .filter((s): s is string => typeof s === "string" && s.length >= 4);
  if (redisPassword) secrets.push(redisPassword);

  return {
    configPath: env.DRBOT_CONFIG || "./drbot.yaml",
    redisUrl,
    port,
    logLevel: logLevel as LogLevel,
    slack,
    github,
    tuning,
    secrets,
  };
}
