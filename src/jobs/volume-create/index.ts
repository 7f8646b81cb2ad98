// The `volume-create` job: input, steps and the summary the tenant sees at the end.

import { formatDuration } from "../../core/duration.ts";
import { pvName } from "../../core/paths.ts";
import type { JobDefinition } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import { type VolumeCreateInput, type VolumeCreateState, volumeCreateInput } from "./input.ts";
import { volumeCreateSteps } from "./steps.ts";

export const volumeCreateJob: JobDefinition<VolumeCreateInput, VolumeCreateState, JobDeps> = {
  kind: "volume-create",
  describe: (input) => `Volume ${pvName(input)} (${input.sizeGi}Gi)`,
  input: volumeCreateInput,
  initialState: () => ({}),
  steps: volumeCreateSteps,
  summarize(envelope) {
    const { input, state } = envelope;
    const took = envelope.startedAt ? formatDuration(Date.now() - envelope.startedAt) : "?";
    return [
      `*PV* \`${pvName(input)}\` · *PVC* \`${input.pvcName}\` in namespace \`${input.namespace}\` (${input.sizeGi}Gi, ${state.site ?? "?"} site)`,
      `*NFS* \`${state.exported ?? "?"}\``,
      state.commitUrl
        ? `*Git* <${state.commitUrl}|${state.gitPath}>`
        : `*Git* ${state.gitPath ?? "?"} (already recorded)`,
      `*Took* ${took}. Mount it with \`persistentVolumeClaim.claimName: ${input.pvcName}\`.`,
    ];
  },
};
