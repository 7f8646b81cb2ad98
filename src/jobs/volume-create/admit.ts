// Admission of a volume request, shared by the slash command, the modal and the CLI: every
// refusal happens here, before anything is created, and at most one job per volume is queued.

import type { AuditLog } from "../../core/audit.ts";
import { type Authorizer, describePrincipals } from "../../core/authorize.ts";
import type { Config } from "../../core/config.ts";
import type { DrState } from "../../core/dr-state.ts";
import { errorMessage } from "../../core/errors.ts";
import { escapeMrkdwn } from "../../core/mrkdwn.ts";
import { pvName, type SiteName, type VolumeId } from "../../core/paths.ts";
import type { ChatPort } from "../../core/ports/chat.ts";
import type { ClusterPort } from "../../core/ports/cluster.ts";
import type { GitPort } from "../../core/ports/git.ts";
import { quotaProblem, type TenantUsage } from "../../core/quota.ts";
import { newEnvelope, type Requester } from "../../core/steps.ts";
import { namespaceOwnerProblem } from "../../core/tenancy.ts";
import {
  type RawVolumeRequest,
  type VolumeRequest,
  validateVolumeRequest,
} from "../../core/volume-request.ts";
import { describeExisting, findExistingVolume } from "../../core/volumes.ts";
import { jobIdFor, type Queues, unfinishedJobs } from "../queues.ts";
import {
  type Admission,
  admitOneAtATime,
  makeWay,
  postAndQueue,
  type VolumeKind,
} from "../volumes/admission.ts";
import { tenantUsage } from "../volumes/recorded.ts";
import { volumeCreateJob } from "./index.ts";

export interface AdmissionDeps {
  config: Config;
  dr: DrState;
  git: GitPort;
  clusters: Record<"primary" | "secondary", ClusterPort>;
  authorizer: Authorizer;
  /** Every volume queue: one request per volume across create, delete and resize. */
  queues: Pick<Queues, VolumeKind>;
  /** Posts the status card; absent for the CLI. */
  chat: ChatPort | undefined;
  audit?: AuditLog;
}

export type { Admission };

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

/** What a refusal calls the request: `/volume create`'s wording unless another command's is given. */
export interface RequestWording {
  /** "request volumes for", "delete volumes of", … */
  verb: string;
  /** "Nothing was created." */
  nothing: string;
}

const CREATE_WORDING: RequestWording = { verb: "request volumes for", nothing: "Nothing was created." };

/**
 * Whether the requester may ask for this tenant's volumes here (a tenant's requesters create,
 * resize and delete its volumes); the reason when not.
 */
export async function refuseUnauthorized(
  deps: Pick<AdmissionDeps, "config" | "authorizer">,
  request: VolumeId,
  requester: Requester,
  channel: string | undefined,
  wording: RequestWording = CREATE_WORDING,
): Promise<string | undefined> {
  const { config } = deps;
  if (channel && config.channels.length > 0 && !config.channels.includes(channel)) {
    return `drbot does not take volume requests in this channel. Ask in one of the channels the platform team set up for it. ${wording.nothing}`;
  }
  if (requester.id.startsWith("cli:")) return undefined; // the CLI runs with the operator's own access to Redis
  const tenant = Object.hasOwn(config.volumes.tenants, request.businessUnit)
    ? config.volumes.tenants[request.businessUnit]
    : undefined;
  if (await deps.authorizer.includes(tenant?.requesters, requester.id)) return undefined;
  return `You may not ${wording.verb} business unit ${request.businessUnit}: requests there come from ${describePrincipals(tenant?.requesters ?? { users: [], groups: [] })}. Ask one of them, or ask the platform team to add you. ${wording.nothing}`;
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

  return admitOneAtATime(deps, volume, refuse, async (requestId) => {
    const jobId = jobIdFor("volume-create", volume);
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
    const overQuota = await quotaRefusal(deps, active, request.businessUnit, {
      volumes: 1,
      totalGi: request.sizeGi,
    });
    if (overQuota) return refuse(overQuota);

    // A finished job with this id (the volume was removed since) must make way for the new one.
    if (!(await makeWay(deps.queues["volume-create"], jobId))) {
      return refuse("the previous request for it is still finishing. Try again in a few seconds.");
    }
    const envelope = newEnvelope(volumeCreateJob, {
      requestId,
      input: request,
      requester,
      origin: channel ? { channel } : {},
    });
    const queued = await postAndQueue(
      { queue: deps.queues["volume-create"], chat: deps.chat, ...(deps.audit ? { audit: deps.audit } : {}) },
      volumeCreateJob,
      envelope,
      jobId,
      volume,
    );
    return queued.ok ? queued : refuse(queued.reason);
  });
}

/**
 * The tenant's quota, against what Git records for the active site plus the creations under way
 * (queued, not recorded yet); the refusal names usage and limit. Read only when a quota is set.
 */
export async function quotaRefusal(
  deps: Pick<AdmissionDeps, "config" | "git" | "queues">,
  site: SiteName,
  businessUnit: string,
  adding: TenantUsage,
): Promise<string | undefined> {
  const quota = deps.config.volumes.tenants[businessUnit]?.quota;
  if (!quota || (quota.volumes === undefined && quota.totalGi === undefined)) return undefined;
  let usage: TenantUsage;
  try {
    const recorded = await tenantUsage(deps, site, businessUnit);
    const queued = (await unfinishedJobs(deps.queues["volume-create"])).filter(
      (e) => (e.input as VolumeRequest).businessUnit === businessUnit,
    );
    usage = {
      volumes: recorded.volumes + queued.length,
      totalGi: recorded.totalGi + queued.reduce((sum, e) => sum + (e.input as VolumeRequest).sizeGi, 0),
    };
  } catch (err) {
    return `drbot could not read business unit ${escapeMrkdwn(businessUnit)}'s usage to check its quota (${escapeMrkdwn(errorMessage(err))}). Try again in a minute.`;
  }
  const problem = quotaProblem(businessUnit, quota, usage, adding);
  return problem ? escapeMrkdwn(problem, 1000) : undefined;
}
