// Every gated DR operation's job, by kind: what admission, workers and commands look up.

import type { JobDefinition } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import type { DrInput, DrJobState, DrKind } from "./engine.ts";
import { failoverJob } from "./failover.ts";
import { reprotectJob } from "./reprotect.ts";
import { switchoverJob } from "./switchover.ts";

export const DR_JOBS: Record<DrKind, JobDefinition<DrInput, DrJobState, JobDeps>> = {
  failover: failoverJob,
  reprotect: reprotectJob,
  switchover: switchoverJob,
};
