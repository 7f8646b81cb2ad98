// The `volume-create` job: input, steps and the summary the tenant sees at the end.

import { formatDuration } from "../../core/duration.ts";
import { code, link, md } from "../../core/mrkdwn.ts";
import { pvName } from "../../core/paths.ts";
import { JobCancelled, type JobDefinition } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import { type VolumeCreateInput, type VolumeCreateState, volumeCreateInput } from "./input.ts";
import { volumeCreateSteps } from "./steps.ts";

export const volumeCreateJob: JobDefinition<VolumeCreateInput, VolumeCreateState, JobDeps> = {
  kind: "volume-create",
  describe: (input) => `Volume ${pvName(input)} (${input.sizeGi}Gi)`,
  input: volumeCreateInput,
  initialState: () => ({}),
  steps: volumeCreateSteps,
  // A DR operation that holds the lock lets only the requests that had applied objects finish.
  async guard(envelope, deps) {
    const holder = await deps.dr.drLockHolder();
    if (!holder || (await deps.dr.isVolumeApplying(envelope.requestId))) return;
    const op = await deps.dr.operation();
    throw new JobCancelled(
      md`a DR operation (${holder}${op ? `, ${op.kind}${op.status === "incomplete" ? " INCOMPLETE" : ""}` : ""}) started before this request applied anything, so nothing was created on a cluster. Ask again when \`/dr status\` shows it has ended.`,
    );
  },
  async onEnd(envelope, deps) {
    await deps.dr.volumeDone(envelope.requestId);
  },
  summarize(envelope) {
    const { input, state } = envelope;
    const took = envelope.startedAt ? formatDuration(Date.now() - envelope.startedAt) : "?";
    return [
      md`*PV* ${code(pvName(input))} · *PVC* ${code(input.pvcName)} in namespace ${code(input.namespace)} (${input.sizeGi}Gi, ${state.site ?? "?"} site)`,
      md`*NFS* ${code(state.exported ?? "?")}`,
      state.commitUrl
        ? md`*Git* ${link(state.commitUrl, state.gitPath ?? "commit")}`
        : md`*Git* ${state.gitPath ?? "?"} (already recorded)`,
      md`*Took* ${took}. Mount it with ${code(`persistentVolumeClaim.claimName: ${input.pvcName}`)}.`,
    ];
  },
};
