// The alert's wording: what is wrong, since when, the lag now, what it means for the data and
// what to do; and, once protection is back, that it was resolved and when. Values that came from
// EFS go through `md`, which escapes them.

import { formatDuration } from "../../core/duration.ts";
import { type Mrkdwn, md } from "../../core/mrkdwn.ts";
import type { FileSystemRef, ProtectionAssessment, ProtectionProblem } from "./assess.ts";
import type { AlertRecord } from "./store.ts";

export interface AlertContext {
  now: number;
  active: FileSystemRef;
  standby: FileSystemRef;
  rpoObjectiveMs: number;
  watchIntervalMs: number;
}

/** `2026-11-21 10:04 UTC` */
export function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Whole seconds: the alert shows a lag that moves on every check. */
function duration(ms: number): string {
  return ms < 1_000 ? "0s" : formatDuration(Math.floor(ms / 1_000) * 1_000);
}

const ADVICE: Record<ProtectionProblem, (c: AlertContext) => Mrkdwn> = {
  "no-replication": (c) =>
    md`\`/dr reprotect\` sets replication up again from ${c.active.fileSystemId} to the ${c.standby.site} site.`,
  reversed: (c) =>
    md`replication runs toward the active site; \`/dr reprotect\` sets it up from ${c.active.fileSystemId} instead.`,
  "other-destination": (c) =>
    md`drbot fails over to ${c.standby.fileSystemId} only: check the replication in the EFS console, or the configuration's ${c.standby.site} file system.`,
  "not-enabled": () =>
    md`check the replication in the EFS console (its status message says why); if it cannot recover, delete it and run \`/dr reprotect\`.`,
  "never-replicated": () =>
    md`the first copy of a large file system can take hours; this message turns to resolved when it completes.`,
  lag: () =>
    md`replication is running but behind: large writes or throughput limits slow it; watch the lag fall with \`/dr status\`.`,
};

/** The alert while protection is lost. */
export function lostMessage(a: ProtectionAssessment, alert: AlertRecord, c: AlertContext): string {
  const lag =
    a.lagMs === undefined
      ? md`unknown: no replication from ${c.active.fileSystemId} has completed since drbot began watching it`
      : md`${duration(a.lagMs)} (objective ${duration(c.rpoObjectiveMs)}); last replicated ${utc(a.lastReplicated ?? c.now)}`;
  const loss =
    a.lastReplicated === undefined
      ? md`nothing written to ${c.active.fileSystemId} (${c.active.site}) is known to be on ${c.standby.fileSystemId} (${c.standby.site}): a failover now could lose any of it.`
      : md`writes to ${c.active.fileSystemId} (${c.active.site}) after ${utc(a.lastReplicated)} are not on ${c.standby.fileSystemId} (${c.standby.site}): a failover now would lose them, and everything written until protection is back.`;
  return [
    md`:rotating_light: *DR protection lost*: ${a.summary}.`.text,
    md`• *Since:* ${utc(alert.since)} (${duration(c.now - alert.since)} ago)`.text,
    md`• *Current lag:* ${lag}`.text,
    md`• *What it means:* ${loss}`.text,
    md`• *What to do:* \`/dr status\` shows replication and lag per file system; ${ADVICE[a.problem ?? "lag"](c)}`
      .text,
    md`_Checked every ${duration(c.watchIntervalMs)}; this message is updated until protection is back._`
      .text,
  ].join("\n");
}

/** The same message once protection is back. */
export function resolvedMessage(a: ProtectionAssessment, alert: AlertRecord, c: AlertContext): string {
  const at = alert.resolvedAt ?? c.now;
  return [
    md`:white_check_mark: *DR protection restored* at ${utc(at)}, after ${duration(at - alert.since)}.`.text,
    md`• *Was:* ${alert.summary} (since ${utc(alert.since)}).`.text,
    md`• *Now:* ${a.summary}.`.text,
  ].join("\n");
}
