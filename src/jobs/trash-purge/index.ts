// The daily trash purge: `.drbot-trash/<request-id>` entries older than `volumes.trashRetention`
// are removed from each site's file system that is mounted here (replication carries trash to
// the standby too), and the channel the delete was asked in gets one line per purged entry. A
// BullMQ job scheduler makes each day one job however many processes run, a short lock in Redis
// lets one purge run at a time, and each entry is claimed by a rename before it is removed, so
// no entry is ever removed (or reported) twice. Only names drbot gives trash entries are ever removed.

import { randomUUID } from "node:crypto";
import { type ConnectionOptions, Worker } from "bullmq";
import type { AuditLog } from "../../core/audit.ts";
import type { Config } from "../../core/config.ts";
import type { DrState } from "../../core/dr-state.ts";
import { formatDuration } from "../../core/duration.ts";
import { errorMessage } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { code, md, mention } from "../../core/mrkdwn.ts";
import type { SiteName } from "../../core/paths.ts";
import type { ChatPort } from "../../core/ports/chat.ts";
import type { DirectoryStore } from "../../core/ports/directories.ts";
import {
  PURGING_PREFIX,
  parseTrashEntryInfo,
  TRASH_ENTRY_FILE,
  TRASH_REQUEST_ID,
  type TrashEntryInfo,
  trashRoot,
} from "../../core/trash.ts";
import { QUEUES, type Queues } from "../queues.ts";

const SCHEDULER_ID = "trash-purge";
const PURGE_LOCK = "trash-purge";
/** Longer than any purge should take; a process that dies holding it frees it after this. */
const PURGE_LOCK_MS = 30 * 60_000;
const DAY_MS = 86_400_000;
const SITES: readonly SiteName[] = ["primary", "secondary"];

export interface TrashPurgeDeps {
  config: Config;
  directories: DirectoryStore;
  /** Slack; without it entries are still purged (and audited). */
  chat: ChatPort | undefined;
  audit: AuditLog;
  log: Logger;
  now?: () => number;
}

export interface PurgedEntry {
  requestId: string;
  sites: SiteName[];
  info: TrashEntryInfo | null;
}

export interface PurgeResult {
  purged: PurgedEntry[];
  /** Entries younger than the retention, per site. */
  kept: number;
  /** Sites whose trash could not be purged here (not mounted, read-only …), with why. */
  skipped: Array<{ site: SiteName; reason: string }>;
}

export async function runTrashPurge(deps: TrashPurgeDeps): Promise<PurgeResult> {
  const { config, directories, log } = deps;
  const now = (deps.now ?? Date.now)();
  const retention = config.volumes.trashRetention;
  const root = trashRoot(config.volumes.rootDirectory);
  const purged = new Map<string, PurgedEntry>();
  const result: PurgeResult = { purged: [], kept: 0, skipped: [] };

  for (const site of SITES) {
    const mount = config.sites[site].efs.mountPath;
    try {
      await directories.probe(mount);
    } catch {
      result.skipped.push({ site, reason: "not mounted here" });
      continue;
    }
    try {
      for (const entry of await directories.listEntries(mount, root)) {
        const claimedBefore =
          entry.name.startsWith(PURGING_PREFIX) &&
          TRASH_REQUEST_ID.test(entry.name.slice(PURGING_PREFIX.length));
        if (claimedBefore) {
          // A purge that stopped half-way (its line was not posted): finish removing it.
          await directories.removeTree(mount, [...root, entry.name]);
          log.info(
            { site, entry: entry.name },
            "finished removing a trash entry claimed by an earlier purge",
          );
          continue;
        }
        // Only what a delete put here; anything else in the folder is left alone.
        if (!entry.directory || !TRASH_REQUEST_ID.test(entry.name)) continue;
        const info = parseTrashEntryInfo(
          await directories.readSmallFile(mount, [...root, entry.name, TRASH_ENTRY_FILE]),
        );
        const movedAt = info?.movedAt ?? entry.mtimeMs;
        if (now - movedAt < retention) {
          result.kept++;
          continue;
        }
        // Of several purges at once, the one whose rename succeeds removes (and reports) it.
        const claimed = `${PURGING_PREFIX}${entry.name}`;
        if (!(await directories.claimEntry(mount, root, entry.name, claimed))) continue;
        await directories.removeTree(mount, [...root, claimed]);
        const seen = purged.get(entry.name) ?? { requestId: entry.name, sites: [], info: null };
        seen.sites.push(site);
        seen.info ??= info;
        purged.set(entry.name, seen);
      }
    } catch (err) {
      // The standby's file system is a read-only replica: replication removes the entry there.
      result.skipped.push({ site, reason: errorMessage(err) });
      log.warn({ err, site }, "could not purge the trash on this site");
    }
  }

  result.purged = [...purged.values()].sort((a, b) => (a.requestId < b.requestId ? -1 : 1));
  for (const entry of result.purged) await report(deps, entry, retention);
  return result;
}

async function report(deps: TrashPurgeDeps, entry: PurgedEntry, retentionMs: number): Promise<void> {
  const { info } = entry;
  const where = entry.sites.join(" and ");
  const when = info ? new Date(info.movedAt).toISOString().slice(0, 10) : "an unknown day";
  const text = md`:wastebasket: Purged from the trash: volume ${code(info?.volume ?? "unknown")}, deleted on ${when} by ${mention(info?.requester ?? "unknown")} (request \`${entry.requestId}\`), is now gone from the ${where} file system${entry.sites.length === 1 ? "" : "s"} after ${formatDuration(retentionMs)} in the trash.`;
  await deps.audit
    .record({
      event: "trash.purged",
      request: entry.requestId,
      detail: `${info?.volume ?? "unknown volume"} removed from ${where}`,
    })
    .catch((err: unknown) => deps.log.warn({ err }, "could not record the purge in the audit trail"));
  const channel = info?.channel ?? deps.config.dr.alertChannel;
  if (!channel || !deps.chat) return;
  try {
    await deps.chat.post(channel, text.text);
  } catch (err) {
    deps.log.warn({ err, channel, request: entry.requestId }, "could not post the purge line");
  }
}

export interface RunningPurge {
  worker: Worker;
  close(): Promise<void>;
}

/** Schedules the purge daily (an idempotent upsert; the first one runs at once) and runs it here. */
export function startTrashPurge(
  deps: TrashPurgeDeps & { dr: DrState },
  queues: Pick<Queues, "trash-purge">,
  settings: { connection: ConnectionOptions; prefix: string },
): RunningPurge {
  queues["trash-purge"]
    .upsertJobScheduler(
      SCHEDULER_ID,
      { every: DAY_MS },
      {
        name: "purge",
        // A failed purge is not retried: tomorrow's looks again.
        opts: { attempts: 1, removeOnComplete: { count: 20 }, removeOnFail: { count: 100 } },
      },
    )
    .catch((err: unknown) => deps.log.error({ err }, "could not schedule the trash purge"));
  const worker = new Worker(
    QUEUES["trash-purge"],
    async () => {
      // One purge at a time across replicas, so an entry's sites are purged (and reported) together.
      const token = randomUUID();
      if (!(await deps.dr.admit(PURGE_LOCK, token, PURGE_LOCK_MS))) {
        deps.log.info("another process is purging the trash; this run leaves it to that one");
        return { purged: [], kept: 0, ran: false };
      }
      try {
        const result = await runTrashPurge(deps);
        deps.log.info(
          { purged: result.purged.length, kept: result.kept, skipped: result.skipped.length },
          "trash purged",
        );
        return { purged: result.purged.map((p) => p.requestId), kept: result.kept, ran: true };
      } finally {
        await deps.dr.admitted(PURGE_LOCK, token);
      }
    },
    { connection: settings.connection, prefix: settings.prefix, concurrency: 1 },
  );
  worker.on("failed", (_job, err) => deps.log.warn({ err }, "trash purge failed; the next one retries"));
  worker.on("error", (err) => deps.log.error({ err, queue: "trash-purge" }, "worker error"));
  return { worker, close: () => worker.close() };
}
