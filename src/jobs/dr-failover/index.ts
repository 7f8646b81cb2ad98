// The `dr-failover` job: its steps, its summary, and what it releases whatever the outcome.

import { formatDuration } from "../../core/duration.ts";
import type { JobDefinition } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import { type FailoverInput, type FailoverState, failoverInput } from "./input.ts";
import { failoverSteps } from "./steps.ts";

export const failoverJob: JobDefinition<FailoverInput, FailoverState, JobDeps> = {
  kind: "dr-failover",
  describe: (input) => (input.dryRun ? "DR failover plan (dry run)" : "DR failover"),
  input: failoverInput,
  initialState: () => ({}),
  steps: failoverSteps,
  summarize(envelope) {
    const { state, input } = envelope;
    if (input.dryRun) return ["*Plan* (nothing was changed):", ...(state.plan?.lines ?? [])];
    const took = envelope.startedAt ? formatDuration(Date.now() - envelope.startedAt) : "?";
    const lag =
      state.lagAtCutoverSeconds == null ? "unknown" : formatDuration(state.lagAtCutoverSeconds * 1000);
    return [
      `*Moved* ${state.applied ?? 0} of ${state.plan?.volumes ?? 0} volumes to the secondary site in ${took}.`,
      `*Lag at cut-over* ${lag} (writes on the primary after that point were not replicated).`,
      `*Replication* ${state.replicationMode === "already stopped" ? "was already stopped" : `deleted (${state.replicationMode})`}.`,
      state.commitUrl
        ? `*Git* <${state.commitUrl}|one commit> under the secondary folder.`
        : "*Git* already recorded.",
      (state.attention ?? 0) > 0
        ? `:warning: *${state.attention} volume(s) need attention*: see the apply step in the thread; \`/dr status\` lists them.`
        : "Every volume is Bound on the secondary cluster.",
      (state.plan?.excluded.length ?? 0) > 0
        ? `:warning: ${state.plan?.excluded.length} recorded volume(s) were left out of the plan (see the plan).`
        : "",
      "Next: redeploy the applications on the secondary cluster and move traffic.",
    ].filter(Boolean);
  },
  async onEnd(envelope, deps) {
    await deps.dr.releaseDrLock(envelope.requestId);
  },
};
