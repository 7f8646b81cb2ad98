import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/core/config.ts";
import { type Role, readEnv } from "../../src/core/env.ts";

const base = {
  SLACK_BOT_TOKEN: "xoxb-1-abc",
  SLACK_SIGNING_SECRET: "s3cr3t-signing",
  GITHUB_TOKEN: "ghp_token123",
};

/** The problems readEnv reports for `base` changed by `change`. */
function problemsOf(change: Record<string, string | undefined>, role: Role = "worker"): string[] {
  try {
    readEnv({ ...base, ...change }, role);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected the environment to be refused");
}

function secretFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "drbot-env-")), "secret");
  writeFileSync(path, content);
  return path;
}

describe("environment: secrets", () => {
  it("trims a secret given directly, and prefers it over its file", () => {
    const env = readEnv(
      { ...base, GITHUB_TOKEN: "  ghp_direct\n", GITHUB_TOKEN_FILE: secretFile("ghp_fromfile") },
      "worker",
    );
    expect(env.github).toEqual({ kind: "token", token: "ghp_direct" });
  });

  it("reads the file when the variable is set but empty (as charts often leave it)", () => {
    const env = readEnv(
      { ...base, GITHUB_TOKEN: "", GITHUB_TOKEN_FILE: secretFile("ghp_fromfile\n") },
      "worker",
    );
    expect(env.github).toEqual({ kind: "token", token: "ghp_fromfile" });
  });

  it("names the unreadable file and why", () => {
    expect(problemsOf({ GITHUB_TOKEN: undefined, GITHUB_TOKEN_FILE: "/nonexistent/token" })[0]).toBe(
      "GITHUB_TOKEN_FILE: cannot read /nonexistent/token (ENOENT)",
    );
  });

  it("lists every secret for redaction: Slack, GitHub, the dashboard's password and Redis's", () => {
    const env = readEnv(
      {
        ...base,
        SLACK_APP_TOKEN: "xapp-1-app",
        REDIS_URL: "redis://:redis-pass@redis:6379",
        DRBOT_DASHBOARD_PATH: "/admin/queues",
        DRBOT_DASHBOARD_USER: "ops",
        DRBOT_DASHBOARD_PASSWORD: "a-long-password",
      },
      "serve",
    );
    expect(env.secrets).toEqual([
      "xoxb-1-abc",
      "s3cr3t-signing",
      "xapp-1-app",
      "ghp_token123",
      "a-long-password",
      "redis-pass",
    ]);
  });

  it("lists a GitHub App's key, and leaves out values too short to redact safely", () => {
    const env = readEnv(
      {
        SLACK_BOT_TOKEN: "xoxb-1-abc",
        SLACK_SIGNING_SECRET: "abc",
        GITHUB_TOKEN: "",
        GITHUB_APP_ID: "42",
        GITHUB_APP_INSTALLATION_ID: "7",
        GITHUB_APP_PRIVATE_KEY: "KEY1",
      },
      "serve",
    );
    expect(env.secrets).toEqual(["xoxb-1-abc", "KEY1"]);
  });

  it("lists nothing for a CLI without credentials and a Redis without a password", () => {
    const env = readEnv({}, "cli");
    expect(env.github).toBeUndefined();
    expect(env.secrets).toEqual([]);
  });
});

describe("environment: settings", () => {
  it("reads the config path, port, log level and Slack API URL", () => {
    const env = readEnv(
      {
        ...base,
        DRBOT_CONFIG: "/etc/drbot/drbot.yaml",
        PORT: "8080",
        LOG_LEVEL: "WARN",
        SLACK_API_URL: "http://127.0.0.1:9999/api/",
      },
      "serve",
    );
    expect(env).toMatchObject({ configPath: "/etc/drbot/drbot.yaml", port: 8080, logLevel: "warn" });
    expect(env.slack.apiUrl).toBe("http://127.0.0.1:9999/api/");
    expect(readEnv({ ...base, SLACK_API_URL: "" }, "serve").slack.apiUrl).toBeUndefined();
    expect(readEnv({ ...base, DRBOT_CONFIG: "" }, "serve").configPath).toBe("./drbot.yaml");
  });

  it.each(["debug", "info", "warn", "error"])("accepts log level %s", (level) => {
    expect(readEnv({ ...base, LOG_LEVEL: level }, "worker").logLevel).toBe(level);
  });

  it.each(["0", "1", "65535"])("accepts port %s", (port) => {
    expect(readEnv({ ...base, PORT: port }, "worker").port).toBe(Number(port));
  });

  it.each(["-1", "65536", "80.5", "http"])("refuses port %j", (port) => {
    expect(problemsOf({ PORT: port })).toEqual([`PORT: expected a TCP port, got "${port}"`]);
  });

  it("listens on the default port when PORT is empty, not on a random one", () => {
    expect(readEnv({ ...base, PORT: "" }, "worker").port).toBe(3000);
  });

  it("refuses a Slack API URL that is not http(s)", () => {
    expect(problemsOf({ SLACK_API_URL: "slack.com/api" })).toEqual([
      "SLACK_API_URL: expected an http(s) URL",
    ]);
    expect(problemsOf({ SLACK_API_URL: "ftp://https://slack.com" })).toEqual([
      "SLACK_API_URL: expected an http(s) URL",
    ]);
    expect(readEnv({ ...base, SLACK_API_URL: "https://slack.com/api/" }, "worker").slack.apiUrl).toBe(
      "https://slack.com/api/",
    );
  });

  it("refuses an app-level token of the wrong kind", () => {
    expect(problemsOf({ SLACK_APP_TOKEN: "xoxb-2" }, "bot")).toEqual([
      "SLACK_APP_TOKEN: expected an app-level token starting with xapp-",
    ]);
  });

  it("needs the signing secret or Socket Mode for the bot role as for serve", () => {
    expect(problemsOf({ SLACK_SIGNING_SECRET: undefined }, "bot")).toEqual([
      "SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)",
    ]);
    expect(
      readEnv({ ...base, SLACK_SIGNING_SECRET: undefined }, "worker").slack.signingSecret,
    ).toBeUndefined();
  });

  it("names both missing parts of a GitHub App", () => {
    expect(problemsOf({ GITHUB_APP_ID: "42", GITHUB_APP_PRIVATE_KEY: "KEY-----" })).toEqual([
      "GITHUB_APP_INSTALLATION_ID: required with GITHUB_APP_ID",
    ]);
    expect(problemsOf({ GITHUB_APP_ID: "42" })).toEqual([
      "GITHUB_APP_PRIVATE_KEY: required with GITHUB_APP_ID",
      "GITHUB_APP_INSTALLATION_ID: required with GITHUB_APP_ID",
    ]);
  });

  it("keeps a GitHub App key that already has line breaks as it is", () => {
    const key = "-----BEGIN KEY-----\nab\\nc\n-----END KEY-----";
    const env = readEnv(
      { ...base, GITHUB_APP_ID: "42", GITHUB_APP_INSTALLATION_ID: "7", GITHUB_APP_PRIVATE_KEY: key },
      "worker",
    );
    expect(env.github).toMatchObject({ kind: "app", privateKey: key });
  });

  it("lets the CLI run without GitHub credentials, but no other role", () => {
    expect(readEnv({ GITHUB_TOKEN: "" }, "cli").github).toBeUndefined();
    for (const role of ["serve", "bot", "worker"] as const) {
      expect(problemsOf({ GITHUB_TOKEN: undefined }, role)).toContain(
        "GITHUB_TOKEN: required (or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID)",
      );
    }
  });

  it("says which settings are wrong in a ConfigError about the environment", () => {
    expect(() => readEnv({ ...base, PORT: "x" }, "worker")).toThrow(
      /^the environment is not valid:\n {2}- PORT: expected a TCP port/,
    );
  });
});

describe("environment: tuning", () => {
  it("has safe defaults", () => {
    expect(readEnv(base, "worker").tuning).toEqual({
      dashboard: undefined,
      redisPrefix: "drbot",
      workerConcurrency: 4,
      workerLockMs: 30_000,
      stepDelayMs: 0,
      paceGitWrites: true,
    });
    expect(
      readEnv(
        {
          ...base,
          DRBOT_REDIS_PREFIX: "",
          DRBOT_WORKER_CONCURRENCY: "",
          DRBOT_WORKER_LOCK_MS: "",
          DRBOT_STEP_DELAY_MS: "",
        },
        "worker",
      ).tuning,
    ).toMatchObject({ redisPrefix: "drbot", workerConcurrency: 4, workerLockMs: 30_000, stepDelayMs: 0 });
  });

  it("reads each knob", () => {
    expect(
      readEnv(
        {
          ...base,
          DRBOT_REDIS_PREFIX: "drbot-test_2",
          DRBOT_WORKER_CONCURRENCY: "8",
          DRBOT_WORKER_LOCK_MS: "5000",
          DRBOT_STEP_DELAY_MS: "250",
          DRBOT_GITHUB_PACE_WRITES: "FALSE",
        },
        "worker",
      ).tuning,
    ).toEqual({
      dashboard: undefined,
      redisPrefix: "drbot-test_2",
      workerConcurrency: 8,
      workerLockMs: 5000,
      stepDelayMs: 250,
      paceGitWrites: false,
    });
    expect(readEnv({ ...base, DRBOT_GITHUB_PACE_WRITES: "True" }, "worker").tuning.paceGitWrites).toBe(true);
  });

  it.each<[string, string, string]>([
    ["DRBOT_WORKER_CONCURRENCY", "1", "64"],
    ["DRBOT_WORKER_LOCK_MS", "1000", "600000"],
    ["DRBOT_STEP_DELAY_MS", "0", "60000"],
  ])("bounds %s from %s to %s", (name, min, max) => {
    const read = (raw: string) => readEnv({ ...base, [name]: raw }, "worker").tuning;
    const key =
      { DRBOT_WORKER_CONCURRENCY: "workerConcurrency", DRBOT_WORKER_LOCK_MS: "workerLockMs" }[name] ??
      "stepDelayMs";
    expect(read(min)).toMatchObject({ [key]: Number(min) });
    expect(read(max)).toMatchObject({ [key]: Number(max) });
    for (const bad of [String(Number(min) - 1), String(Number(max) + 1), "2.5", "many"]) {
      expect(problemsOf({ [name]: bad })).toEqual([
        `${name}: expected a whole number from ${min} to ${max}, got "${bad}"`,
      ]);
    }
  });

  it.each(["a:b", ":ab", "ab:", "x".repeat(65)])("refuses the Redis prefix %j", (prefix) => {
    expect(problemsOf({ DRBOT_REDIS_PREFIX: prefix })).toEqual([
      "DRBOT_REDIS_PREFIX: expected letters, digits, _ or -",
    ]);
  });

  it("refuses a pacing switch that is not true or false", () => {
    expect(problemsOf({ DRBOT_GITHUB_PACE_WRITES: "yes" })).toEqual([
      "DRBOT_GITHUB_PACE_WRITES: expected true or false",
    ]);
  });

  describe("the queue dashboard", () => {
    const dashboard = {
      DRBOT_DASHBOARD_PATH: "/admin/queues",
      DRBOT_DASHBOARD_USER: "ops",
      DRBOT_DASHBOARD_PASSWORD: "twelve-chars",
    };

    it("is off unless its path is set", () => {
      expect(readEnv({ ...base, DRBOT_DASHBOARD_USER: "ops" }, "serve").tuning.dashboard).toBeUndefined();
    });

    it("serves at its path behind basic auth, the password possibly from a file", () => {
      expect(readEnv({ ...base, ...dashboard }, "serve").tuning.dashboard).toEqual({
        path: "/admin/queues",
        user: "ops",
        password: "twelve-chars",
      });
      expect(
        readEnv(
          {
            ...base,
            ...dashboard,
            DRBOT_DASHBOARD_PATH: "/q",
            DRBOT_DASHBOARD_PASSWORD: undefined,
            DRBOT_DASHBOARD_PASSWORD_FILE: secretFile("from-a-file-123\n"),
          },
          "serve",
        ).tuning.dashboard,
      ).toEqual({ path: "/q", user: "ops", password: "from-a-file-123" });
    });

    it.each([
      "admin",
      "admin/queues",
      "/",
      "/admin/",
      "/admin queues",
      "/slack",
      "/slack/queues",
      "/healthz",
      "/readyz",
      "/metrics/q",
    ])("refuses the path %j", (path) => {
      expect(problemsOf({ ...dashboard, DRBOT_DASHBOARD_PATH: path })).toEqual([
        "DRBOT_DASHBOARD_PATH: expected a path like /admin/queues, apart from drbot's own endpoints",
      ]);
    });

    it.each<[string, Record<string, string | undefined>]>([
      ["no user", { DRBOT_DASHBOARD_USER: undefined }],
      ["no password", { DRBOT_DASHBOARD_PASSWORD: undefined }],
      ["a short password", { DRBOT_DASHBOARD_PASSWORD: "eleven-char" }],
    ])("refuses %s", (_, change) => {
      expect(problemsOf({ ...dashboard, ...change })).toEqual([
        "DRBOT_DASHBOARD_USER and DRBOT_DASHBOARD_PASSWORD: required with the dashboard (a password of 12 characters or more)",
      ]);
    });
  });
});
