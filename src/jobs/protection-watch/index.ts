// The protection watch: every `dr.watchInterval` one check (a BullMQ job scheduler, so however
// many worker processes run, each tick is one job) reads the active site, asks EFS about the
// active file system's replication, records the observation the lag gauge is computed from, and
// with `dr.alertChannel` set keeps one alert message in step: posted when protection is lost,
// updated while it lasts, marked resolved when it is back.

import { randomUUID } from "node:crypto";
import { type ConnectionOptions, Worker } from "bullmq";
import type { AuditLog } from "../../core/audit.ts";
import type { Config } from "../../core/config.ts";
import type { DrState } from "../../core/dr-state.ts";
import type { Logger } from "../../core/logger.ts";
import type { SiteName } from "../../core/paths.ts";
import type { ChatPort } from "../../core/ports/chat.ts";
import type { EfsPort, ReplicationInfo } from "../../core/ports/efs.ts";
import { QUEUES, type Queues } from "../queues.ts";
import { assessProtection, type FileSystemRef, type ProtectionAssessment } from "./assess.ts";
import { type AlertContext, lostMessage, resolvedMessage } from "./message.ts";
import type { ProtectionStore } from "./store.ts";

export { assessProtection } from "./assess.ts";
export { ProtectionStore } from "./store.ts";

const SCHEDULER_ID = "protection-watch";

export interface ProtectionWatchDeps {
  config: Config;
  efs: EfsPort;
  dr: DrState;
  store: ProtectionStore;
  audit: AuditLog;
  /** Slack; without it the watch still keeps the gauge's observation current. */
  chat: ChatPort | undefined;
  log: Logger;
  now?: () => number;
}

export interface TickResult {
  assessment?: ProtectionAssessment;
  /** What this process did about the alert. */
  alert: "posted" | "updated" | "resolved" | "none";
}

/** How long a claim to post or resolve the alert holds before another process may take it over. */
export function claimTimeoutMs(config: Config): number {
  return Math.max(30_000, 2 * config.dr.watchInterval);
}

/** One check. Safe to run in several processes at once: the alert's transitions are atomic. */
export async function runProtectionTick(deps: ProtectionWatchDeps): Promise<TickResult> {
  const { config, store, log } = deps;
  const now = (deps.now ?? Date.now)();
  const { site } = await deps.dr.activeSite();
  const active = siteRef(config, site);
  const standby = siteRef(config, site === "primary" ? "secondary" : "primary");
  const replication = await describe(deps, active, standby);
  if (replication === "unknown") return { alert: "none" };

  const previous = await store.observed();
  const assessment = assessProtection({
    now,
    active,
    standby,
    replication,
    rpoObjectiveMs: config.dr.rpoObjective,
    ...(previous?.activeFileSystemId === active.fileSystemId && previous.lastReplicated !== undefined
      ? { lastKnownReplicated: previous.lastReplicated }
      : {}),
  });
  await store.observe({
    activeFileSystemId: active.fileSystemId,
    standbyFileSystemId: standby.fileSystemId,
    observedAt: now,
    ...(assessment.lastReplicated === undefined ? {} : { lastReplicated: assessment.lastReplicated }),
  });

  const channel = config.dr.alertChannel;
  if (!channel || !deps.chat) return { assessment, alert: "none" };
  const context: AlertContext = {
    now,
    active,
    standby,
    rpoObjectiveMs: config.dr.rpoObjective,
    watchIntervalMs: config.dr.watchInterval,
  };
  const token = randomUUID();
  const action = await store.step(
    { lost: !assessment.protected, since: assessment.lostSince ?? now, summary: assessment.summary },
    token,
    now,
    claimTimeoutMs(config),
  );
  switch (action.do) {
    case "post": {
      const text = lostMessage(assessment, action.alert, context);
      let ref: { channel: string; ts: string };
      try {
        ref = await deps.chat.post(channel, text);
      } catch (err) {
        await store.releasePost(token);
        throw err;
      }
      if (await store.posted(token, ref, text)) {
        await deps.audit.record({ event: "protection.lost", detail: assessment.summary });
        log.warn({ problem: assessment.problem, channel }, "DR protection lost: alert posted");
      } else {
        log.warn({ channel, ts: ref.ts }, "protection alert posted after another process took the post over");
      }
      return { assessment, alert: "posted" };
    }
    case "update": {
      const { ts, channel: where, text: before } = action.alert;
      const text = lostMessage(assessment, action.alert, context);
      if (!ts || !where || text === before) return { assessment, alert: "none" };
      await deps.chat.update({ channel: where, ts }, text);
      await store.updated(ts, text);
      return { assessment, alert: "updated" };
    }
    case "resolve": {
      const { ts, channel: where } = action.alert;
      const text = resolvedMessage(assessment, action.alert, context);
      if (ts && where) {
        try {
          await deps.chat.update({ channel: where, ts }, text);
        } catch (err) {
          await store.releaseResolve(token);
          throw err;
        }
      }
      await store.resolveNotified(token, text);
      await deps.audit.record({
        event: "protection.restored",
        detail: `${assessment.summary}; lost since ${new Date(action.alert.since).toISOString()}`,
      });
      log.info({ channel: where }, "DR protection restored: alert resolved");
      return { assessment, alert: "resolved" };
    }
    default:
      return { assessment, alert: "none" };
  }
}

function siteRef(config: Config, site: SiteName): FileSystemRef {
  const { fileSystemId, region } = config.sites[site].efs;
  return { site, fileSystemId, region };
}

/**
 * The active file system's replication, asked of its own region; when that region does not
 * answer (the outage DR exists for), of the standby's region, which holds the other half of the
 * same configuration. "unknown" when neither answers: nothing is concluded from silence.
 */
async function describe(
  deps: ProtectionWatchDeps,
  active: FileSystemRef,
  standby: FileSystemRef,
): Promise<ReplicationInfo | null | "unknown"> {
  try {
    return await deps.efs.describeReplication(active.region, active.fileSystemId);
  } catch (activeErr) {
    try {
      const seen = await deps.efs.describeReplication(standby.region, standby.fileSystemId);
      // The standby's half only tells about replication from the active file system.
      return seen?.sourceFileSystemId === active.fileSystemId ? seen : null;
    } catch (standbyErr) {
      deps.log.warn(
        { err: activeErr, standbyErr, active: active.region, standby: standby.region },
        "replication could not be checked in either region; protection state unchanged",
      );
      return "unknown";
    }
  }
}

export interface RunningWatch {
  worker: Worker;
  close(): Promise<void>;
}

/**
 * Schedules the check every `dr.watchInterval` (an idempotent upsert: every process may do it;
 * the first tick runs at once) and runs ticks in this process as they come. Nothing here waits
 * for Redis: a process started while Redis is down schedules the check when it is back.
 */
export function startProtectionWatch(
  deps: ProtectionWatchDeps,
  queues: Queues,
  settings: { connection: ConnectionOptions; prefix: string },
): RunningWatch {
  queues["protection-watch"]
    .upsertJobScheduler(
      SCHEDULER_ID,
      { every: deps.config.dr.watchInterval },
      {
        name: "check",
        // A failed check is not retried: the next tick checks again.
        opts: { attempts: 1, removeOnComplete: { count: 20 }, removeOnFail: { count: 100 } },
      },
    )
    .catch((err: unknown) => deps.log.error({ err }, "could not schedule the protection watch"));
  if (deps.config.dr.alertChannel && !deps.chat)
    deps.log.warn("dr.alertChannel is set but SLACK_BOT_TOKEN is not: protection alerts cannot be posted");
  const worker = new Worker(QUEUES["protection-watch"], async () => (await runProtectionTick(deps)).alert, {
    connection: settings.connection,
    prefix: settings.prefix,
    concurrency: 1,
  });
  worker.on("failed", (_job, err) =>
    deps.log.warn({ err }, "protection check failed; the next tick retries"),
  );
  worker.on("error", (err) => deps.log.error({ err, queue: "protection-watch" }, "worker error"));
  return { worker, close: () => worker.close() };
}
