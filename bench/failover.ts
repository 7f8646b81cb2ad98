// Benchmark 1: failover restore of N volumes with 25 ms added to every Kubernetes request,
// drbot against a baseline doing what the seed playbook does (one volume at a time, one commit
// per volume), both against the same local fakes in the same run. Also counts Slack API calls.

import { createGitHubRepository } from "../src/adapters/github.ts";
import { createKubernetesCluster } from "../src/adapters/kubernetes.ts";
import { parseManifests, rewriteForSite, serializeManifests } from "../src/core/manifests.ts";
import { gitSiteDirectory } from "../src/core/paths.ts";
import type { JobEnvelope } from "../src/core/steps.ts";
import { siteTarget } from "../src/core/volumes.ts";
import { createQueue, jobIdFor, redisConnection } from "../src/jobs/queues.ts";
import { createWorld, USERS, type World } from "../test/support/world.ts";

export interface FailoverResult {
  volumes: number;
  planMs: number;
  afterApprovalMs: number;
  slackApiCalls: number;
  slackCallsByMethod: Record<string, number>;
  /** Seconds per failover step, from the job's own checkpoint. */
  steps: Record<string, number>;
  kubernetesRequests: number;
  kubernetesConnections: number;
  serveIdleRssMb: number;
  servePeakRssMb: number;
  /** GitHub REST requests of the plan, and of the execution after the approvals. */
  githubRequests: { plan: number; execution: number };
}

const K8S_LATENCY_MS = 25;

export async function benchFailover(redisUrl: string, volumes: number): Promise<FailoverResult> {
  const world = await createWorld(redisUrl, {
    replicationLagSeconds: 60,
    configure: (c) => (c.failover = { applyConcurrency: Number(process.env.BENCH_APPLY_CONCURRENCY ?? 32) }),
  });
  try {
    // drbot as in production: its own process, production timing.
    // As the image runs it (Dockerfile: NODE_OPTIONS).
    const serve = await world.spawn("serve", {
      NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? "--max-semi-space-size=2",
      // As production runs: GitHub writes a second apart.
      DRBOT_GITHUB_PACE_WRITES: "true",
    });
    await new Promise((r) => setTimeout(r, 2_000));
    const serveIdleRssMb = await serve.rssMb();
    await world.seedVolumes(volumes);
    world.kube.secondary.http.latencyMs = K8S_LATENCY_MS;
    const slackBefore = world.slack.http.requests.length;
    const githubBefore = world.github.requestCount;

    const asked = Date.now();
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard(600_000);
    const planMs = Date.now() - asked;
    const githubAtPlan = world.github.requestCount;
    await world.click(USERS.approver1, "approval_approve", id, card.ts);
    const approved = Date.now();
    await world.click(USERS.approver2, "approval_approve", id, card.ts);
    await world.until(
      "the failover to succeed",
      () => world.cards().find((m) => /^DR failover for .*: (succeeded|failed)/.test(m.text)),
      600_000,
    );
    const afterApprovalMs = Date.now() - approved;
    const githubRequests = {
      plan: githubAtPlan - githubBefore,
      execution: world.github.requestCount - githubAtPlan,
    };
    const done = world.cards().find((m) => /^DR failover for /.test(m.text));
    if (!done?.text.includes("succeeded")) throw new Error(`failover did not succeed: ${done?.text}`);
    if (world.kube.secondary.objects("PersistentVolume").length !== volumes)
      throw new Error("not every volume was restored");
    // Let the last card updates go out before counting.
    await new Promise((r) => setTimeout(r, 1_500));
    const calls = world.slack.http.requests.slice(slackBefore).filter((r) => r.path.startsWith("/api/"));
    const queue = createQueue("dr-failover", redisConnection(world.redisUrl), world.prefix);
    const job = await queue.getJob(jobIdFor("dr-failover", id));
    await queue.close();
    const steps: Record<string, number> = {};
    for (const [name, r] of Object.entries((job?.data as JobEnvelope | undefined)?.steps ?? {})) {
      if (r.startedAt && r.finishedAt) steps[name] = Math.round(r.finishedAt - r.startedAt) / 1000;
    }
    const byMethod: Record<string, number> = {};
    for (const c of calls) byMethod[c.path.slice(5)] = (byMethod[c.path.slice(5)] ?? 0) + 1;
    return {
      volumes,
      planMs,
      afterApprovalMs,
      slackApiCalls: calls.length,
      slackCallsByMethod: byMethod,
      steps,
      serveIdleRssMb: Math.round(serveIdleRssMb),
      servePeakRssMb: Math.round(await serve.peakRssMb()),
      githubRequests,
      kubernetesRequests: world.kube.secondary.requests.length,
      kubernetesConnections: world.kube.secondary.http.connections,
    };
  } catch (err) {
    process.stderr.write(`drbot's last log lines:\n${world.logs.slice(-15).join("")}\n`);
    throw err;
  } finally {
    await world.close();
  }
}

/** What the seed's volume-restore playbook does: one volume at a time, one commit per volume. */
export async function benchPlaybookBaseline(
  redisUrl: string,
  volumes: number,
): Promise<{ volumes: number; ms: number }> {
  const world = await createWorld(redisUrl);
  try {
    await world.start("bot");
    await world.seedVolumes(volumes);
    world.kube.secondary.http.latencyMs = K8S_LATENCY_MS;
    const config = world.service.config;
    const cluster = createKubernetesCluster(config.sites.secondary.cluster);
    const git = createGitHubRepository({
      ...config.git,
      auth: world.env.GITHUB_TOKEN as string,
      paceWrites: false,
    });
    // About six GitHub requests per volume: past a token's hourly 5,000 at 1,000 volumes. The
    // stand-in's budget is lifted so that the baseline's time can still be measured.
    world.github.setRateLimit({ limit: 1_000_000 });
    const started = Date.now();
    const entries = await git.listFiles(gitSiteDirectory(config.git.directory, "primary"));
    for (const entry of entries) {
      const objects = rewriteForSite(
        parseManifests(await git.readBlob(entry.sha)),
        siteTarget(config, "primary"),
        siteTarget(config, "secondary"),
      );
      const ns = objects.find((o) => o.kind === "PersistentVolumeClaim")?.metadata.namespace as string;
      await cluster.ensureNamespace(ns);
      for (const o of objects) await cluster.apply(o);
      await git.commitFiles(
        [{ path: entry.path.replace("/primary/", "/secondary/"), content: serializeManifests(objects) }],
        `restore ${entry.path}`,
      );
    }
    return { volumes, ms: Date.now() - started };
  } finally {
    await world.close();
  }
}

export type { World };
