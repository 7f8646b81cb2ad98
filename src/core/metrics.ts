// Prometheus metrics (prom-client). One registry per process, served on GET /metrics.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface MetricSources {
  /** Read at every scrape: seconds since the standby last received the active site's data. */
  replicationLag?: () => Promise<{ fileSystemId: string; seconds: number } | undefined>;
  /** Read at every scrape: when the last drill succeeded (ms since the epoch). */
  lastDrillSuccess?: () => Promise<number | undefined>;
}

export function createMetrics(sources: MetricSources = {}) {
  const { replicationLag, lastDrillSuccess } = sources;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "drbot_process_" });
  return {
    registry,
    jobs: new Counter({
      name: "drbot_jobs_total",
      help: "Jobs finished, by kind and outcome.",
      labelNames: ["kind", "outcome"],
      registers: [registry],
    }),
    stepSeconds: new Histogram({
      name: "drbot_step_duration_seconds",
      help: "Duration of job steps.",
      labelNames: ["kind", "step", "status"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    commands: new Counter({
      name: "drbot_commands_total",
      help: "Slash commands received, by command and result.",
      labelNames: ["command", "result"],
      registers: [registry],
    }),
    approvalWaitSeconds: new Histogram({
      name: "drbot_approval_wait_seconds",
      help: "Time from an approval request to its resolution, by outcome.",
      labelNames: ["action", "outcome"],
      buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
      registers: [registry],
    }),
    dependencyCallSeconds: new Histogram({
      name: "drbot_dependency_call_duration_seconds",
      help: "Calls to Slack, EFS, Kubernetes and GitHub, by dependency and method.",
      labelNames: ["dependency", "method"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    dependencyErrors: new Counter({
      name: "drbot_dependency_errors_total",
      help: "Failed calls to Slack, EFS, Kubernetes and GitHub, by dependency and error code.",
      labelNames: ["dependency", "code"],
      registers: [registry],
    }),
    githubRateLimitRemaining: new Gauge({
      name: "drbot_github_rate_limit_remaining",
      help: "GitHub REST requests left in the current rate-limit window, as GitHub last reported.",
      registers: [registry],
    }),
    drillLastSuccess: new Gauge({
      name: "drbot_drill_last_success_timestamp_seconds",
      help: "When the last DR drill succeeded (Unix time); absent before the first one.",
      registers: [registry],
      ...(lastDrillSuccess && {
        async collect() {
          const at = await lastDrillSuccess().catch(() => undefined);
          // reset() leaves a label-less gauge at 0 (a drill in 1970): remove the series instead.
          if (at) this.set(at / 1000);
          else this.remove({});
        },
      }),
    }),
    replicationLagSeconds: new Gauge({
      name: "drbot_replication_lag_seconds",
      help: "Seconds since the last completed replication, per destination file system.",
      labelNames: ["file_system_id"],
      registers: [registry],
      // Computed when scraped from what the protection watch last saw (shared in Redis), so every
      // process shows the same current figure whichever of them ran the last check.
      ...(replicationLag && {
        async collect() {
          const lag = await replicationLag().catch(() => undefined);
          this.reset();
          if (lag) this.set({ file_system_id: lag.fileSystemId }, lag.seconds);
        },
      }),
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
