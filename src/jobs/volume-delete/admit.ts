// Admission of `/volume delete` (and `drbot volume delete`): every refusal that needs no
// approval happens here, before anything is queued — a DR operation holding the lock, another
// request for the same volume, nothing recorded, a pod mounting the claim, a foreign object in
// the way. And the resume of a deletion that stopped past its point of no return.

import type { Approvals } from "../../core/approvals.ts";
import type { AuditLog } from "../../core/audit.ts";
import type { Config } from "../../core/config.ts";
import type { DrState } from "../../core/dr-state.ts";
import { errorMessage } from "../../core/errors.ts";
import { escapeMrkdwn, type Mrkdwn, md, mention } from "../../core/mrkdwn.ts";
import { pvName, type SiteName, type VolumeId } from "../../core/paths.ts";
import type { ChatPort } from "../../core/ports/chat.ts";
import type { ClusterPort } from "../../core/ports/cluster.ts";
import type { GitPort } from "../../core/ports/git.ts";
import { newEnvelope, type Requester } from "../../core/steps.ts";
import { isUnfinishedState, jobIdFor, type Queues } from "../queues.ts";
import {
  type Admission,
  admitOneAtATime,
  makeWay,
  postAndQueue,
  type VolumeKind,
} from "../volumes/admission.ts";
import { volumeDeleteJob } from "./index.ts";
import { planVolumeDelete } from "./plan.ts";

export interface DeleteAdmissionDeps {
  config: Config;
  dr: DrState;
  git: GitPort;
  clusters: Record<SiteName, ClusterPort>;
  queues: Pick<Queues, VolumeKind>;
  /** Posts the status card; absent without Slack (the worker posts it then). */
  chat: ChatPort | undefined;
  audit?: AuditLog;
}

export async function admitVolumeDelete(
  deps: DeleteAdmissionDeps,
  id: VolumeId,
  requester: Requester,
  channel: string | undefined,
): Promise<Admission> {
  const volume = pvName(id);
  const refuse = (why: string): Admission => ({
    ok: false,
    reason: `Volume ${volume} was not deleted: ${why}`,
  });
  if (!channel) {
    return refuse(
      "a deletion needs an approval in Slack, so it needs a channel for its approval card (`--channel C…`). Nothing was changed.",
    );
  }
  return admitOneAtATime(deps, volume, refuse, async (requestId) => {
    const site = (await deps.dr.activeSite()).site;
    let planning: Awaited<ReturnType<typeof planVolumeDelete>>;
    try {
      planning = await planVolumeDelete(deps, id, site, requestId);
    } catch (err) {
      return refuse(
        `drbot could not check what the deletion would remove (${escapeMrkdwn(errorMessage(err))}). Try again in a minute; if it persists, run \`drbot config check\`.`,
      );
    }
    if (!planning.ok) return refuse(`${planning.problems.map((p) => p.text).join(" ")} Nothing was changed.`);

    const jobId = jobIdFor("volume-delete", volume);
    if (!(await makeWay(deps.queues["volume-delete"], jobId))) {
      return refuse("the previous deletion of it is still finishing. Try again in a few seconds.");
    }
    const envelope = newEnvelope(volumeDeleteJob, {
      requestId,
      input: { ...id },
      requester,
      origin: { channel },
    });
    const queued = await postAndQueue(
      { queue: deps.queues["volume-delete"], chat: deps.chat, ...(deps.audit ? { audit: deps.audit } : {}) },
      volumeDeleteJob,
      envelope,
      jobId,
      volume,
    );
    return queued.ok ? queued : refuse(queued.reason);
  });
}

export interface ResumeDeps {
  approvals: Approvals;
  dr: DrState;
  queues: Pick<Queues, "volume-delete">;
  audit: AuditLog;
}

/**
 * `/volume delete resume <request-id>`: the requester or an approver of that deletion carries it
 * to its end once it has stopped past its point of no return (nothing more needs approving:
 * what it deletes was approved, and the claim is already gone).
 */
export async function resumeVolumeDelete(deps: ResumeDeps, id: string, user: string): Promise<Mrkdwn> {
  const record = await deps.approvals.get(id);
  const job = record?.jobId ? await deps.queues["volume-delete"].getJob(record.jobId) : undefined;
  if (record?.action !== "volume-delete" || !job || job.data.requestId !== id) {
    return md`There is no volume deletion \`${id}\`.`;
  }
  const approver = record.approvals.some((a) => a.user === user);
  if (user !== record.requester && !approver) {
    return md`Only ${mention(record.requester)}, who asked for \`${id}\`, or an approver of it can resume it.`;
  }
  const state = await job.getState();
  const dropped = state === "failed" && job.data.pastPointOfNoReturn && !job.data.outcome;
  if (!dropped && (!job.data.halted || !isUnfinishedState(state))) {
    return job.data.outcome
      ? md`\`${id}\` already ended (${job.data.outcome.state}); there is nothing to resume.`
      : md`\`${id}\` has not stopped: its card shows where it is. Only a deletion that stopped past its point of no return is resumed.`;
  }
  await deps.dr.requestResume(id, user, approver);
  await deps.audit.record({
    event: "resume.requested",
    request: id,
    user,
    detail: approver ? "approver" : "requester",
  });
  if (dropped) {
    // Failed by the queue itself past its point of no return: queued again with its checkpoint.
    const envelope = {
      ...job.data,
      halted: job.data.halted ?? { step: "", reason: "failed by the queue", at: Date.now() },
    };
    await job.remove();
    await deps.queues["volume-delete"].add(job.name, envelope, { jobId: job.id as string });
  } else await job.promote().catch(() => {});
  return md`Resuming \`${id}\`; its status card shows each step.`;
}
