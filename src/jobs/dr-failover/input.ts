import { z } from "zod";

export const failoverInput = z.strictObject({
  /** Plan only: no approval, nothing changed. */
  dryRun: z.boolean(),
});
export type FailoverInput = z.output<typeof failoverInput>;

export interface FailoverPlanSummary {
  digest: string;
  volumes: number;
  /** Volumes left out of the plan, with why. */
  excluded: Array<{ path: string; reason: string }>;
  /** Seconds between the last completed replication and the plan: the data that may be lost. */
  lagSeconds: number | null;
  replication: "replicating" | "stopped" | "unknown";
  sourceFileSystemId: string;
  /** Decided at planning time and approved with the plan. */
  deletionMode: "ALL_CONFIGURATIONS" | "LOCAL_CONFIGURATION_ONLY";
  notes: string[];
  /** Lines shown on the approval card and in a dry run's summary. */
  lines: string[];
}

export interface FailoverState {
  plan?: FailoverPlanSummary;
  approvedBy?: string[];
  replicationMode?: "ALL_CONFIGURATIONS" | "LOCAL_CONFIGURATION_ONLY" | "already stopped";
  /** Lag when replication was stopped: what the cut-over may have lost. */
  lagAtCutoverSeconds?: number | null;
  applied?: number;
  attention?: number;
  commitUrl?: string;
}
