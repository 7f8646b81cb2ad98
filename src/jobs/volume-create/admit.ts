// Admission of a volume request, shared by the slash command, the modal and the CLI: every
// refusal happens here, before anything is created, and at most one job per volume is queued.

import { randomUUID } from "node:crypto";
import type { Queue } from "bullmq";
import type { AuditLog } from "../../core/audit.ts";
import { type Authorizer, describePrincipals } from "../../core/authorize.ts";
import type { Config } from "../../core/config.ts";
import type { DrState } from "../../core/dr-state.ts";
import { DrbotError, errorMessage } from "../../core/errors.ts";
import { escapeMrkdwn } from "../../core/mrkdwn.ts";
import { pvName } from "../../core/paths.ts";
import type { ChatPort } from "../../core/ports/chat.ts";
import type { ClusterPort } from "../../core/ports/cluster.ts";
import type { GitPort } from "../../core/ports/git.ts";
import { renderStatusCard } from "../../core/status-card.ts";
import { type JobEnvelope, newEnvelope, type Requester } from "../../core/steps.ts";
import { namespaceOwnerProblem } from "../../core/tenancy.ts";
import {
  type RawVolumeRequest,
  type VolumeRequest,
  validateVolumeRequest,
} from "../../core/volume-request.ts";
import { describeExisting, findExistingVolume } from "../../core/volumes.ts";
import { isUnfinishedState, jobIdFor } from "../queues.ts";
import { volumeCreateJob } from "./index.ts";

export interface AdmissionDeps {
  config: Config;
  dr: DrState;
  git: GitPort;
  clusters: Record<"primary" | "secondary", ClusterPort>;
  authorizer: Authorizer;
  queue: Queue<JobEnvelope>;
  /** Posts the status card; absent for the CLI. */
  chat: ChatPort | undefined;
  audit?: AuditLog;
}

export type Admission =
  | { ok: true; jobId: string; requestId: string; volume: string; statusTs?: string }
  | { ok: false; reason: string; fields?: Record<string, string> };

/** Longer than the slowest checks inside admission (Git and Kubernetes time out at 30 s). */
const ADMISSION_MS = 90_000;

export type InputCheck =
  | { ok: true; request: VolumeRequest }
  | { ok: false; reason: string; fields: Record<string, string> };

/** Pure input checks, answered in the command's acknowledgement. */
export function checkVolumeInput(config: Config, raw: RawVolumeRequest): InputCheck {
  const valid = validateVolumeRequest(raw, {
    tenants: config.volumes.tenants,
    maxSizeGi: config.volumes.maxSizeGi,
  });
  if (valid.ok) return { ok: true, request: valid.value };
  const count = valid.problems.length === 1 ? "a problem" : `${valid.problems.length} problems`;
  return {
    ok: false,
    reason: `The volume request has ${count}:\n${valid.problems.map((p) => `• ${escapeMrkdwn(p.message)}`).join("\n")}\nNothing was created. Example: \`/volume create bu=sales app=shipping ns=shipping-dev pvc=data size=10Gi\``,
    fields: Object.fromEntries(valid.problems.map((p) => [p.field, p.message])),
  };
}

/** Whether the requester may ask for this tenant's volumes here; the reason when not. */
export async function refuseUnauthorized(
  deps: Pick<AdmissionDeps, "config" | "authorizer">,
  request: VolumeRequest,
  requester: Requester,
  channel: string | undefined,
): Promise<string | undefined> {
  const { config } = deps;
  if (channel && config.channels.length > 0 && !config.channels.includes(channel)) {
    return "drbot does not take volume requests in this channel. Ask in one of the channels the platform team set up for it. Nothing was created.";
  }
  if (requester.id.startsWith("cli:")) return undefined; // the CLI runs with the operator's own access to Redis
  const tenant = config.volumes.tenants[request.businessUnit];
  if (await deps.authorizer.includes(tenant?.requesters, requester.id)) return undefined;
  return `You may not request volumes for business unit ${request.businessUnit}: requests there come from ${describePrincipals(tenant?.requesters ?? { users: [], groups: [] })}. Ask one of them, or ask the platform team to add you. Nothing was created.`;
}

export async function admitVolumeRequest(
  deps: AdmissionDeps,
  request: VolumeRequest,
  requester: Requester,
  channel: string | undefined,
): Promise<Admission> {
  const volume = pvName(request);
  const refuse = (why: string): Admission => ({
    ok: false,
    reason: `Volume ${volume} was not requested: ${why}`,
  });

  const lock = await deps.dr.drLockHolder();
  if (lock) {
    const op = await deps.dr.operation();
    return refuse(
      op?.status === "incomplete"
        ? `a DR operation (${lock}) is in progress: the ${op.kind} is INCOMPLETE (${escapeMrkdwn(op.note ?? "")}) and holds the DR lock until an approver resumes it with \`/dr ${op.kind} resume ${lock}\`. New volumes would land on a file system nobody replicates. Ask again when \`/dr status\` shows it has finished.`
        : `a DR operation (${lock}) is in progress. Ask again when \`/dr status\` shows it has finished.`,
    );
  }

  const requestId = `vol-${randomUUID().slice(0, 8)}`;
  if (!(await deps.dr.admit(`volume:${volume}`, requestId, ADMISSION_MS))) {
    return refuse(
      "the same volume is being requested right now by someone else. Watch the channel for its status card.",
    );
  }
  try {
    const jobId = jobIdFor("volume-create", volume);
    const previous = await deps.queue.getJob(jobId);
    if (previous) {
      const state = await previous.getState();
      // A job with an outcome is only finishing (its final card is out); it is not in the way.
      if (isUnfinishedState(state) && !previous.data.outcome) {
        const who = previous.data.requester.id;
        return refuse(
          `it is already being created (request \`${previous.data.requestId}\` by ${who.startsWith("cli:") ? who : `<@${who}>`}). Watch its status card.`,
        );
      }
    }
    const active = (await deps.dr.activeSite()).site;
    let existing: Awaited<ReturnType<typeof findExistingVolume>>;
    try {
      existing = await findExistingVolume(
        deps.config,
        { git: deps.git, cluster: deps.clusters[active] },
        active,
        request,
      );
    } catch (err) {
      return refuse(
        `drbot could not check whether it already exists (${escapeMrkdwn(errorMessage(err))}). Try again in a minute; if it persists, run \`drbot config check\`.`,
      );
    }
    if (existing) return refuse(`${describeExisting(existing)}. Use it, or choose another PVC name.`);
    let namespace: Awaited<ReturnType<ClusterPort["get"]>>;
    try {
      namespace = await deps.clusters[active].get("Namespace", request.namespace);
    } catch (err) {
      return refuse(
        `drbot could not read namespace ${request.namespace} (${escapeMrkdwn(errorMessage(err))}). Try again in a minute.`,
      );
    }
    const taken = namespaceOwnerProblem(request.businessUnit, namespace);
    if (taken) return refuse(escapeMrkdwn(taken));

    // A finished job with this id (the volume was removed since) must make way for the new one.
    if (previous) {
      try {
        await previous.remove();
      } catch {
        return refuse("the previous request for it is still finishing. Try again in a few seconds.");
      }
    }

    const envelope = newEnvelope(volumeCreateJob, {
      requestId,
      input: request,
      requester,
      origin: channel ? { channel } : {},
    });
    if (channel && deps.chat) {
      const card = renderStatusCard(envelope, volumeCreateJob.describe(request), volumeCreateJob);
      try {
        const ref = await deps.chat.post(channel, card.text, card.blocks);
        envelope.origin.statusTs = ref.ts;
      } catch (err) {
        // Slack refuses this channel for good: say so now, instead of a card that never appears.
        if (
          err instanceof DrbotError &&
          ["slack.not_in_channel", "slack.channel_not_found"].includes(err.code)
        ) {
          return refuse(
            "drbot cannot post its status card in this channel (it is not a member, or Slack does not know the channel): invite it with `/invite @drbot`, then ask again.",
          );
        }
        // Otherwise the worker's notifier posts the card itself when Slack is back.
      }
    }
    const withdraw = async (why: string) => {
      const ref = envelope.origin.statusTs;
      if (channel && ref && deps.chat) {
        await deps.chat
          .update({ channel, ts: ref }, `${volumeCreateJob.describe(request)}: not queued — ${why}`)
          .catch(() => {});
      }
    };
    let queued: Awaited<ReturnType<typeof deps.queue.add>>;
    try {
      queued = await deps.queue.add(volumeCreateJob.kind, envelope, { jobId });
    } catch (err) {
      await withdraw("drbot could not queue it");
      throw err;
    }
    // A job with this id may have been added meanwhile (BullMQ then returns that one): not ours.
    if (queued.data.requestId !== requestId) {
      await withdraw(`it is already being created (request ${queued.data.requestId})`);
      return refuse(
        `it is already being created (request \`${queued.data.requestId}\`). Watch its status card.`,
      );
    }
    await deps.audit?.record({
      event: "request",
      request: requestId,
      user: requester.id,
      kind: "volume-create",
      detail: volume,
    });
    return {
      ok: true,
      jobId,
      requestId,
      volume,
      ...(envelope.origin.statusTs ? { statusTs: envelope.origin.statusTs } : {}),
    };
  } finally {
    await deps.dr.admitted(`volume:${volume}`, requestId);
  }
}
