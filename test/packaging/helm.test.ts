// Static checks of the Helm chart (no helm binary here): plain YAML is strict YAML, values match
// the schema and bad values are refused, every .Values path and include the templates use exists,
// template actions and blocks are balanced, each template's static skeleton is the Kubernetes
// object it should be, and the configuration the chart renders is one drbot itself accepts.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments, parseDocument, stringify } from "yaml";
import { parseConfig } from "../../src/core/config.ts";
import { readEnv } from "../../src/core/env.ts";

const chartDir = new URL("../../helm/drbot/", import.meta.url).pathname;
const templatesDir = join(chartDir, "templates");
const read = (path: string) => readFileSync(path, "utf8");
/** Errors and warnings of strict YAML parsing (duplicate keys are errors). */
function yamlProblems(file: string): string[] {
  const doc = parseDocument(read(file), { uniqueKeys: true, strict: true, prettyErrors: true });
  return [...doc.errors, ...doc.warnings].map((e) => `${file}: ${e.message}`);
}

/** Lenient parse for the other tests; yamlProblems reports duplicate keys and other strictness. */
const loadYaml = (file: string): Record<string, any> =>
  parse(read(join(chartDir, file)), { uniqueKeys: false });
const values = loadYaml("values.yaml");
const exampleValues = loadYaml("ci/example-values.yaml");
const schema = JSON.parse(read(join(chartDir, "values.schema.json")));
const helpers = read(join(templatesDir, "_helpers.tpl"));
const templateFiles = readdirSync(templatesDir).filter((f) => f.endsWith(".yaml"));
const templates = Object.fromEntries(templateFiles.map((f) => [f, read(join(templatesDir, f))]));
const notes = read(join(templatesDir, "NOTES.txt"));
/** Every file Helm evaluates as a template. */
const allTemplateText: Record<string, string> = {
  ...templates,
  "_helpers.tpl": helpers,
  "NOTES.txt": notes,
};

// ---- Helm's value merge and the schema ----------------------------------------------------------

/** Helm's merge of a values file over the chart's: maps merge key by key, everything else replaces. */
function merge(base: any, over: any): any {
  if (!isMap(base) || !isMap(over)) return structuredClone(over);
  const out: Record<string, any> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : structuredClone(v);
  return out;
}
const isMap = (v: unknown): v is Record<string, any> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(schema);
function schemaErrors(v: unknown): string[] {
  if (validate(v)) return [];
  return (validate.errors ?? []).map(
    (e: ErrorObject) =>
      `${e.instancePath || "/"}${e.keyword === "required" ? `/${e.params.missingProperty}` : ""}: ${e.keyword}`,
  );
}
const withValues = (change: (v: Record<string, any>) => void) => {
  const v = merge(values, exampleValues);
  change(v);
  return v;
};

describe("plain YAML of the chart", () => {
  it("Chart.yaml is a v2 chart whose appVersion is drbot's package version", () => {
    const chart = parse(read(join(chartDir, "Chart.yaml")));
    const pkg = JSON.parse(read(new URL("../../package.json", import.meta.url).pathname));
    expect(chart).toMatchObject({ apiVersion: "v2", name: "drbot", type: "application" });
    expect(chart.appVersion).toBe(pkg.version);
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("Chart.yaml, values.yaml and ci/example-values.yaml parse strictly (no duplicate keys)", () => {
    const files = ["Chart.yaml", "values.yaml", "ci/example-values.yaml"].map((f) => join(chartDir, f));
    expect(files.flatMap(yamlProblems)).toEqual([]);
  });

  it("templates never create a Secret: secrets are only referenced", () => {
    for (const [file, text] of Object.entries(templates)) expect(text, file).not.toMatch(/kind:\s*Secret\b/);
  });
});

describe("values.schema.json", () => {
  it("accepts the chart's values with an operator's example values over them", () => {
    expect(schemaErrors(merge(values, exampleValues))).toEqual([]);
  });

  it.each([
    "redis://:pw@redis.drbot.svc:6379/0",
    "rediss://drbot-redis.abc123.ng.0001.usw2.cache.amazonaws.com:6379",
    "redis-sentinel://redis-node-0.redis-headless:26379,redis-node-1.redis-headless:26379,redis-node-2.redis-headless:26379/mymaster",
    "redis-cluster://redis-cluster-0.redis-cluster-headless:6379,redis-cluster-1.redis-cluster-headless:6379",
    "rediss-cluster://clustercfg.drbot.abc123.use1.cache.amazonaws.com:6379",
  ])("accepts the Redis URL %s, in a form drbot reads", (url) => {
    expect(schemaErrors(withValues((v) => (v.redis.url = url)))).toEqual([]);
    expect(() => readEnv({ REDIS_URL: url, GITHUB_TOKEN: "ghp_x123" }, "cli")).not.toThrow();
  });

  it("refuses the chart's values alone, naming exactly what has no default", () => {
    expect(schemaErrors(values).sort()).toEqual([
      "/config/approvals/failover/approvers: required",
      "/config/git/owner: required",
      "/config/git/repo: required",
      "/config/sites: required",
    ]);
  });

  it.each([
    ["a string where a boolean belongs", (v: any) => (v.slack.socketMode = "yes"), "/slack/socketMode: type"],
    ["negative replicas", (v: any) => (v.bot.replicas = -1), "/bot/replicas: minimum"],
    ["an unknown pull policy", (v: any) => (v.image.pullPolicy = "Sometimes"), "/image/pullPolicy: enum"],
    ["an unknown log level", (v: any) => (v.logLevel = "verbose"), "/logLevel: enum"],
    ["a misspelled top-level key", (v: any) => (v.replicaCount = 3), "/: additionalProperties"],
    [
      "a relative EFS mount path",
      (v: any) => (v.efs.primary.mountPath = "mnt/efs"),
      "/efs/primary/mountPath: anyOf",
    ],
    [
      "a bad file system id",
      (v: any) => (v.config.sites.secondary.efs.fileSystemId = "fs-zz"),
      "/config/sites/secondary/efs/fileSystemId: pattern",
    ],
    ["a non-Redis URL", (v: any) => (v.redis.url = "http://redis:6379"), "/redis/url: anyOf"],
    [
      "a Sentinel URL without sentinels",
      (v: any) => (v.redis.url = "redis-sentinel:///mymaster"),
      "/redis/url: anyOf",
    ],
    ["a worker lock under a second", (v: any) => (v.worker.lockMs = 10), "/worker/lockMs: minimum"],
    [
      "a failover needing one approver",
      (v: any) => (v.config.approvals.failover.required = 1),
      "/config/approvals/failover/required: minimum",
    ],
    [
      "an IRSA role that is not a role ARN",
      (v: any) => (v.serviceAccount.roleArn = "drbot-role"),
      "/serviceAccount/roleArn: anyOf",
    ],
  ])("refuses %s", (_what, change, expected) => {
    expect(schemaErrors(withValues(change))).toContain(expected);
  });
});

// ---- template actions ---------------------------------------------------------------------------

/** `{{ … }}` actions of a template, comments included, with their inner text. */
function actionsOf(text: string): string[] {
  return [...text.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)].map((m) => m[1] as string);
}
const isComment = (action: string) => action.startsWith("/*");

describe("template syntax", () => {
  it.each(Object.keys(allTemplateText))("%s: {{ and }} pair up, never nested", (file) => {
    const text = allTemplateText[file] as string;
    let open = false;
    for (const [i, token] of [...text.matchAll(/\{\{|\}\}/g)].map((m, i) => [i, m[0]] as const)) {
      expect(token === "{{" ? !open : open, `${file}: token #${i} ${token}`).toBe(true);
      open = token === "{{";
    }
    expect(open, `${file}: unclosed {{`).toBe(false);
  });

  it.each(Object.keys(allTemplateText))("%s: if/range/with/define blocks are closed by end", (file) => {
    const stack: string[] = [];
    for (const action of actionsOf(allTemplateText[file] as string).filter((a) => !isComment(a))) {
      const word = /^(\w+)/.exec(action)?.[1];
      if (word && ["if", "range", "with", "define", "block"].includes(word)) stack.push(action);
      else if (word === "else") expect(stack.length, `${file}: else outside a block`).toBeGreaterThan(0);
      else if (word === "end") expect(stack.pop(), `${file}: end without a block`).toBeDefined();
    }
    expect(stack, `${file}: unclosed blocks`).toEqual([]);
  });

  it("every include names a define of _helpers.tpl, and every define is used", () => {
    const defined = [...helpers.matchAll(/define "([^"]+)"/g)].map((m) => m[1]);
    const included = new Set(
      Object.values(allTemplateText).flatMap((t) =>
        [...t.matchAll(/(?:include|template) "([^"]+)"/g)].map((m) => m[1]),
      ),
    );
    for (const name of included) expect(defined, `include "${name}"`).toContain(name);
    for (const name of defined) expect(included.has(name), `define "${name}" is never used`).toBe(true);
  });

  it("every .Values path the templates read exists in values.yaml", () => {
    // config.sites and a few other config keys have no default; they come from the operator.
    const known = merge(values, exampleValues);
    const missing: string[] = [];
    for (const [file, text] of Object.entries(allTemplateText)) {
      for (const action of actionsOf(text).filter((a) => !isComment(a))) {
        for (const m of action.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
          const path = (m[1] as string).slice(1).split(".");
          let node: any = known;
          for (const key of path) {
            if (!isMap(node) || !(key in node)) {
              missing.push(`${file}: .Values.${path.join(".")}`);
              break;
            }
            node = node[key];
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("values read through index (per site, per component) have the same keys for each", () => {
    expect(Object.keys(values.kubeconfigs.primary)).toEqual(["inCluster", "existingSecret", "key"]);
    expect(Object.keys(values.kubeconfigs.secondary)).toEqual(Object.keys(values.kubeconfigs.primary));
    expect(Object.keys(values.efs.primary)).toEqual(["enabled", "server", "mountPath"]);
    expect(Object.keys(values.efs.secondary)).toEqual(Object.keys(values.efs.primary));
    for (const component of ["bot", "worker"]) {
      expect(values[component]).toHaveProperty("replicas");
      expect(values[component].pdb).toEqual({ enabled: true, maxUnavailable: 1 });
    }
  });
});

// ---- skeletons: the static YAML of each template, with its actions taken out --------------------

/**
 * The template with its actions replaced: lines holding only actions (block control, `include …
 * | nindent`) go, an action inside a line becomes `x`. Both branches of an if/else stay, so keys may
 * repeat; what is checked is the YAML structure around the actions and the objects' kinds.
 */
function skeleton(text: string): string {
  const withoutComments = text.replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, "");
  return withoutComments
    .split("\n")
    .filter((line) => line.replace(/\{\{[\s\S]*?\}\}/g, "").trim() !== "" || !line.includes("{{"))
    .map((line) => line.replace(/\{\{[\s\S]*?\}\}/g, "x"))
    .join("\n");
}

function objectsOf(file: string): any[] {
  const docs = parseAllDocuments(skeleton(templates[file] as string), { uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list)
    expect(
      d.errors.map((e) => e.message),
      file,
    ).toEqual([]);
  return list.map((d) => d.toJS()).filter((o) => o !== null);
}

/** The body of a define in _helpers.tpl, as a skeleton. */
function helperSkeleton(name: string): any {
  const m = new RegExp(
    `\\{\\{- define "${name.replace(".", "\\.")}" -\\}\\}\\n([\\s\\S]*?)\\n\\{\\{- end -\\}\\}`,
  ).exec(helpers);
  expect(m, `define "${name}"`).not.toBeNull();
  return parse(skeleton(m![1] as string), { uniqueKeys: false });
}

const EXPECTED_KINDS: Record<string, string[]> = {
  "bot-deployment.yaml": ["apps/v1 Deployment"],
  "worker-deployment.yaml": ["apps/v1 Deployment"],
  "configmap.yaml": ["v1 ConfigMap"],
  "serviceaccount.yaml": ["v1 ServiceAccount"],
  "service.yaml": ["v1 Service"],
  "ingress.yaml": ["networking.k8s.io/v1 Ingress"],
  "pdb.yaml": ["policy/v1 PodDisruptionBudget"],
  "networkpolicy.yaml": ["networking.k8s.io/v1 NetworkPolicy", "networking.k8s.io/v1 NetworkPolicy"],
  "rbac.yaml": [
    "rbac.authorization.k8s.io/v1 ClusterRole",
    "rbac.authorization.k8s.io/v1 ClusterRoleBinding",
  ],
  "redis.yaml": ["v1 Service", "apps/v1 StatefulSet"],
};

describe("template skeletons", () => {
  it("every template file is one the tests know", () => {
    expect(templateFiles.sort()).toEqual(Object.keys(EXPECTED_KINDS).sort());
  });

  it.each(Object.keys(EXPECTED_KINDS))("%s is valid YAML of the expected kinds", (file) => {
    const objects = objectsOf(file);
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(EXPECTED_KINDS[file]);
    for (const o of objects) expect(o.metadata?.name, `${file} ${o.kind}`).toBeTruthy();
  });

  it.each([
    ["bot", "bot-deployment.yaml"],
    ["worker", "worker-deployment.yaml"],
  ])("the %s Deployment runs `drbot %s` with probes, a read-only root and a writable /tmp", (role, file) => {
    const [deployment] = objectsOf(file);
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(container.args).toEqual([role]);
    expect(container.ports).toEqual([{ name: "http", containerPort: "x", protocol: "TCP" }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(deployment.spec.selector.matchLabels["app.kubernetes.io/component"]).toBe(role);
    expect(deployment.spec.template.metadata.labels["app.kubernetes.io/component"]).toBe(role);
    expect(deployment.spec.template.metadata.annotations).toHaveProperty("checksum/config");
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    expect(volumes.tmp.emptyDir).toBeDefined();
    expect(volumes.config.configMap).toBeDefined();
  });

  it("the worker mounts the EFS roots over NFS at / and the kubeconfigs read-only", () => {
    const [deployment] = objectsOf("worker-deployment.yaml");
    const pod = deployment.spec.template.spec;
    const nfs = pod.volumes.filter((v: any) => v.nfs);
    expect(nfs).toEqual([{ name: "efs-x", nfs: { server: "x", path: "/" } }]);
    const kubeconfig = pod.volumes.find((v: any) => v.secret);
    expect(kubeconfig.secret.items).toEqual([{ key: "x", path: "kubeconfig" }]);
    const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === "kubeconfig-x");
    expect(mount).toMatchObject({ subPath: "kubeconfig", readOnly: true });
    const env = pod.containers[0].env.map((e: any) => e.name);
    expect(env).toEqual(["DRBOT_WORKER_CONCURRENCY", "DRBOT_WORKER_LOCK_MS"]);
  });

  it("the bot takes the signing secret (HTTP mode) or the app token (Socket Mode) from the Secret", () => {
    const [deployment] = objectsOf("bot-deployment.yaml");
    const env = deployment.spec.template.spec.containers[0].env;
    expect(env.map((e: any) => e.name)).toEqual([
      "SLACK_APP_TOKEN",
      "SLACK_SIGNING_SECRET",
      "DRBOT_DASHBOARD_PATH",
      "DRBOT_DASHBOARD_USER",
      "DRBOT_DASHBOARD_PASSWORD",
    ]);
    for (const e of env.filter((x: any) => /TOKEN|SECRET|PASSWORD/.test(x.name))) {
      expect(e.valueFrom.secretKeyRef).toEqual({ name: "x", key: "x" });
    }
  });

  it("the shared environment names only variables drbot reads, and secrets only by reference", () => {
    const shared = helperSkeleton("drbot.env") as any[];
    const bot = objectsOf("bot-deployment.yaml")[0].spec.template.spec.containers[0].env;
    const worker = objectsOf("worker-deployment.yaml")[0].spec.template.spec.containers[0].env;
    const all = [...shared, ...bot, ...worker];
    const envSource = read(new URL("../../src/core/env.ts", import.meta.url).pathname);
    const known = new Set(
      [...envSource.matchAll(/env\.([A-Z][A-Z0-9_]*)|(?:secret|integer)\("([A-Z][A-Z0-9_]*)"/g)].map(
        (m) => m[1] ?? m[2],
      ),
    );
    // REDIS_PASSWORD only feeds $(REDIS_PASSWORD) in the bundled Redis's URL.
    for (const e of all) if (e.name !== "REDIS_PASSWORD") expect(known, e.name).toContain(e.name);
    for (const e of all) {
      if (/TOKEN|SECRET|PASSWORD/.test(e.name)) {
        expect(e.value, e.name).toBeUndefined();
        expect(e.valueFrom.secretKeyRef, e.name).toEqual({ name: "x", key: "x" });
      }
    }
    expect(new Set(shared.map((e) => e.name))).toEqual(
      new Set([
        "DRBOT_CONFIG",
        "PORT",
        "LOG_LEVEL",
        "DRBOT_REDIS_PREFIX",
        "SLACK_BOT_TOKEN",
        "GITHUB_TOKEN",
        "REDIS_PASSWORD",
        "REDIS_URL",
      ]),
    );
  });

  it("the Ingress exposes /slack/events and nothing else", () => {
    const [ingress] = objectsOf("ingress.yaml");
    const paths = ingress.spec.rules.flatMap((r: any) => r.http.paths);
    expect(paths.map((p: any) => [p.path, p.pathType])).toEqual([["/slack/events", "Exact"]]);
  });

  it("the NetworkPolicy admits only port 3000-style traffic to drbot and leaves egress open", () => {
    const [drbot, redis] = objectsOf("networkpolicy.yaml");
    expect(drbot.spec.policyTypes).toEqual(["Ingress"]);
    expect(drbot.spec.ingress).toHaveLength(1);
    expect(drbot.spec.ingress[0].ports).toEqual([{ port: "x", protocol: "TCP" }]);
    expect(drbot.spec.podSelector.matchExpressions[0].values).toEqual(["bot", "worker"]);
    expect(redis.spec.ingress[0].ports).toEqual([{ port: 6379, protocol: "TCP" }]);
  });

  it("the bundled Redis keeps an append-only file on a claim and never evicts", () => {
    const [, sts] = objectsOf("redis.yaml");
    const args = sts.spec.template.spec.containers[0].args;
    expect(args.slice(0, 2)).toEqual(["--appendonly", "yes"]);
    expect(args).toContain("noeviction");
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    expect(sts.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it("the in-cluster ClusterRole grants what docs/operations.md lists, nothing more", () => {
    const [role] = objectsOf("rbac.yaml");
    const docs = read(new URL("../../docs/operations.md", import.meta.url).pathname);
    const documented = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .flatMap((m) => parseAllDocuments(m[1] as string).map((d) => d.toJS()))
      .find((o) => o?.kind === "ClusterRole");
    expect(role.rules).toEqual(documented.rules);
  });
});

// ---- the configuration the chart renders --------------------------------------------------------

/** What "drbot.config" renders: .Values.config with each site's kubeconfig path filled in. */
function renderedConfig(v: Record<string, any>): string {
  const config = structuredClone(v.config);
  for (const site of ["primary", "secondary"]) {
    const kc = v.kubeconfigs[site];
    const cluster = config.sites[site].cluster;
    if (kc.inCluster) delete cluster.kubeconfig;
    else cluster.kubeconfig ??= `/etc/drbot/kubeconfigs/${site}`;
  }
  return stringify(config);
}

describe("the rendered drbot.yaml", () => {
  it("is accepted by drbot's own configuration loader", () => {
    const config = parseConfig(renderedConfig(merge(values, exampleValues)), "/etc/drbot/drbot.yaml");
    expect(config.sites.primary.cluster.kubeconfig).toBe("/etc/drbot/kubeconfigs/primary");
    expect(config.volumes.directory).toMatchObject({ uid: 10001, gid: 10001 });
  });

  it("gives new directories the non-root worker's own uid/gid by default (the chart's guard)", () => {
    const v = merge(values, exampleValues);
    expect(v.worker.chownAsRoot).toBe(false);
    expect(v.config.volumes.directory.uid).toBe(v.podSecurityContext.runAsUser);
    expect(v.config.volumes.directory.gid).toBe(v.podSecurityContext.runAsGroup);
    expect(v.podSecurityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(v.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
  });
});
