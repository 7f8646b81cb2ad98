import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { BUILTIN_TEMPLATES, ConfigError, loadConfig, parseConfig } from "../../src/core/config.ts";
import { readEnv } from "../../src/core/env.ts";

const example = readFileSync(new URL("../../drbot.example.yaml", import.meta.url), "utf8");
const source = join(process.cwd(), "drbot.yaml");

function withChange(change: (c: Record<string, any>) => void): string {
  const doc = parse(example);
  change(doc);
  return stringify(doc);
}

function problemsOf(text: string): string[] {
  try {
    parseConfig(text, source);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected the configuration to be refused");
}

describe("configuration", () => {
  it("loads the shipped example with defaults and parsed values", () => {
    const config = parseConfig(example, source);
    expect(config.sites.secondary.efs.fileSystemId).toBe("fs-0bbb2222");
    expect(config.volumes.directory.mode).toBe(0o770);
    expect(config.approvals.failover.expiresAfter).toBe(30 * 60_000);
    expect(config.approvals.failover.required).toBe(2);
    expect(config.approvals.volumeCreate.required).toBe(0);
    expect(config.volumes.tenants.sales?.requesters.groups).toEqual(["S0SALES"]);
    expect(config.template.path).toMatch(/templates\/pv-pvc\.nfs\.yaml$/);
  });

  it("applies defaults for optional settings", () => {
    const config = parseConfig(
      withChange((c) => {
        delete c.git.apiUrl;
        delete c.git.branch;
        delete c.git.directory;
        delete c.volumes.maxSizeGi;
        delete c.volumes.template;
        delete c.channels;
        delete c.approvals.volumeCreate;
      }),
      source,
    );
    expect(config.git).toMatchObject({
      apiUrl: "https://api.github.com",
      branch: "main",
      directory: "PV-PVCs",
    });
    expect(config.volumes.maxSizeGi).toBe(1024);
    expect(config.channels).toEqual([]);
  });

  it.each<[string, (c: Record<string, any>) => void, RegExp]>([
    [
      "a bad file system id",
      (c) => (c.sites.secondary.efs.fileSystemId = "fs-xyz"),
      /^sites\.secondary\.efs\.fileSystemId: expected fs-xxxxxxxx/,
    ],
    [
      "a missing site",
      (c) => delete c.sites.secondary,
      /^sites\.secondary: is required \(expected a mapping\)/,
    ],
    [
      "a bad region",
      (c) => (c.sites.primary.efs.region = "useast1"),
      /^sites\.primary\.efs\.region: expected an AWS region/,
    ],
    [
      "a relative mount path",
      (c) => (c.sites.primary.efs.mountPath = "mnt/efs"),
      /^sites\.primary\.efs\.mountPath: expected an absolute path/,
    ],
    [
      "a traversing root directory",
      (c) => (c.volumes.rootDirectory = "/a/../etc"),
      /^volumes\.rootDirectory: expected an absolute path/,
    ],
    [
      "a bad cluster name",
      (c) => (c.sites.primary.cluster.name = "ROSA_1"),
      /^sites\.primary\.cluster\.name: cluster name "ROSA_1"/,
    ],
    [
      "the same cluster twice",
      (c) => (c.sites.secondary.cluster.name = "rosa-primary"),
      /^sites\.secondary\.cluster\.name: must differ/,
    ],
    [
      "the same file system twice",
      (c) => (c.sites.secondary.efs.fileSystemId = "fs-0aaa1111"),
      /^sites\.secondary\.efs\.fileSystemId: must differ/,
    ],
    [
      "one failover approver required",
      (c) => (c.approvals.failover.required = 1),
      /^approvals\.failover\.required: must be at least 2: a failover always needs two distinct approvers/,
    ],
    [
      "a bad duration",
      (c) => (c.approvals.failover.expiresAfter = "30 minutes"),
      /^approvals\.failover\.expiresAfter: expected a duration like 90s, 30m or 2h/,
    ],
    [
      "too few approvers",
      (c) => (c.approvals.failover.approvers = { users: ["U0APR1"] }),
      /^approvals\.failover\.approvers: lists 1 user\(s\) and no group, but 2/,
    ],
    [
      "a bad user id",
      (c) => (c.approvals.failover.approvers.users = ["alice"]),
      /^approvals\.failover\.approvers\.users\.0: expected a Slack user id/,
    ],
    [
      "a bad group id",
      (c) => (c.volumes.tenants.sales.requesters.groups = ["sre"]),
      /^volumes\.tenants\.sales\.requesters\.groups\.0: expected a Slack user-group id/,
    ],
    [
      "a bad tenant name",
      (c) => (c.volumes.tenants.Sales_Team = {}),
      /^volumes\.tenants\.Sales_Team: business unit "Sales_Team"/,
    ],
    [
      "an unquoted mode",
      (c) => (c.volumes.directory.mode = 770),
      /^volumes\.directory\.mode: expected an octal mode in quotes/,
    ],
    [
      "a non-octal mode",
      (c) => (c.volumes.directory.mode = "0980"),
      /^volumes\.directory\.mode: expected an octal mode/,
    ],
    ["a negative uid", (c) => (c.volumes.directory.uid = -1), /^volumes\.directory\.uid: must be at least 0/],
    ["a zero size limit", (c) => (c.volumes.maxSizeGi = 0), /^volumes\.maxSizeGi: must be at least 1/],
    ["a misspelt key", (c) => (c.git.reop = "x"), /^git\.reop: is not a known setting/],
    ["an unknown top-level key", (c) => (c.slack = {}), /^slack: is not a known setting/],
    [
      "an absolute git directory",
      (c) => (c.git.directory = "/PV-PVCs"),
      /^git\.directory: expected a relative folder/,
    ],
    ["a bad API URL", (c) => (c.git.apiUrl = "ftp://x"), /^git\.apiUrl: expected an http\(s\) URL/],
    ["a bad channel id", (c) => (c.channels = ["#general"]), /^channels\.0: expected a Slack channel id/],
    [
      "a secret in the file",
      (c) => (c.git.token = "ghp_abc"),
      /^git\.token: secrets are not read from the configuration file/,
    ],
    [
      "a missing template",
      (c) => (c.volumes.template = "templates/nope.yaml"),
      /^volumes\.template: templates\/nope\.yaml: the file does not exist/,
    ],
    [
      "volume approvals (not supported yet)",
      (c) => (c.approvals.volumeCreate = { required: 1 }),
      /^approvals\.volumeCreate\.required: must be 0: approval of volume requests is not supported yet/,
    ],
  ])("refuses %s, naming the field", (_, change, expected) => {
    const problems = problemsOf(withChange(change));
    expect(
      problems.some((p) => expected.test(p)),
      problems.join("\n"),
    ).toBe(true);
  });

  it("lists every problem at once", () => {
    const problems = problemsOf(
      withChange((c) => {
        c.sites.primary.efs.fileSystemId = "nope";
        c.approvals.failover.required = 1;
        c.git.owner = "";
      }),
    );
    expect(problems.length).toBe(3);
  });

  it("explains invalid YAML with a line number", () => {
    expect(problemsOf("sites:\n  primary: [\n")[0]).toMatch(/not valid YAML at line \d/);
    expect(problemsOf("- a\n- b\n")[0]).toMatch(/expected a YAML mapping/);
  });

  it("explains a missing file", () => {
    expect(() => loadConfig("/nonexistent/drbot.yaml")).toThrow(/does not exist; set DRBOT_CONFIG/);
  });

  it("finds a template beside the config file before drbot's own", () => {
    const dir = mkdtempSync(join(tmpdir(), "drbot-config-"));
    const custom = readFileSync(new URL("../../templates/pv-pvc.efs-csi.yaml", import.meta.url), "utf8");
    writeFileSync(join(dir, "mine.yaml"), custom);
    writeFileSync(
      join(dir, "drbot.yaml"),
      withChange((c) => (c.volumes.template = "mine.yaml")),
    );
    expect(loadConfig(join(dir, "drbot.yaml")).template.path).toBe(join(dir, "mine.yaml"));
    writeFileSync(
      join(dir, "drbot.yaml"),
      withChange((c) => (c.volumes.template = "templates/pv-pvc.efs-csi.yaml")),
    );
    expect(loadConfig(join(dir, "drbot.yaml")).template.path).toBe(
      join(BUILTIN_TEMPLATES, "pv-pvc.efs-csi.yaml"),
    );
  });

  it("refuses a template that breaks the contract", () => {
    const dir = mkdtempSync(join(tmpdir(), "drbot-config-"));
    const nfs = readFileSync(new URL("../../templates/pv-pvc.nfs.yaml", import.meta.url), "utf8");
    writeFileSync(join(dir, "delete.yaml"), nfs.replace("Retain", "Delete"));
    writeFileSync(join(dir, "unknown.yaml"), nfs.replace("{{ nfs_path }}", "{{ nfs_paht }}"));
    writeFileSync(
      join(dir, "drbot.yaml"),
      withChange((c) => (c.volumes.template = "delete.yaml")),
    );
    expect(() => loadConfig(join(dir, "drbot.yaml"))).toThrow(/volumes\.template: .*Retain/);
    writeFileSync(
      join(dir, "drbot.yaml"),
      withChange((c) => (c.volumes.template = "unknown.yaml")),
    );
    expect(() => loadConfig(join(dir, "drbot.yaml"))).toThrow(/unknown placeholder\(s\) \{\{ nfs_paht \}\}/);
  });
});

describe("environment", () => {
  const base = {
    SLACK_BOT_TOKEN: "xoxb-1-abc",
    SLACK_SIGNING_SECRET: "s3cr3t-signing",
    GITHUB_TOKEN: "ghp_token123",
  };

  it("reads defaults and secrets", () => {
    const env = readEnv(base, "serve");
    expect(env).toMatchObject({
      configPath: "./drbot.yaml",
      redisUrl: "redis://127.0.0.1:6379",
      port: 3000,
      logLevel: "info",
    });
    expect(env.github).toEqual({ kind: "token", token: "ghp_token123" });
    expect(env.secrets).toEqual(expect.arrayContaining(["xoxb-1-abc", "s3cr3t-signing", "ghp_token123"]));
  });

  it("reads a secret from the file named by <NAME>_FILE", () => {
    const dir = mkdtempSync(join(tmpdir(), "drbot-env-"));
    writeFileSync(join(dir, "token"), "ghp_fromfile\n");
    const env = readEnv(
      { ...base, GITHUB_TOKEN: undefined, GITHUB_TOKEN_FILE: join(dir, "token") },
      "worker",
    );
    expect(env.github).toEqual({ kind: "token", token: "ghp_fromfile" });
  });

  it("reads a GitHub App, with a key whose line breaks were written as \\n", () => {
    const env = readEnv(
      {
        ...base,
        GITHUB_APP_ID: "42",
        GITHUB_APP_INSTALLATION_ID: "7",
        GITHUB_APP_PRIVATE_KEY: "-----BEGIN KEY-----\\nabc\\n-----END KEY-----",
      },
      "worker",
    );
    expect(env.github).toEqual({
      kind: "app",
      appId: "42",
      installationId: "7",
      privateKey: "-----BEGIN KEY-----\nabc\n-----END KEY-----",
    });
    expect(env.secrets).toContain("-----BEGIN KEY-----\nabc\n-----END KEY-----");
  });

  it("accepts Socket Mode without a signing secret", () => {
    expect(
      readEnv({ ...base, SLACK_SIGNING_SECRET: undefined, SLACK_APP_TOKEN: "xapp-1-x" }, "bot").slack
        .appToken,
    ).toBe("xapp-1-x");
  });

  it.each<[string, Record<string, string | undefined>, "serve" | "worker" | "cli", RegExp]>([
    ["no bot token", { SLACK_BOT_TOKEN: undefined }, "serve", /SLACK_BOT_TOKEN: required/],
    [
      "no signing secret in HTTP mode",
      { SLACK_SIGNING_SECRET: undefined },
      "serve",
      /SLACK_SIGNING_SECRET: required in HTTP mode/,
    ],
    ["a user token as bot token", { SLACK_BOT_TOKEN: "xoxp-1" }, "serve", /expected a bot token/],
    ["no GitHub credentials", { GITHUB_TOKEN: undefined }, "worker", /GITHUB_TOKEN: required/],
    [
      "half a GitHub App",
      { GITHUB_TOKEN: undefined, GITHUB_APP_ID: "1" },
      "worker",
      /GITHUB_APP_PRIVATE_KEY: required/,
    ],
    ["a bad port", { PORT: "http" }, "worker", /PORT: expected a TCP port/],
    ["a bad log level", { LOG_LEVEL: "loud" }, "cli", /LOG_LEVEL: expected debug, info, warn or error/],
    ["a bad Redis URL", { REDIS_URL: "localhost:6379" }, "cli", /REDIS_URL: expected redis:\/\//],
    [
      "an unreadable secret file",
      { GITHUB_TOKEN: undefined, GITHUB_TOKEN_FILE: "/nonexistent" },
      "cli",
      /GITHUB_TOKEN_FILE: cannot read/,
    ],
  ])("refuses %s", (_, change, role, expected) => {
    expect(() => readEnv({ ...base, ...change }, role)).toThrow(expected);
  });

  it("lets a worker run without the signing secret, and even without the bot token", () => {
    expect(
      readEnv({ GITHUB_TOKEN: "ghp_x123", SLACK_BOT_TOKEN: "xoxb-2" }, "worker").slack.signingSecret,
    ).toBeUndefined();
    expect(readEnv({ GITHUB_TOKEN: "ghp_x123" }, "worker").slack.botToken).toBeUndefined();
    expect(() => readEnv({ GITHUB_TOKEN: "ghp_x123" }, "bot")).toThrow(/SLACK_BOT_TOKEN: required/);
  });
});

describe("configuration: fields", () => {
  const parsed = (change: (c: Record<string, any>) => void) => parseConfig(withChange(change), source);

  it("says which file is not valid and lists each problem on its own line", () => {
    let err: unknown;
    try {
      parsed((c) => {
        c.volumes.maxSizeGi = 0;
        c.git.owner = "";
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).name).toBe("ConfigError");
    expect((err as Error).message).toBe(
      `${source} is not valid:\n  - volumes.maxSizeGi: must be at least 1\n  - git.owner: expected a GitHub user or organisation`,
    );
  });

  it("normalises absolute paths: no trailing or doubled slashes, the root kept", () => {
    const config = parsed((c) => {
      c.sites.primary.efs.mountPath = "/mnt//efs.d/primary//";
      c.sites.secondary.efs.mountPath = "/";
      c.volumes.rootDirectory = "/k8s_static-volumes/";
    });
    expect(config.sites.primary.efs.mountPath).toBe("/mnt/efs.d/primary");
    expect(config.sites.secondary.efs.mountPath).toBe("/");
    expect(config.volumes.rootDirectory).toBe("/k8s_static-volumes");
  });

  it.each([
    ["/mnt/./efs", "expected an absolute path without . or .. components, like /mnt/efs/primary"],
    ["/mnt/efs/..", "expected an absolute path without . or .. components, like /mnt/efs/primary"],
    ["/mnt/efs primary", "expected only letters, digits, '.', '_', '-' and '/'"],
    ["/mnt/€fs", "expected only letters, digits, '.', '_', '-' and '/'"],
  ])("refuses the mount path %j", (path, expected) => {
    expect(problemsOf(withChange((c) => (c.sites.primary.efs.mountPath = path)))).toEqual([
      `sites.primary.efs.mountPath: ${expected}`,
    ]);
  });

  it("accepts a nested relative Git folder with dots in its names", () => {
    expect(parsed((c) => (c.git.directory = "dr/PV.PVCs")).git.directory).toBe("dr/PV.PVCs");
  });

  it.each([
    ["PV-PVCs/../etc", "expected a relative folder like PV-PVCs, without . or .. components"],
    ["./PV-PVCs", "expected a relative folder like PV-PVCs, without . or .. components"],
    ["PV-PVCs/", "expected a relative folder like PV-PVCs, without . or .. components"],
    ["PV//PVCs", "expected a relative folder like PV-PVCs, without . or .. components"],
    ["PV PVCs/x", "expected only letters, digits, '.', '_', '-' and '/'"],
  ])("refuses the Git folder %j", (directory, expected) => {
    expect(problemsOf(withChange((c) => (c.git.directory = directory)))).toEqual([
      `git.directory: ${expected}`,
    ]);
  });

  it("refuses a zero duration", () => {
    expect(problemsOf(withChange((c) => (c.approvals.failover.expiresAfter = "0s")))).toEqual([
      'approvals.failover.expiresAfter: expected a duration like 90s, 30m or 2h, got "0s"',
    ]);
  });

  it("accepts namespace names and prefixes for a tenant, and refuses anything else", () => {
    const config = parsed((c) => (c.volumes.tenants.sales.namespaces = ["shop-prod", "shop-*"]));
    expect(config.volumes.tenants.sales?.namespaces).toEqual(["shop-prod", "shop-*"]);
    const problems = problemsOf(
      withChange(
        (c) => (c.volumes.tenants.sales.namespaces = ["shop-prod", "Shop", "*-shop", "shop-**", "sh_op-*"]),
      ),
    );
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(
      /^volumes\.tenants\.sales\.namespaces\.1: namespace "Shop" .* \(a name, or a prefix like shop-\*\)$/,
    );
    expect(problems[1]).toMatch(
      /^volumes\.tenants\.sales\.namespaces\.2: namespace "\*-shop" .* \(a name, or a prefix like shop-\*\)$/,
    );
    expect(problems[2]).toMatch(/^volumes\.tenants\.sales\.namespaces\.3: namespace "shop-\*\*" /);
    // The prefix before -* is checked whole.
    expect(problems[3]).toMatch(/^volumes\.tenants\.sales\.namespaces\.4: namespace "sh_op" /);
    expect(problemsOf(withChange((c) => (c.volumes.tenants.sales.namespaces = [])))).toEqual([
      "volumes.tenants.sales.namespaces: needs at least 1 entries",
    ]);
  });

  it("counts failover approvers: enough users, or any group", () => {
    expect(
      parsed((c) => (c.approvals.failover.approvers = { users: ["U0APR1", "U0APR2"] })).approvals.failover
        .approvers,
    ).toEqual({ users: ["U0APR1", "U0APR2"], groups: [] });
    expect(
      parsed((c) => (c.approvals.failover.approvers = { users: ["U0APR1"], groups: ["S0SRE"] })).approvals
        .failover.approvers.groups,
    ).toEqual(["S0SRE"]);
    expect(
      problemsOf(
        withChange((c) => {
          c.approvals.failover.required = 3;
          c.approvals.failover.approvers = { users: ["U0APR1", "U0APR2"] };
        }),
      ),
    ).toEqual([
      "approvals.failover.approvers: lists 2 user(s) and no group, but 3 distinct approvals are required",
    ]);
  });

  it("reads a drill schedule in cron form, and refuses what is not one", () => {
    expect(parsed((c) => (c.drills.schedule = "0 6 * * 1")).drills.schedule).toBe("0 6 * * 1");
    expect(parsed((c) => (c.drills.schedule = "0 0 6 * * 1")).drills.schedule).toBe("0 0 6 * * 1");
    expect(parsed(() => {}).drills.schedule).toBeUndefined();
    for (const schedule of ["every monday", "0 6 * *", " 0 6 * *", "0  6 * *", "6"]) {
      expect(problemsOf(withChange((c) => (c.drills.schedule = schedule))), schedule).toEqual([
        'drills.schedule: expected a cron expression (UTC), like "0 6 * * 1"',
      ]);
    }
  });

  it("fills volume deletion approvals from the failover approvers: one, within a day", () => {
    const config = parsed((c) => delete c.approvals.volumeDelete);
    expect(config.approvals.volumeDelete).toEqual({
      required: 1,
      approvers: config.approvals.failover.approvers,
      expiresAfter: 24 * 3_600_000,
    });
  });

  it("keeps volume deletion approvals that are set", () => {
    const config = parsed(
      (c) =>
        (c.approvals.volumeDelete = { required: 2, approvers: { groups: ["S0OPS"] }, expiresAfter: "2h" }),
    );
    expect(config.approvals.volumeDelete).toEqual({
      required: 2,
      approvers: { users: [], groups: ["S0OPS"] },
      expiresAfter: 2 * 3_600_000,
    });
    expect(parsed((c) => (c.approvals.volumeDelete = { required: 3 })).approvals.volumeDelete).toEqual({
      required: 3,
      approvers: { users: ["U0APR1", "U0APR2"], groups: ["S0SRE"] },
      expiresAfter: 86_400_000,
    });
  });

  it("names the reason a file cannot be read", () => {
    const dir = mkdtempSync(join(tmpdir(), "drbot-config-"));
    expect(() => loadConfig(dir)).toThrow(`${dir} is not valid:\n  - cannot read the file (EISDIR)`);
  });

  it("refuses duplicate keys, naming the line, on one line", () => {
    const problems = problemsOf(`${example}\ngit:\n  owner: other\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^not valid YAML at line \d+: Map keys must be unique/);
    expect(problems[0]).not.toContain("\n");
  });

  it.each(["", "just text", "42"])("refuses a file that is not a mapping: %j", (text) => {
    expect(problemsOf(text)).toEqual(["expected a YAML mapping with sites, volumes, git and approvals"]);
  });

  it("reads a template at an absolute path", () => {
    const dir = mkdtempSync(join(tmpdir(), "drbot-config-"));
    const path = join(dir, "abs.yaml");
    writeFileSync(
      path,
      readFileSync(new URL("../../templates/pv-pvc.efs-csi.yaml", import.meta.url), "utf8"),
    );
    expect(parsed((c) => (c.volumes.template = path)).template.path).toBe(path);
  });

  it("finds secrets given as numbers or under any secret-like key, but not mappings named so", () => {
    expect(problemsOf(withChange((c) => (c.git.password = 123456)))).toEqual([
      expect.stringMatching(/^git\.password: secrets are not read from the configuration file/),
    ]);
    expect(problemsOf(withChange((c) => (c.git.token = { fromEnv: "GITHUB_TOKEN" })))).toEqual([
      "git.token: is not a known setting (check the spelling)",
    ]);
  });

  it.each<[string, (c: Record<string, any>) => void, string]>([
    ["an empty value", (c) => (c.channels = null), "channels: expected a list"],
    [
      "a string for a list",
      (c) => (c.volumes.tenants.sales.requesters.users = "U0REQ1"),
      "volumes.tenants.sales.requesters.users: expected a list",
    ],
    ["a list for a mapping", (c) => (c.git = []), "git: expected a mapping"],
    ["a word for a number", (c) => (c.volumes.maxSizeGi = "big"), "volumes.maxSizeGi: expected a number"],
    ["a missing setting", (c) => delete c.git.owner, "git.owner: is required (expected a string)"],
    [
      "a number too big",
      (c) => (c.volumes.maxSizeGi = 2_000_000),
      "volumes.maxSizeGi: must be at most 1048576",
    ],
    [
      "an empty string",
      (c) => (c.sites.primary.cluster.kubeconfig = ""),
      "sites.primary.cluster.kubeconfig: must not be empty",
    ],
  ])("explains %s plainly", (_, change, expected) => {
    expect(problemsOf(withChange(change))).toEqual([expected]);
  });

  it("says how long a string may be", () => {
    expect(
      problemsOf(withChange((c) => (c.sites.primary.efs.hostname = `${"a".repeat(250)}.com`))),
    ).toContain("sites.primary.efs.hostname: is longer than 253 characters");
  });

  it("lists several unknown keys of one mapping", () => {
    expect(
      problemsOf(
        withChange((c) => {
          c.git.reop = "x";
          c.git.ownr = "y";
        }),
      ),
    ).toEqual([
      "git.reop: is not a known setting (check the spelling)\n  - git.ownr: is not a known setting (check the spelling)",
    ]);
  });
});
