// drbot.yaml: parsed and validated once at start-up, before any connection is opened. A bad
// file stops start-up with every problem listed as `field.path: what is expected`.

import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CronExpressionParser } from "cron-parser";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { type ManifestTemplate, parseTemplate } from "./manifests.ts";
import { labelProblem } from "./names.ts";

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`${source} is not valid:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

const SECRET_KEY = /token|secret|password|passwd|private.?key|credential|access.?key/i;

const label = (what: string) =>
  z.string().superRefine((value, ctx) => {
    const problem = labelProblem(what, value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const absolutePath = z
  .string()
  .refine((p) => p.startsWith("/") && p.split("/").every((s) => s !== "." && s !== ".."), {
    error: "expected an absolute path without . or .. components, like /mnt/efs/primary",
  })
  .refine((p) => /^[A-Za-z0-9._/-]+$/.test(p), {
    error: "expected only letters, digits, '.', '_', '-' and '/'",
  })
  .transform((p) => (p.length > 1 ? p.replace(/\/+$/, "").replace(/\/{2,}/g, "/") : p));

const relativeDirectory = z
  .string()
  .refine((p) => !p.startsWith("/") && p.split("/").every((s) => s !== "" && s !== "." && s !== ".."), {
    error: "expected a relative folder like PV-PVCs, without . or .. components",
  })
  .refine((p) => /^[A-Za-z0-9._/-]+$/.test(p), {
    error: "expected only letters, digits, '.', '_', '-' and '/'",
  });

const DAY = 86_400_000;

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: "custom", message: `expected a duration like 90s, 30m or 2h, got "${text}"` });
    return z.NEVER;
  }
  return ms;
});

const slackUser = z
  .string()
  .regex(/^[UW][A-Z0-9]{2,}$/, { error: "expected a Slack user id like U012ABCDEF" });
const slackGroup = z
  .string()
  .regex(/^S[A-Z0-9]{2,}$/, { error: "expected a Slack user-group id like S012ABCDEF" });
const slackChannel = z
  .string()
  .regex(/^[CGD][A-Z0-9]{2,}$/, { error: "expected a Slack channel id like C012ABCDEF" });

const principals = z.strictObject({
  users: z.array(slackUser).default([]),
  groups: z.array(slackGroup).default([]),
});
export type Principals = z.output<typeof principals>;

const efsSite = z.strictObject({
  fileSystemId: z
    .string()
    .regex(/^fs-([0-9a-f]{8}|[0-9a-f]{17})$/, { error: "expected fs-xxxxxxxx (8 or 17 hex digits)" }),
  region: z
    .string()
    .regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$/, { error: "expected an AWS region like us-east-1" }),
  hostname: z
    .string()
    .max(253)
    .regex(/^(?=.{1,253}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
      error: "expected a DNS name like fs-0aaa1111.efs.us-east-1.amazonaws.com",
    }),
  mountPath: absolutePath,
});

const site = z.strictObject({
  cluster: z.strictObject({
    name: label("cluster name"),
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
  }),
  efs: efsSite,
});
export type SiteConfig = z.output<typeof site>;

/** `shop-prod` or a prefix pattern `shop-*`: namespaces a tenant may put volumes in. */
const namespacePattern = z.string().superRefine((value, ctx) => {
  const name = value.endsWith("-*") ? value.slice(0, -2) : value;
  const problem = labelProblem("namespace", name);
  if (problem) ctx.addIssue({ code: "custom", message: `${problem} (a name, or a prefix like shop-*)` });
});

const tenant = z.strictObject({
  requesters: principals.default({ users: [], groups: [] }),
  /** Optional limits, checked at admission against what Git records. */
  quota: z
    .strictObject({
      volumes: z.number().int().min(0).optional(),
      totalGi: z.number().int().min(0).optional(),
    })
    .optional(),
  /** Optional allow-list of namespaces (names or `prefix-*`); unset: any non-system namespace. */
  namespaces: z.array(namespacePattern).min(1).optional(),
});
export type TenantConfig = z.output<typeof tenant>;

const schema = z
  .strictObject({
    sites: z.strictObject({ primary: site, secondary: site }),
    volumes: z.strictObject({
      rootDirectory: absolutePath,
      template: z.string().min(1).default("templates/pv-pvc.nfs.yaml"),
      maxSizeGi: z.number().int().min(1).max(1_048_576).default(1024),
      directory: z
        .strictObject({
          mode: z
            .string({ error: 'expected an octal mode in quotes, like "0770"' })
            .regex(/^0?[0-7]{3}$/, { error: 'expected an octal mode in quotes, like "0770"' })
            .transform((m) => Number.parseInt(m, 8)),
          uid: z.number().int().min(0).max(4_294_967_294),
          gid: z.number().int().min(0).max(4_294_967_294),
        })
        .default({ mode: 0o770, uid: 0, gid: 0 } as never),
      /** How long a deleted volume's directory stays in the trash before it is purged. */
      trashRetention: duration.default((30 * DAY) as never),
      tenants: z.record(z.string(), tenant).superRefine((tenants, ctx) => {
        for (const name of Object.keys(tenants)) {
          const problem = labelProblem("business unit", name);
          if (problem) ctx.addIssue({ code: "custom", path: [name], message: problem });
        }
      }),
    }),
    git: z.strictObject({
      apiUrl: z
        .url({ protocol: /^https?$/, error: "expected an http(s) URL" })
        .default("https://api.github.com"),
      owner: z
        .string()
        .regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,38})$/, { error: "expected a GitHub user or organisation" }),
      repo: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, { error: "expected a repository name" }),
      branch: z
        .string()
        .regex(/^(?!.*\.\.)(?!\/)(?!.*\/$)[A-Za-z0-9._/-]{1,200}$/, { error: "expected a branch name" })
        .default("main"),
      directory: relativeDirectory.default("PV-PVCs"),
    }),
    approvals: z.strictObject({
      failover: z
        .strictObject({
          required: z
            .number()
            .int()
            .min(2, { error: "must be at least 2: a failover always needs two distinct approvers" })
            .max(10)
            .default(2),
          approvers: principals,
          requesters: principals.optional(),
          expiresAfter: duration.default((30 * 60_000) as never),
        })
        .superRefine((f, ctx) => {
          if (f.approvers.groups.length === 0 && f.approvers.users.length < f.required) {
            ctx.addIssue({
              code: "custom",
              path: ["approvers"],
              message: `lists ${f.approvers.users.length} user(s) and no group, but ${f.required} distinct approvals are required`,
            });
          }
        }),
      /** Deleting a volume: `required` >= 1; approvers default to the failover approvers. */
      volumeDelete: z
        .strictObject({
          required: z
            .number()
            .int()
            .min(1, { error: "must be at least 1: deleting a volume always needs an approval" })
            .max(10)
            .default(1),
          approvers: principals.optional(),
          expiresAfter: duration.default((24 * 3_600_000) as never),
        })
        .optional(),
      volumeCreate: z
        .strictObject({
          // Approval of volume requests is not supported yet: refuse a setting that would
          // silently do nothing rather than pretend volumes are being approved.
          required: z
            .number()
            .int()
            .min(0)
            .max(0, { error: "must be 0: approval of volume requests is not supported yet" })
            .default(0),
          approvers: principals.optional(),
          expiresAfter: duration.default((30 * 60_000) as never),
        })
        .default({ required: 0, expiresAfter: 30 * 60_000 } as never),
    }),
    channels: z.array(slackChannel).default([]),
    failover: z
      .strictObject({
        /** How long the secondary may take to become writable after replication is stopped. */
        writableTimeout: duration.default((15 * 60_000) as never),
        /** How long restored claims may take to bind before they are reported. */
        bindTimeout: duration.default((5 * 60_000) as never),
        /** Objects applied to the secondary cluster at once. */
        applyConcurrency: z.number().int().min(1).max(256).default(32),
      })
      .default({ writableTimeout: 15 * 60_000, bindTimeout: 5 * 60_000, applyConcurrency: 32 } as never),
    dr: z
      .strictObject({
        /** Replication lag above this: alert, drill check fails, switchover refused. */
        rpoObjective: duration.default((30 * 60_000) as never),
        /** Where protection alerts, scheduled drills and reminders go; unset: none of them. */
        alertChannel: slackChannel.optional(),
        watchInterval: duration.default(60_000 as never),
        /** Most data a re-protect copies into .drbot-rescued; beyond it the plan says what is left. */
        rescueLimitGi: z.number().min(0).max(1_048_576).default(10),
        reprotectTimeout: duration.default((2 * 3_600_000) as never),
        stopWritersTimeout: duration.default((10 * 60_000) as never),
        syncTimeout: duration.default((30 * 60_000) as never),
      })
      .prefault({}),
    drills: z
      .strictObject({
        /** Cron expression (UTC) for scheduled drills; unset: only on demand. */
        schedule: z
          .string()
          .min(1)
          .refine(isCron, { error: 'expected a cron expression (UTC), like "0 6 * * 1"' })
          .optional(),
        /** A reminder goes to the alert channel when no drill succeeded for this long. */
        maxAge: duration.default((30 * DAY) as never),
        checksumSample: z.number().int().min(0).max(100_000).default(200),
      })
      .prefault({}),
    audit: z.strictObject({ retention: duration.default((400 * DAY) as never) }).prefault({}),
  })
  .superRefine((c, ctx) => {
    const { primary, secondary } = c.sites;
    if (primary.efs.fileSystemId === secondary.efs.fileSystemId) {
      ctx.addIssue({
        code: "custom",
        path: ["sites", "secondary", "efs", "fileSystemId"],
        message: "must differ from the primary's file system",
      });
    }
    if (primary.cluster.name === secondary.cluster.name) {
      ctx.addIssue({
        code: "custom",
        path: ["sites", "secondary", "cluster", "name"],
        message: "must differ from the primary cluster's name",
      });
    }
  });

function isCron(text: string): boolean {
  try {
    CronExpressionParser.parse(text, { tz: "UTC" });
    return text.trim().split(/\s+/).length >= 5;
  } catch {
    return false;
  }
}

type ParsedFile = z.output<typeof schema>;
export type VolumeDeletePolicy = { required: number; approvers: Principals; expiresAfter: number };

/** The file as drbot uses it: defaults that depend on other settings are filled in. */
export type ConfigFile = Omit<ParsedFile, "approvals"> & {
  approvals: Omit<ParsedFile["approvals"], "volumeDelete"> & { volumeDelete: VolumeDeletePolicy };
};

function withDerivedDefaults(file: ParsedFile): ConfigFile {
  const d = file.approvals.volumeDelete;
  return {
    ...file,
    approvals: {
      ...file.approvals,
      // Default: one approval from the failover approvers, within a day.
      volumeDelete: {
        required: d?.required ?? 1,
        approvers: d?.approvers ?? file.approvals.failover.approvers,
        expiresAfter: d?.expiresAfter ?? 24 * 3_600_000,
      },
    },
  };
}

export interface Config extends ConfigFile {
  /** Absolute path of the file it was loaded from. */
  source: string;
  /** The loaded PV/PVC template. */
  template: ManifestTemplate;
}

/** drbot's own templates/ folder, used when a template is not found beside the config file. */
export const BUILTIN_TEMPLATES = fileURLToPath(new URL("../../templates/", import.meta.url));

export function loadConfig(path: string): Config {
  const source = resolve(path);
  let text: string;
  try {
    text = readFileSync(source, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(source, [
      code === "ENOENT"
        ? `the file does not exist; set DRBOT_CONFIG or copy drbot.example.yaml to ${path}`
        : `cannot read the file (${code ?? String(err)})`,
    ]);
  }
  return parseConfig(text, source);
}

export function parseConfig(text: string, source: string): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : "";
    throw new ConfigError(source, [`not valid YAML${where}: ${(err as Error).message.split("\n")[0]}`]);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(source, ["expected a YAML mapping with sites, volumes, git and approvals"]);
  }
  const secrets = secretKeys(raw);
  if (secrets.length > 0) {
    throw new ConfigError(
      source,
      secrets.map(
        (p) =>
          `${p}: secrets are not read from the configuration file; remove it and set the environment variable (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, GITHUB_TOKEN, …) instead`,
      ),
    );
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.map(formatIssue));

  const templatePath = resolveTemplate(parsed.data.volumes.template, dirname(source));
  let template: ManifestTemplate;
  try {
    template = parseTemplate(readFileSync(templatePath, "utf8"), templatePath);
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === "ENOENT" ? "the file does not exist" : (err as Error).message;
    throw new ConfigError(source, [`volumes.template: ${parsed.data.volumes.template}: ${reason}`]);
  }
  return { ...withDerivedDefaults(parsed.data), source, template };
}

/** A relative template path is looked up beside the config file, then in drbot's templates/. */
function resolveTemplate(template: string, configDir: string): string {
  if (isAbsolute(template)) return template;
  const beside = join(configDir, template);
  try {
    readFileSync(beside);
    return beside;
  } catch {
    const builtin = template.replace(/^templates\//, "");
    return join(BUILTIN_TEMPLATES, builtin);
  }
}

function secretKeys(value: unknown, path: string[] = []): string[] {
  if (value === null || typeof value !== "object") return [];
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const here = [...path, key];
    if (SECRET_KEY.test(key) && (typeof child === "string" || typeof child === "number"))
      found.push(here.join("."));
    else found.push(...secretKeys(child, here));
  }
  return found;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join(".") || "(top level)";
  switch (issue.code) {
    case "invalid_type": {
      if (!issue.message.startsWith("Invalid input")) return `${path}: ${issue.message}`;
      const missing = issue.message.endsWith("received undefined");
      return missing
        ? `${path}: is required (expected ${article(issue.expected)})`
        : `${path}: expected ${article(issue.expected)}`;
    }
    case "unrecognized_keys":
      return issue.keys
        .map(
          (k) =>
            `${path === "(top level)" ? k : `${path}.${k}`}: is not a known setting (check the spelling)`,
        )
        .join("\n  - ");
    case "too_small":
    case "too_big":
      return `${path}: ${issue.message.startsWith("Too") ? plainBound(issue) : issue.message}`;
    default:
      return `${path}: ${issue.message}`;
  }
}

function plainBound(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const bound = String(issue.code === "too_small" ? issue.minimum : issue.maximum);
  if (issue.origin === "array")
    return issue.code === "too_small" ? `needs at least ${bound} entries` : `allows at most ${bound} entries`;
  if (issue.origin === "string")
    return issue.code === "too_small" ? `must not be empty` : `is longer than ${bound} characters`;
  return issue.code === "too_small" ? `must be at least ${bound}` : `must be at most ${bound}`;
}

function article(expected: string): string {
  if (expected === "object") return "a mapping";
  if (expected === "array") return "a list";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}
