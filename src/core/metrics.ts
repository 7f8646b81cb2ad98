// Prometheus metrics (prom-client). One registry per process, served on GET /metrics.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function createMetrics() {
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
    replicationLagSeconds: new Gauge({
      name: "drbot_replication_lag_seconds",
      help: "Seconds since the last completed replication, per destination file system.",
      labelNames: ["file_system_id"],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
