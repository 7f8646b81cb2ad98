// What job steps may use. Adapters arrive through ports, so steps never import an SDK.

import type { Approvals } from "../core/approvals.ts";
import type { AuditLog } from "../core/audit.ts";
import type { Authorizer } from "../core/authorize.ts";
import type { Config } from "../core/config.ts";
import type { DrState } from "../core/dr-state.ts";
import type { Notifier } from "../core/notifier.ts";
import type { OperationStore } from "../core/operation-store.ts";
import type { SiteName } from "../core/paths.ts";
import type { ClusterPort } from "../core/ports/cluster.ts";
import type { DirectoryStore } from "../core/ports/directories.ts";
import type { EfsPort } from "../core/ports/efs.ts";
import type { GitPort } from "../core/ports/git.ts";
import type { Queues } from "./queues.ts";

export interface JobDeps {
  config: Config;
  efs: EfsPort;
  clusters: Record<SiteName, ClusterPort>;
  git: GitPort;
  directories: DirectoryStore;
  dr: DrState;
  timing: JobTiming;
  approvals: Approvals;
  authorizer: Authorizer;
  operations: OperationStore;
  /** Chat delivery for cards other than the job's own status card (approval requests). */
  notifier: Notifier | undefined;
  /** Every queue, so an operation can see (and wake) the jobs it affects. */
  queues: Queues;
  /** Who did what, when: every request, click, resume and outcome. */
  audit: AuditLog;
}

export interface JobTiming {
  /** How often to look again while waiting (PVC binding, replication deletion). */
  pollMs: number;
  /** How long a PVC may stay Pending before the job fails. */
  bindTimeoutMs: number;
}

export const DEFAULT_TIMING: JobTiming = { pollMs: 1_000, bindTimeoutMs: 120_000 };
