// Admission of `/volume resize` (and `drbot volume resize`): recorded for the active site and
// what drbot wrote, larger than now (never smaller), within the tenant's quota, no DR operation
// holding the lock and no other request for the same volume.

import { errorMessage } from "../../core/errors.ts";
import { escapeMrkdwn } from "../../core/mrkdwn.ts";
import { pvName } from "../../core/paths.ts";
import { newEnvelope, type Requester } from "../../core/steps.ts";
import type { VolumeRequest } from "../../core/volume-request.ts";
import { jobIdFor } from "../queues.ts";
import { type AdmissionDeps, quotaRefusal } from "../volume-create/admit.ts";
import { type Admission, admitOneAtATime, makeWay, postAndQueue } from "../volumes/admission.ts";
import { readRecordedVolume } from "../volumes/recorded.ts";
import { volumeResizeJob } from "./index.ts";

export async function admitVolumeResize(
  deps: Omit<AdmissionDeps, "authorizer">,
  request: VolumeRequest,
  requester: Requester,
  channel: string | undefined,
): Promise<Admission> {
  const volume = pvName(request);
  const refuse = (why: string): Admission => ({
    ok: false,
    reason: `Volume ${volume} was not resized: ${why}`,
  });
  return admitOneAtATime(deps, volume, refuse, async (requestId) => {
    const site = (await deps.dr.activeSite()).site;
    let recorded: Awaited<ReturnType<typeof readRecordedVolume>>;
    try {
      recorded = await readRecordedVolume(deps, request);
    } catch (err) {
      return refuse(
        `drbot could not read it from Git (${escapeMrkdwn(errorMessage(err))}). Try again in a minute.`,
      );
    }
    const here = recorded[site];
    if (!here) {
      return refuse(
        `it is not recorded in Git for the ${site} site, so there is nothing to resize. \`/volume list\` shows the recorded volumes. Nothing was changed.`,
      );
    }
    for (const r of [recorded.primary, recorded.secondary]) {
      if (r && !r.check.ok) {
        return refuse(
          `its recorded manifest \`${escapeMrkdwn(r.path)}\` differs from what drbot wrote (${escapeMrkdwn(r.check.differences.join("; "), 600)}). Fix it in Git first. Nothing was changed.`,
        );
      }
    }
    const from = here.check.ok ? here.check.sizeGi : 0;
    if (request.sizeGi < from) {
      return refuse(
        `it is ${from}Gi, and volumes only grow: Kubernetes never shrinks a claim, and the data in it may not fit. To use less, create a smaller volume and move the data. Nothing was changed.`,
      );
    }
    if (request.sizeGi === from) return refuse(`it is already ${from}Gi. Nothing was changed.`);
    const overQuota = await quotaRefusal(deps, site, request.businessUnit, {
      volumes: 0,
      totalGi: request.sizeGi - from,
    });
    if (overQuota) return refuse(overQuota);

    const jobId = jobIdFor("volume-resize", volume);
    if (!(await makeWay(deps.queues["volume-resize"], jobId))) {
      return refuse("the previous resize of it is still finishing. Try again in a few seconds.");
    }
    const envelope = newEnvelope(volumeResizeJob, {
      requestId,
      input: { ...request },
      requester,
      origin: channel ? { channel } : {},
    });
    const queued = await postAndQueue(
      { queue: deps.queues["volume-resize"], chat: deps.chat, ...(deps.audit ? { audit: deps.audit } : {}) },
      volumeResizeJob,
      envelope,
      jobId,
      volume,
    );
    return queued.ok ? queued : refuse(queued.reason);
  });
}
