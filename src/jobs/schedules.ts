// drbot's own schedules, as BullMQ job schedulers (so however many replicas run, each tick is
// one job): a drill on `drills.schedule` (cron, UTC) posted to `dr.alertChannel`, and a reminder
// there, at most once a day, when no drill has succeeded within `drills.maxAge`.

import { type ConnectionOptions, Worker } from "bullmq";
import type { Authorizer } from "../core/authorize.ts";
import type { Config } from "../core/config.ts";
import type { DrState } from "../core/dr-state.ts";
import { formatDuration } from "../core/duration.ts";
import type { Logger } from "../core/logger.ts";
import { code, md } from "../core/mrkdwn.ts";
import type { ChatPort } from "../core/ports/chat.ts";
import { admitDrill } from "./dr/admit.ts";
import { QUEUES, type Queues } from "./queues.ts";

export interface ScheduleDeps {
  config: Config;
  dr: DrState;
  authorizer: Authorizer;
  queues: Queues;
  chat: ChatPort | undefined;
  log: Logger;
  /** Marks "reminded today" (SET NX EX), so several processes remind once. */
  remindOnce(key: string, ttlSeconds: number): Promise<boolean>;
  /** When drbot first watched drills here (set once): a fresh install is not overdue at once. */
  watchingSince(): Promise<number>;
}

const REMINDER_CHECK_MS = 3_600_000;

/** The requester of scheduled drills, as cards and the audit trail show it. */
export const SCHEDULE_ACTOR = "cli:drbot-schedule";

export function startSchedules(
  deps: ScheduleDeps,
  settings: { connection: ConnectionOptions; prefix: string },
) {
  const queue = deps.queues.schedules;
  const channel = deps.config.dr.alertChannel;
  const schedule = deps.config.drills.schedule;
  const opts = { attempts: 1, removeOnComplete: { count: 20 }, removeOnFail: { count: 100 } };
  const upserts: Array<Promise<unknown>> = [];
  if (channel && schedule) {
    upserts.push(
      queue.upsertJobScheduler("drill", { pattern: schedule, tz: "UTC" }, { name: "drill", opts }),
    );
  } else {
    upserts.push(queue.removeJobScheduler("drill"));
  }
  if (channel) {
    upserts.push(
      queue.upsertJobScheduler(
        "drill-reminder",
        { every: REMINDER_CHECK_MS },
        { name: "drill-reminder", opts },
      ),
    );
  }
  for (const p of upserts)
    p.catch((err: unknown) => deps.log.error({ err }, "could not set up drbot's schedules"));

  const worker = new Worker(
    QUEUES.schedules,
    async (job) => (job.name === "drill" ? runScheduledDrill(deps) : remindIfStale(deps)),
    { connection: settings.connection, prefix: settings.prefix, concurrency: 1 },
  );
  worker.on("failed", (job, err) =>
    deps.log.warn({ err, schedule: job?.name }, "a scheduled job failed; the next tick tries again"),
  );
  worker.on("error", (err) => deps.log.error({ err, queue: "schedules" }, "worker error"));
  return { worker, close: () => worker.close() };
}

export async function runScheduledDrill(deps: ScheduleDeps): Promise<string> {
  const channel = deps.config.dr.alertChannel;
  if (!channel) return "no alert channel";
  const admitted = await admitDrill(
    { config: deps.config, dr: deps.dr, authorizer: deps.authorizer, queues: deps.queues, chat: deps.chat },
    { id: SCHEDULE_ACTOR, name: "schedule" },
    channel,
    { scheduled: true },
  );
  return admitted.ok ? admitted.requestId : admitted.reason.text;
}

/** Posts the reminder when no drill succeeded within `drills.maxAge`, once a day at most. */
export async function remindIfStale(deps: ScheduleDeps): Promise<string> {
  const channel = deps.config.dr.alertChannel;
  if (!channel || !deps.chat) return "no alert channel";
  const { lastSuccess } = await deps.dr.lastDrill();
  const maxAge = deps.config.drills.maxAge;
  const since = lastSuccess?.at ?? (await deps.watchingSince());
  if (Date.now() - since <= maxAge) return "recent drill";
  if (!(await deps.remindOnce("drill-reminder", 86_400))) return "reminded today";
  const last = lastSuccess
    ? md`The last successful drill was ${formatDuration(Date.now() - lastSuccess.at)} ago (${code(lastSuccess.report)}).`
    : md`No drill has succeeded in the ${formatDuration(Date.now() - since)} drbot has watched.`;
  await deps.chat.post(
    channel,
    md`:calendar: *DR drill overdue*: ${last} The objective is one every ${formatDuration(maxAge)}: an untested failover is a hope, not a plan. Run \`/dr drill\` (it changes nothing) or set \`drills.schedule\`.`
      .text,
  );
  return "reminded";
}
