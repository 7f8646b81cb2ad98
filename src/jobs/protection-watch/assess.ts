// Is the active site's data protected right now? A pure decision over what EFS reported, so every
// rule is tested on its own. Protection is lost when nothing replicates from the active file
// system to the standby, when that replication is not ENABLED, when it has never completed a
// copy, or when its lag (now − LastReplicatedTimestamp) is above the RPO objective.

import { formatDuration } from "../../core/duration.ts";
import type { SiteName } from "../../core/paths.ts";
import type { ReplicationInfo } from "../../core/ports/efs.ts";

export interface FileSystemRef {
  site: SiteName;
  fileSystemId: string;
  region: string;
}

export interface ProtectionInput {
  now: number;
  active: FileSystemRef;
  standby: FileSystemRef;
  /** What EFS describes for the active file system (null: no replication configuration). */
  replication: ReplicationInfo | null;
  rpoObjectiveMs: number;
  /**
   * When the standby last received the active site's data, as seen by an earlier check; used
   * when EFS no longer reports it (replication deleted).
   */
  lastKnownReplicated?: number;
}

export type ProtectionProblem =
  | "no-replication" // nothing replicates from the active file system
  | "reversed" // the active file system is a destination: replication runs toward it
  | "other-destination" // it replicates, but not to the configured standby
  | "not-enabled" // the replication's status is not ENABLED
  | "never-replicated" // ENABLED, but no copy has completed yet
  | "lag"; // behind by more than the objective

export interface ProtectionAssessment {
  protected: boolean;
  problem?: ProtectionProblem;
  /** One sentence, plain text: what is wrong, or what protects the data. */
  summary: string;
  /** Replication status of the destination, when there is one. */
  status?: string;
  /** When the standby last received the active site's data (ms since the epoch). */
  lastReplicated?: number;
  lagMs?: number;
  /** The earliest instant protection is known to have been lost (lag: when it crossed the objective). */
  lostSince?: number;
}

export function assessProtection(input: ProtectionInput): ProtectionAssessment {
  const { now, active, standby, replication, rpoObjectiveMs } = input;
  const destination = replication?.destinations[0];
  const fromActive = replication?.sourceFileSystemId === active.fileSystemId;
  const reported =
    fromActive && destination?.fileSystemId === standby.fileSystemId
      ? destination.lastReplicatedTimestamp?.getTime()
      : undefined;
  const lastReplicated = reported ?? input.lastKnownReplicated;
  const timing = {
    ...(lastReplicated === undefined ? {} : { lastReplicated, lagMs: Math.max(0, now - lastReplicated) }),
  };
  const lost = (problem: ProtectionProblem, summary: string, extra: Partial<ProtectionAssessment> = {}) => ({
    protected: false,
    problem,
    summary,
    ...timing,
    lostSince: now,
    ...extra,
  });

  if (!replication || !destination)
    return lost(
      "no-replication",
      `no replication from the active file system ${active.fileSystemId} (${active.site}, ${active.region})`,
    );
  if (!fromActive)
    return lost(
      "reversed",
      `the active file system ${active.fileSystemId} (${active.site}) is a replication destination of ${replication.sourceFileSystemId}, so nothing replicates its data`,
      { status: destination.status },
    );
  if (destination.fileSystemId !== standby.fileSystemId)
    return lost(
      "other-destination",
      `replication from ${active.fileSystemId} goes to ${destination.fileSystemId} (${destination.region}), not to the standby ${standby.fileSystemId} (${standby.site})`,
      { status: destination.status },
    );
  const pair = `replication from ${active.fileSystemId} (${active.site}) to ${standby.fileSystemId} (${standby.site})`;
  if (destination.status !== "ENABLED")
    return lost("not-enabled", `${pair} is ${destination.status}, not ENABLED`, {
      status: destination.status,
    });
  if (reported === undefined)
    return lost("never-replicated", `${pair} has not completed its first copy yet`, {
      status: destination.status,
    });
  const lagMs = Math.max(0, now - reported);
  if (lagMs > rpoObjectiveMs)
    return lost(
      "lag",
      `${pair} is ${formatDuration(lagMs)} behind, above the ${formatDuration(rpoObjectiveMs)} objective`,
      { status: destination.status, lostSince: reported + rpoObjectiveMs },
    );
  return {
    protected: true,
    summary: `${pair} is ENABLED, ${formatDuration(lagMs)} behind (objective ${formatDuration(rpoObjectiveMs)})`,
    status: destination.status,
    lastReplicated: reported,
    lagMs,
  };
}
