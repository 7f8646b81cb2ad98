// A whole drbot world for integration tests: every outside system as a wire-faithful fake, a
// configuration pointing at them, and drbot itself started in-process on a free port against the
// run's real Redis with a random key prefix.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { Queue } from "bullmq";
import { Cluster } from "ioredis";
import { parse, stringify } from "yaml";
import { loadConfig } from "../../src/core/config.ts";
import { openRedis, type RedisClient, type RedisLink } from "../../src/core/redis.ts";
import type { JobEnvelope } from "../../src/core/steps.ts";
import { renderVolume, volumeGitPath } from "../../src/core/volumes.ts";
import { createQueue, type JobKind } from "../../src/jobs/queues.ts";
import { DEFAULT_EFS_CREDENTIALS, type FakeEfs, startFakeEfs } from "../../src/sandbox/stand-ins/efs.ts";
import { type FakeGitHub, startFakeGitHub } from "../../src/sandbox/stand-ins/github.ts";
import { type FakeKube, startFakeKube } from "../../src/sandbox/stand-ins/kube.ts";
import { type FakeSlack, type SendResult, startFakeSlack } from "../../src/sandbox/stand-ins/slack.ts";
import { type Role, type Service, type ServiceOptions, startService } from "../../src/service.ts";
import { documentedClusterRole } from "./documented-rbac.ts";
import { freePort } from "./free-port.ts";

export const USERS = {
  requester: "U0REQ1",
  groupRequester: "U0REQ2",
  stranger: "U0NOPE",
  approver1: "U0APR1",
  approver2: "U0APR2",
  sre: "U0SRE1",
  incident: "U0INC1",
} as const;
export const CHANNEL = "C0DRBOT";
export const FS = { primary: "fs-0aaa1111", secondary: "fs-0bbb2222" } as const;

const BOT_TOKEN = "xoxb-test-bot-token-0001";
const SIGNING_SECRET = "test-signing-secret-0001";
const GITHUB_TOKEN = "ghp_testtoken0000000000000000000001";

export interface SpawnedDrbot {
  role: Role;
  url: string;
  child: ChildProcess;
  peakRssMb(): Promise<number>;
  rssMb(): Promise<number>;
  stop(): Promise<void>;
}

const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

export interface WorldOptions {
  configure?: (config: Record<string, any>) => void;
  replicationLagSeconds?: number;
}

export class World {
  readonly dir: string;
  readonly slack: FakeSlack;
  readonly efs: FakeEfs;
  readonly kube: { primary: FakeKube; secondary: FakeKube };
  readonly github: FakeGitHub;
  readonly redisUrl: string;
  /** DRBOT_REDIS_PREFIX of this world's drbot. */
  readonly prefix: string;
  /** The prefix its keys really start with: `prefix`, hash-tagged (`{prefix}`) on a Redis Cluster. */
  readonly keyPrefix: string;
  readonly env: Record<string, string>;
  readonly mounts: { primary: string; secondary: string };
  readonly logs: string[] = [];
  readonly services: Service[] = [];
  readonly secrets = [BOT_TOKEN, SIGNING_SECRET, GITHUB_TOKEN, DEFAULT_EFS_CREDENTIALS.secretAccessKey];
  /** A client on the world's Redis, whatever its topology (one server, Sentinel, Cluster). */
  redis: RedisClient;
  private readonly link: RedisLink;
  private readonly queues: Queue<JobEnvelope>[] = [];

  constructor(fields: WorldParts) {
    this.dir = fields.dir;
    this.slack = fields.slack;
    this.efs = fields.efs;
    this.kube = fields.kube;
    this.github = fields.github;
    this.redisUrl = fields.redisUrl;
    this.prefix = fields.prefix;
    this.env = fields.env;
    this.mounts = fields.mounts;
    this.link = openRedis(this.redisUrl, this.prefix);
    this.keyPrefix = this.link.prefix;
    this.redis = this.link.client();
    this.redis.on("error", () => {}); // fault tests restart Redis under it
  }

  /** A queue of this world's drbot, as an operator would open it (closed with the world). */
  queue(kind: JobKind): Queue<JobEnvelope> {
    const queue = createQueue(kind, this.link.bullmq, this.link.prefix);
    queue.on("error", () => {}); // fault tests take Redis away under it
    this.queues.push(queue);
    return queue;
  }

  /** Keys matching `pattern`: on a Cluster, from every master (KEYS reads one node). */
  async keys(pattern: string): Promise<string[]> {
    const nodes = this.redis instanceof Cluster ? this.redis.nodes("master") : [this.redis];
    return (await Promise.all(nodes.map((n) => n.keys(pattern)))).flat();
  }

  get service(): Service {
    const s = this.services[0];
    if (!s) throw new Error("no drbot service started");
    return s;
  }

  get receiverUrl(): string {
    // A spawned receiver (serve or bot) if there is one, else the in-process service.
    const receiver = this.children.find((c) => c.role !== "worker");
    return `${receiver?.url ?? this.service.url}/slack/events`;
  }

  /** drbot as its own process (`drbot <role>`), as it runs in production; for benchmarks. */
  readonly children: SpawnedDrbot[] = [];

  async spawn(role: Role, env: Record<string, string> = {}): Promise<SpawnedDrbot> {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, role], {
      env: {
        ...process.env,
        ...this.env,
        PORT: String(port),
        LOG_LEVEL: "warn",
        DRBOT_REDIS_PREFIX: this.prefix,
        DRBOT_GITHUB_PACE_WRITES: "false",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Its log lines join the world's, for a failing test to show.
    child.stdout?.on("data", (d) => this.logs.push(String(d)));
    child.stderr?.on("data", (d) => this.logs.push(String(d)));
    const url = `http://127.0.0.1:${port}`;
    await this.until(`drbot ${role} to be ready`, async () => {
      try {
        return (await fetch(`${url}/readyz`)).ok || undefined;
      } catch {
        return undefined;
      }
    });
    const spawned: SpawnedDrbot = {
      role,
      url,
      child,
      /** Peak resident memory of the process so far (Linux VmHWM), in MB. */
      peakRssMb: async () =>
        Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) /
        1024,
      rssMb: async () =>
        Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) /
        1024,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      },
    };
    this.children.push(spawned);
    return spawned;
  }

  async start(role: Role = "serve", options: ServiceOptions = {}): Promise<Service> {
    const logs = this.logs;
    const destination = new Writable({
      write(chunk, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    });
    const service = await startService(role, this.env, {
      redisPrefix: this.prefix,
      timing: { pollMs: 20, bindTimeoutMs: 5_000 },
      worker: { lockDurationMs: 5_000, stalledIntervalMs: 1_000 },
      notifier: { minIntervalMs: 50, retryDelayMs: 200 },
      adapters: { paceGitWrites: false },
      logDestination: destination,
      ...options,
    });
    this.services.push(service);
    return service;
  }

  slash(text: string, user: string = USERS.requester, command = "/volume", channel = CHANNEL) {
    return this.slack.sendSlashCommand(this.receiverUrl, {
      command,
      text,
      user_id: user,
      channel_id: channel,
      user_name: user.toLowerCase(),
    });
  }

  /**
   * The answer the user finally reads for a command: the acknowledgement itself, or (after a
   * "Checking…" acknowledgement) the ephemeral reply through its response URL.
   */
  async answer(res: SendResult): Promise<string> {
    const ack = (res.json as { text?: string } | undefined)?.text ?? "";
    if (ack && !ack.startsWith("Checking")) return ack;
    const post = await this.until("a reply through the response URL", () =>
      this.slack.responses.find((r) => r.url === res.responseUrl),
    );
    return post.text;
  }

  /** Waits until `check` returns a value, polling; fails with `what` after `timeoutMs`. */
  async until<T>(
    what: string,
    check: () => T | undefined | Promise<T | undefined>,
    timeoutMs = 15_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Everything drbot could have created anywhere, to prove a refusal changed nothing. */
  async snapshot() {
    const { readdir } = await import("node:fs/promises");
    const walk = async (dir: string): Promise<string[]> => {
      const out: string[] = [];
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        out.push(p, ...(e.isDirectory() ? await walk(p) : []));
      }
      return out;
    };
    const objects = (k: FakeKube) =>
      (["Namespace", "PersistentVolume", "PersistentVolumeClaim"] as const).flatMap((kind) =>
        k.objects(kind).map((o) => `${kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`),
      );
    return {
      directories: [...(await walk(this.mounts.primary)), ...(await walk(this.mounts.secondary))].sort(),
      primary: objects(this.kube.primary).sort(),
      secondary: objects(this.kube.secondary).sort(),
      commits: (await this.github.commits()).map((c) => c.sha),
      cards: this.cards().length,
      jobs: (
        await Promise.all(
          ["volume-create", "volume-delete", "volume-resize"].map((q) =>
            this.keys(`${this.keyPrefix}:${q}:${q}.*`),
          ),
        )
      )
        .flat()
        // A job's lock is how BullMQ runs it, not what the job is.
        .filter((k) => !k.endsWith(":lock"))
        // Sorted: KEYS lists in hash-table order, which moves as other tests' keys grow the table.
        .sort(),
      approvals: (await this.keys(`${this.keyPrefix}:approval:*`)).sort(),
    };
  }

  /** Waits for a failover's approval card; returns it and the request id its buttons carry. */
  async approvalCard(timeoutMs = 15_000) {
    const card = await this.until(
      "the approval card",
      () =>
        this.cards().find((m) => JSON.stringify(m.blocks ?? []).includes('"action_id":"approval_approve"')),
      timeoutMs,
    );
    const id = /"value":"(dr-[0-9a-f]{8})"/.exec(JSON.stringify(card.blocks))?.[1];
    if (!id) throw new Error("the approval card carries no request id");
    return { card, id };
  }

  /** A click on a button of a message, as Slack sends it; returns the ephemeral answer. */
  async click(user: string, actionId: string, value: string, messageTs?: string): Promise<string> {
    const res = await this.slack.sendInteraction(this.receiverUrl, {
      type: "block_actions",
      user_id: user,
      channel_id: CHANNEL,
      ...(messageTs ? { message_ts: messageTs } : {}),
      actions: [{ action_id: actionId, value, type: "button" }],
    });
    if (res.status !== 200) throw new Error(`click answered ${res.status}: ${res.body}`);
    const post = await this.until("the answer to a click", () =>
      this.slack.responses.find((r) => r.url === res.responseUrl),
    );
    return post.text;
  }

  /** The approval record as stored in Redis (read directly, as an auditor would). */
  async approvalsOf(id: string): Promise<{ state: string; approvals: Array<{ user: string }> } | null> {
    const raw = await this.redis.get(`${this.keyPrefix}:approval:${id}`);
    if (!raw) return null;
    const r = JSON.parse(raw);
    return { ...r, approvals: Array.isArray(r.approvals) ? r.approvals : [] };
  }

  /** Seeds `count` recorded volumes for the primary site in Git, in one commit. */
  async seedVolumes(count: number, app = "app"): Promise<string[]> {
    const config = this.services[0]?.config ?? loadConfig(this.env.DRBOT_CONFIG as string);
    const files: Record<string, string> = {};
    for (let i = 0; i < count; i++) {
      const id = {
        businessUnit: "sales",
        application: app,
        namespace: `ns-${i % 10}`,
        pvcName: `data-${i}`,
      } as never;
      files[volumeGitPath(config, "primary", id)] = renderVolume(config, "primary", id, 1 + (i % 5));
    }
    this.github.commitFiles(files, `seed ${count} volumes`);
    return Object.keys(files);
  }

  /** Channel messages that are status cards (not thread replies). */
  cards() {
    return this.slack.messages(CHANNEL).filter((m) => !m.threadTs);
  }

  async close(): Promise<void> {
    for (const c of this.children.splice(0)) await c.stop();
    for (const s of this.services.splice(0)) await s.stop();
    await Promise.all([
      this.slack.close(),
      this.efs.close(),
      this.kube.primary.close(),
      this.kube.secondary.close(),
      this.github.close(),
    ]);
    for (const q of this.queues.splice(0)) await q.close();
    const keys = await this.keys(`${this.keyPrefix}:*`);
    // On a Cluster every key of the prefix is in one slot, so one DEL takes them all.
    if (keys.length > 0) await this.redis.del(...keys);
    this.redis.disconnect();
    this.link.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

interface WorldParts {
  dir: string;
  slack: FakeSlack;
  efs: FakeEfs;
  kube: { primary: FakeKube; secondary: FakeKube };
  github: FakeGitHub;
  redisUrl: string;
  prefix: string;
  env: Record<string, string>;
  mounts: { primary: string; secondary: string };
}

export async function createWorld(redisUrl: string, options: WorldOptions = {}): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), "drbot-world-"));
  const [slack, efs, primary, secondary, github] = await Promise.all([
    startFakeSlack({
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
      usergroups: { S0SALES: [USERS.groupRequester], S0SRE: [USERS.sre], S0INCIDENT: [USERS.incident] },
    }),
    startFakeEfs(),
    // Both clusters grant drbot exactly the ClusterRole docs/operations.md documents.
    startFakeKube({ contextName: "primary", bindDelayMs: 5, rbac: documentedClusterRole() }),
    startFakeKube({ contextName: "secondary", bindDelayMs: 5, rbac: documentedClusterRole() }),
    startFakeGitHub({ owner: "acme", repo: "dr-volumes", token: GITHUB_TOKEN }),
  ]);
  efs.addFileSystem({ region: "us-east-1", id: FS.primary, mountTargets: 2 });
  efs.addFileSystem({
    region: "us-west-2",
    id: FS.secondary,
    mountTargets: 2,
    overwriteProtection: "DISABLED",
  });
  efs.addReplication({
    sourceFileSystemId: FS.primary,
    destinationFileSystemId: FS.secondary,
    lastReplicatedTimestamp: new Date(Date.now() - (options.replicationLagSeconds ?? 42) * 1000),
  });

  const mounts = { primary: join(dir, "efs-primary"), secondary: join(dir, "efs-secondary") };
  await Promise.all([mkdir(mounts.primary), mkdir(mounts.secondary)]);
  const config = parse(await readFile(new URL("../../drbot.example.yaml", import.meta.url), "utf8"));
  config.sites.primary.cluster.kubeconfig = await primary.writeKubeconfig(dir);
  config.sites.secondary.cluster.kubeconfig = await secondary.writeKubeconfig(dir);
  config.sites.primary.efs.mountPath = mounts.primary;
  config.sites.secondary.efs.mountPath = mounts.secondary;
  config.git.apiUrl = github.apiUrl;
  config.volumes.directory.uid = process.getuid?.() ?? 0;
  config.volumes.directory.gid = process.getgid?.() ?? 0;
  options.configure?.(config);
  const configPath = join(dir, "drbot.yaml");
  await writeFile(configPath, stringify(config));

  // The AWS SDK reads its endpoint and credentials from the process environment: one endpoint per
  // region, and the access key the EFS stand-in verifies signatures with.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_EFS: efs.endpointTemplate,
    AWS_ACCESS_KEY_ID: efs.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: efs.credentials.secretAccessKey,
    AWS_REGION: "us-east-1",
  });
  const env = {
    DRBOT_CONFIG: configPath,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    REDIS_URL: redisUrl,
    PORT: "0",
    GITHUB_TOKEN,
    LOG_LEVEL: "debug",
    AWS_ENDPOINT_URL_EFS: efs.endpointTemplate,
  };
  return new World({
    dir,
    slack,
    efs,
    kube: { primary, secondary },
    github,
    redisUrl,
    prefix: `t${randomBytes(4).toString("hex")}`,
    env,
    mounts,
  });
}
