// The `volume-resize` job: no approval (none is configured for growing a volume), and like a
// volume creation a DR operation cancels it while it has changed nothing and lets it finish once
// it has begun.

import { formatDuration } from "../../core/duration.ts";
import { code, link, md } from "../../core/mrkdwn.ts";
import { pvName } from "../../core/paths.ts";
import { JobCancelled, type JobDefinition } from "../../core/steps.ts";
import type { JobDeps } from "../deps.ts";
import { type VolumeResizeInput, volumeResizeInput } from "../volumes/input.ts";
import { type VolumeResizeState, volumeResizeSteps } from "./steps.ts";

export type { VolumeResizeState };

export const volumeResizeJob: JobDefinition<VolumeResizeInput, VolumeResizeState, JobDeps> = {
  kind: "volume-resize",
  describe: (input) => `Resize of volume ${pvName(input)} to ${input.sizeGi}Gi`,
  input: volumeResizeInput,
  initialState: () => ({}),
  steps: volumeResizeSteps,
  async guard(envelope, deps) {
    const holder = await deps.dr.drLockHolder();
    if (!holder || (await deps.dr.isVolumeApplying(envelope.requestId))) return;
    const op = await deps.dr.operation();
    throw new JobCancelled(
      md`a DR operation (${holder}${op ? `, ${op.kind}${op.status === "incomplete" ? " INCOMPLETE" : ""}` : ""}) started before this resize changed anything, so nothing was changed. Ask again when \`/dr status\` shows it has ended.`,
    );
  },
  async onEnd(envelope, deps) {
    await deps.dr.volumeDone(envelope.requestId);
  },
  summarize(envelope) {
    const { input, state } = envelope;
    const took = envelope.startedAt ? formatDuration(Date.now() - envelope.startedAt) : "?";
    return [
      md`*PV* ${code(pvName(input))}: ${state.fromGi ?? "?"}Gi → ${input.sizeGi}Gi on ${state.cluster ?? "?"}`,
      state.claimKept
        ? md`*PVC* ${code(`${input.namespace}/${input.pvcName}`)}: ${state.claimKept}`
        : md`*PVC* ${code(`${input.namespace}/${input.pvcName}`)} requests ${input.sizeGi}Gi`,
      state.commitUrl
        ? md`*Git* ${link(state.commitUrl, `${state.files?.length ?? 0} file(s), one commit`)}`
        : md`*Git* already recorded`,
      md`*Took* ${took}.`,
    ];
  },
};
