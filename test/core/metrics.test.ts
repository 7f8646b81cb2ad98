import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/core/metrics.ts";

/** The exposition text's `# TYPE` lines: metric name → type. */
function types(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) map.set(m[1] as string, m[2] as string);
  return map;
}

function help(text: string, name: string): string | undefined {
  return new RegExp(`^# HELP ${name} (.*)$`, "m").exec(text)?.[1];
}

describe("metrics", () => {
  it("exposes drbot's documented metrics with their types and help", async () => {
    const metrics = createMetrics();
    const text = await metrics.registry.metrics();
    const t = types(text);
    expect(Object.fromEntries([...t].filter(([name]) => !name.startsWith("drbot_process_")))).toEqual({
      drbot_jobs_total: "counter",
      drbot_step_duration_seconds: "histogram",
      drbot_commands_total: "counter",
      drbot_approval_wait_seconds: "histogram",
      drbot_dependency_call_duration_seconds: "histogram",
      drbot_dependency_errors_total: "counter",
      drbot_github_rate_limit_remaining: "gauge",
      drbot_drill_last_success_timestamp_seconds: "gauge",
      drbot_replication_lag_seconds: "gauge",
    });
    expect(help(text, "drbot_jobs_total")).toBe("Jobs finished, by kind and outcome.");
    expect(help(text, "drbot_step_duration_seconds")).toBe("Duration of job steps.");
    expect(help(text, "drbot_commands_total")).toBe("Slash commands received, by command and result.");
    expect(help(text, "drbot_approval_wait_seconds")).toBe(
      "Time from an approval request to its resolution, by outcome.",
    );
    expect(help(text, "drbot_dependency_call_duration_seconds")).toBe(
      "Calls to Slack, EFS, Kubernetes and GitHub, by dependency and method.",
    );
    expect(help(text, "drbot_dependency_errors_total")).toBe(
      "Failed calls to Slack, EFS, Kubernetes and GitHub, by dependency and error code.",
    );
    expect(help(text, "drbot_github_rate_limit_remaining")).toBe(
      "GitHub REST requests left in the current rate-limit window, as GitHub last reported.",
    );
    expect(help(text, "drbot_drill_last_success_timestamp_seconds")).toBe(
      "When the last DR drill succeeded (Unix time); absent before the first one.",
    );
    expect(help(text, "drbot_replication_lag_seconds")).toBe(
      "Seconds since the last completed replication, per destination file system.",
    );
  });

  it("adds the process metrics under the drbot_process_ prefix", async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).toMatch(/^# TYPE drbot_process_process_cpu_user_seconds_total counter$/m);
    expect(text).toMatch(/^drbot_process_nodejs_heap_size_used_bytes \d+/m);
    // Nothing unprefixed: two registries in one process must not clash, and dashboards use the prefix.
    expect([...types(text).keys()].filter((n) => !n.startsWith("drbot_"))).toEqual([]);
  });

  it("keeps one registry per call, so two processes' figures never mix", async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.jobs.inc({ kind: "failover", outcome: "succeeded" });
    expect(await a.registry.getSingleMetricAsString("drbot_jobs_total")).toContain(
      'drbot_jobs_total{kind="failover",outcome="succeeded"} 1',
    );
    expect(await b.registry.getSingleMetricAsString("drbot_jobs_total")).not.toContain("failover");
  });

  it("counts by the documented labels and refuses any other label", async () => {
    const metrics = createMetrics();
    metrics.jobs.inc({ kind: "volume_create", outcome: "failed" });
    metrics.jobs.inc({ kind: "volume_create", outcome: "failed" });
    metrics.commands.inc({ command: "/volume", result: "accepted" });
    metrics.dependencyErrors.inc({ dependency: "git", code: "git.conflict" });
    const text = await metrics.registry.metrics();
    expect(text).toContain('drbot_jobs_total{kind="volume_create",outcome="failed"} 2');
    expect(text).toContain('drbot_commands_total{command="/volume",result="accepted"} 1');
    expect(text).toContain('drbot_dependency_errors_total{dependency="git",code="git.conflict"} 1');

    // Unbounded labels (a user, a volume id) would blow up the series count: not accepted.
    expect(() => metrics.jobs.inc({ kind: "x", outcome: "y", user: "U1" } as never)).toThrow(/label/i);
    expect(() => metrics.commands.inc({ command: "/volume", user: "U1" } as never)).toThrow(/label/i);
    expect(() => metrics.dependencyErrors.inc({ dependency: "git", method: "x" } as never)).toThrow(/label/i);
    expect(() => metrics.stepSeconds.observe({ kind: "k", step: "s", volume: "v" } as never, 1)).toThrow(
      /label/i,
    );
    expect(() => metrics.approvalWaitSeconds.observe({ action: "a", user: "U1" } as never, 1)).toThrow(
      /label/i,
    );
    expect(() => metrics.dependencyCallSeconds.observe({ dependency: "git", code: "x" } as never, 1)).toThrow(
      /label/i,
    );
    expect(() => metrics.replicationLagSeconds.set({ fs: "fs-1" } as never, 1)).toThrow(/label/i);
    expect(() => metrics.githubRateLimitRemaining.set({ x: "1" } as never, 1)).toThrow(/label/i);
    expect(() => metrics.drillLastSuccess.set({ x: "1" } as never, 1)).toThrow(/label/i);
  });

  it.each<[string, (m: ReturnType<typeof createMetrics>) => void, string, number[]]>([
    [
      "step durations",
      (m) => m.stepSeconds.observe({ kind: "failover", step: "sync", status: "ok" }, 0.2),
      "drbot_step_duration_seconds",
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    ],
    [
      "approval waits",
      (m) => m.approvalWaitSeconds.observe({ action: "failover", outcome: "approved" }, 45),
      "drbot_approval_wait_seconds",
      [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    ],
    [
      "dependency calls",
      (m) => m.dependencyCallSeconds.observe({ dependency: "efs", method: "describe" }, 0.03),
      "drbot_dependency_call_duration_seconds",
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ],
  ])("buckets %s on the documented boundaries", async (_, observe, name, buckets) => {
    const metrics = createMetrics();
    observe(metrics);
    const text = (await metrics.registry.getSingleMetricAsString(name)) as string;
    const les = [...text.matchAll(/_bucket\{le="([^"]+)"/g)].map((m) => m[1]);
    expect(les).toEqual([...buckets.map(String), "+Inf"]);
  });

  it("labels step durations by kind, step and status", async () => {
    const metrics = createMetrics();
    metrics.stepSeconds.observe({ kind: "failover", step: "sync", status: "ok" }, 0.2);
    metrics.approvalWaitSeconds.observe({ action: "failover", outcome: "approved" }, 45);
    metrics.dependencyCallSeconds.observe({ dependency: "efs", method: "describe" }, 0.03);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'drbot_step_duration_seconds_bucket{le="0.25",kind="failover",step="sync",status="ok"} 1',
    );
    expect(text).toContain(
      'drbot_step_duration_seconds_bucket{le="0.1",kind="failover",step="sync",status="ok"} 0',
    );
    expect(text).toContain(
      'drbot_approval_wait_seconds_bucket{le="60",action="failover",outcome="approved"} 1',
    );
    expect(text).toContain(
      'drbot_dependency_call_duration_seconds_bucket{le="0.05",dependency="efs",method="describe"} 1',
    );
  });

  describe("gauges read from their sources at each scrape", () => {
    it("shows the replication lag of the destination file system, current at every scrape", async () => {
      let lag: { fileSystemId: string; seconds: number } | undefined = {
        fileSystemId: "fs-0bbb2222",
        seconds: 42,
      };
      const metrics = createMetrics({ replicationLag: async () => lag });
      expect(await metrics.registry.getSingleMetricAsString("drbot_replication_lag_seconds")).toContain(
        'drbot_replication_lag_seconds{file_system_id="fs-0bbb2222"} 42',
      );

      lag = { fileSystemId: "fs-0ccc3333", seconds: 7 };
      const text = await metrics.registry.getSingleMetricAsString("drbot_replication_lag_seconds");
      expect(text).toContain('drbot_replication_lag_seconds{file_system_id="fs-0ccc3333"} 7');
      // The old destination's series is gone, not left at its last value.
      expect(text).not.toContain("fs-0bbb2222");

      lag = undefined;
      expect(await metrics.registry.getSingleMetricAsString("drbot_replication_lag_seconds")).not.toMatch(
        /^drbot_replication_lag_seconds\{/m,
      );
    });

    it("drops the replication lag when its source fails, and the scrape still succeeds", async () => {
      let fail = false;
      const metrics = createMetrics({
        replicationLag: async () => {
          if (fail) throw new Error("Redis is down");
          return { fileSystemId: "fs-0bbb2222", seconds: 5 };
        },
      });
      expect(await metrics.registry.metrics()).toContain(
        'drbot_replication_lag_seconds{file_system_id="fs-0bbb2222"} 5',
      );
      fail = true;
      const text = await metrics.registry.metrics();
      expect(text).toContain("# TYPE drbot_replication_lag_seconds gauge");
      expect(text).not.toMatch(/^drbot_replication_lag_seconds\{/m);
    });

    it("shows when the last drill succeeded, in Unix seconds, and nothing before the first", async () => {
      let at: number | undefined;
      let fail = false;
      const metrics = createMetrics({
        lastDrillSuccess: async () => {
          if (fail) throw new Error("Redis is down");
          return at;
        },
      });
      const value = async () =>
        (await metrics.registry.getSingleMetricAsString("drbot_drill_last_success_timestamp_seconds")).match(
          /^drbot_drill_last_success_timestamp_seconds (\S+)$/m,
        )?.[1];
      expect(await value()).toBeUndefined();
      at = Date.UTC(2026, 0, 2, 3, 4, 5, 500);
      expect(await value()).toBe(String(at / 1000));
      at = Date.UTC(2026, 0, 3);
      expect(await value()).toBe(String(at / 1000));
      fail = true;
      expect(await value()).toBeUndefined();
      fail = false;
      at = undefined;
      expect(await value()).toBeUndefined();
    });

    it("without sources, the gauges show what was set on them", async () => {
      const metrics = createMetrics();
      metrics.drillLastSuccess.set(1_700_000_000);
      metrics.replicationLagSeconds.set({ file_system_id: "fs-0bbb2222" }, 3);
      metrics.githubRateLimitRemaining.set(4999);
      const text = await metrics.registry.metrics();
      expect(text).toContain("drbot_drill_last_success_timestamp_seconds 1700000000");
      expect(text).toContain('drbot_replication_lag_seconds{file_system_id="fs-0bbb2222"} 3');
      expect(text).toContain("drbot_github_rate_limit_remaining 4999");
    });
  });
});
