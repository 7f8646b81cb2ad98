// The composition root: turns configuration and environment into adapters behind the ports.
// The only module that knows which SDK stands behind which port.

import { createEfsAdapter } from "./adapters/efs.ts";
import { createGitHubRepository } from "./adapters/github.ts";
import { createKubernetesCluster } from "./adapters/kubernetes.ts";
import { createLocalDirectories } from "./adapters/local-directories.ts";
import { createSlackChat, slackRetry } from "./adapters/slack.ts";
import type { Config } from "./core/config.ts";
import type { EnvSettings } from "./core/env.ts";
import { instrument } from "./core/instrument.ts";
import type { Logger } from "./core/logger.ts";
import type { Metrics } from "./core/metrics.ts";
import type { SiteName } from "./core/paths.ts";
import type { ChatPort } from "./core/ports/chat.ts";
import type { ClusterPort } from "./core/ports/cluster.ts";
import type { DirectoryStore } from "./core/ports/directories.ts";
import type { EfsPort } from "./core/ports/efs.ts";
import type { GitPort } from "./core/ports/git.ts";

export interface Adapters {
  efs: EfsPort;
  clusters: Record<SiteName, ClusterPort>;
  git: GitPort;
  /** For commands and probes: a few quick retries. Undefined without SLACK_BOT_TOKEN. */
  chat: ChatPort | undefined;
  /** For job progress: fails fast on 429 so the notifier backs off instead of blocking. */
  progressChat: ChatPort | undefined;
  directories: DirectoryStore;
  close(): void;
}

export interface AdapterOverrides {
  /** Times and counts every call (Prometheus). */
  metrics?: Metrics;
  /** Tests and benchmarks: GitHub's one-second spacing of writes, off. */
  paceGitWrites?: boolean;
}

export function createAdapters(
  config: Config,
  env: EnvSettings,
  log?: Logger,
  overrides: AdapterOverrides = {},
): Adapters {
  const efs = createEfsAdapter(log ? { logger: log.child({ dependency: "efs" }) } : {});
  const clusters = {
    primary: createKubernetesCluster(config.sites.primary.cluster),
    secondary: createKubernetesCluster(config.sites.secondary.cluster),
  };
  const git = createGitHubRepository({
    apiUrl: config.git.apiUrl,
    owner: config.git.owner,
    repo: config.git.repo,
    branch: config.git.branch,
    auth:
      env.github?.kind === "app"
        ? {
            appId: env.github.appId,
            privateKey: env.github.privateKey,
            installationId: env.github.installationId,
          }
        : (env.github?.token ?? ""),
    ...(overrides.paceGitWrites === undefined ? {} : { paceWrites: overrides.paceGitWrites }),
    // Rate-limit waits and a low REST budget are logged; the budget is a gauge.
    ...(log ? { logger: log.child({ dependency: "github" }) } : {}),
    ...(overrides.metrics ? { metrics: overrides.metrics } : {}),
  });
  const token = env.slack.botToken;
  const slackBase = {
    ...(env.slack.apiUrl ? { apiUrl: env.slack.apiUrl } : {}),
    ...(log ? { logger: log.child({ dependency: "slack" }) } : {}),
  };
  const chat = token ? createSlackChat({ token, ...slackBase, timeoutMs: 10_000 }) : undefined;
  const progressChat = token
    ? createSlackChat({
        token,
        ...slackBase,
        retryConfig: slackRetry.brief,
        failFastOnRateLimit: true,
        timeoutMs: 10_000,
      })
    : undefined;
  const m = overrides.metrics;
  const wrap = <T extends object>(port: T, dependency: string): T =>
    m ? instrument(port, dependency, m) : port;
  return {
    efs: wrap(efs, "efs"),
    clusters: {
      primary: wrap(clusters.primary, "kubernetes-primary"),
      secondary: wrap(clusters.secondary, "kubernetes-secondary"),
    },
    git: wrap(git, "github"),
    chat: chat && wrap(chat, "slack"),
    progressChat: progressChat && wrap(progressChat, "slack"),
    directories: createLocalDirectories(),
    close: () => efs.close(),
  };
}
