// The `volume-delete` job. Not a DR operation (it takes no DR lock), but a DR operation that
// takes the lock cancels it while it has deleted nothing and lets it finish once it has begun,
// as for volume creation. Past the PVC's deletion it is finished, never abandoned: a step that
// fails for good halts it until the requester or an approver resumes it.

import { formatDuration } from "../../core/duration.ts";
import { code, link, md } from "../../core/mrkdwn.ts";
import { pvName } from "../../core/paths.ts";
import { JobCancelled, type JobDefinition } from "../../core/steps.ts";
import { withdrawApproval } from "../approval/gate.ts";
import type { JobDeps } from "../deps.ts";
import { type VolumeIdInput, volumeIdInput } from "../volumes/input.ts";
import { POINT_OF_NO_RETURN, planOf, type VolumeDeleteState, volumeDeleteSteps } from "./steps.ts";

export type { VolumeDeleteState };

export const volumeDeleteJob: JobDefinition<VolumeIdInput, VolumeDeleteState, JobDeps> = {
  kind: "volume-delete",
  describe: (input) => `Deletion of volume ${pvName(input)}`,
  input: volumeIdInput,
  initialState: () => ({}),
  steps: volumeDeleteSteps,
  pointOfNoReturn: POINT_OF_NO_RETURN,
  async guard(envelope, deps) {
    const holder = await deps.dr.drLockHolder();
    if (!holder || (await deps.dr.isVolumeApplying(envelope.requestId))) return;
    const op = await deps.dr.operation();
    throw new JobCancelled(
      md`a DR operation (${holder}${op ? `, ${op.kind}${op.status === "incomplete" ? " INCOMPLETE" : ""}` : ""}) started before this deletion changed anything, so nothing was deleted. Ask again when \`/dr status\` shows it has ended.`,
    );
  },
  async onEnd(envelope, deps) {
    await deps.dr.volumeDone(envelope.requestId);
    // A request whose job ended before it was approved must not keep live buttons.
    await withdrawApproval(
      deps,
      envelope.requestId,
      `the deletion request ended (${envelope.outcome?.state ?? "ended"}) before it was approved`,
    );
  },
  async takeResume(envelope, deps) {
    return deps.dr.takeResume(envelope.requestId);
  },
  async onHalt(envelope, deps) {
    await deps.audit.record({
      event: "operation.halted",
      request: envelope.requestId,
      kind: envelope.kind,
      detail: (envelope.halted?.reason ?? "").slice(0, 500),
    });
  },
  nextSteps(envelope) {
    if (envelope.halted) {
      return md`The deletion is past its point of no return (the PVC is being deleted) and stopped. Fix what the message names; then the requester or an approver of it runs \`/volume delete resume ${envelope.requestId}\` to finish it. The thread has each step's log.`;
    }
    return md`Fix what the message names, then ask again; nothing was deleted before the PVC's deletion. The thread below has each step's log.`;
  },
  summarize(envelope) {
    const { state } = envelope;
    const p = planOf(state);
    const took = envelope.startedAt ? formatDuration(Date.now() - envelope.startedAt) : "?";
    const trashed = `/${p.trash.join("/")}`;
    return [
      md`*PVC* ${code(p.claim)} and *PV* ${code(p.volume)} ${p.pv || p.pvc ? "deleted" : "were not there"} on ${p.cluster}`,
      state.moved === "missing"
        ? md`*Directory*: there was none to move`
        : md`*Directory* moved to ${code(trashed)} on the ${p.site} site, content intact; the daily purge removes it once the retention has passed`,
      state.commitUrl ? md`*Git* ${link(state.commitUrl, "removal commit")}` : md`*Git* already removed`,
      md`*Took* ${took}. The name ${code(p.volume)} can be requested again.`,
    ];
  },
};
