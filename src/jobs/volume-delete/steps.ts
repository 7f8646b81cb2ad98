// `/volume delete`: plan → approval → check again → delete the PVC (the point of no return) →
// delete the PV → move the directory into the trash → one commit removing both sites' files.
// Every step is safe to repeat: deleting what is gone, moving what has moved and committing what
// is committed change nothing.

import { formatDuration } from "../../core/duration.ts";
import { DrbotError } from "../../core/errors.ts";
import { code, joinMd, Mrkdwn, md } from "../../core/mrkdwn.ts";
import { pvName } from "../../core/paths.ts";
import type { ClusterPort } from "../../core/ports/cluster.ts";
import { JobCancelled, pollUntil, type Step, type StepContext } from "../../core/steps.ts";
import { TRASH_ENTRY_FILE, type TrashEntryInfo, trashEntry } from "../../core/trash.ts";
import { approvedByText, checkApproved, passGate } from "../approval/gate.ts";
import type { JobDeps } from "../deps.ts";
import { jobIdFor, QUEUES } from "../queues.ts";
import type { VolumeIdInput } from "../volumes/input.ts";
import { type DeletePlan, planVolumeDelete, podsMounting } from "./plan.ts";

export interface VolumeDeleteState {
  plan?: DeletePlan;
  approvedBy?: string[];
  moved?: "moved" | "already" | "missing";
  commitUrl?: string | null;
}

type DeleteStep = Step<VolumeIdInput, VolumeDeleteState, JobDeps>;
type DeleteContext = StepContext<VolumeIdInput, VolumeDeleteState, JobDeps>;

export function planOf(state: VolumeDeleteState): DeletePlan {
  if (!state.plan) {
    throw new DrbotError("internal", "volume.no_plan", "The deletion lost its plan; ask for it again.");
  }
  return state.plan;
}

function blocked(problems: readonly Mrkdwn[]): DrbotError {
  return new DrbotError(
    "conflict",
    "volume.delete_blocked",
    new Mrkdwn(`The deletion is blocked: ${problems.map((p) => p.text).join(" ")}`),
    { hint: "Nothing was changed." },
  );
}

const abs = (segments: readonly string[]) => `/${segments.join("/")}`;

/** 1. What will go, found without changing anything; a pod mounting the claim blocks it. */
const plan: DeleteStep = {
  name: "plan",
  title: "Plan the deletion",
  async run({ input, state, deps, envelope }) {
    const site = (await deps.dr.activeSite()).site;
    const planning = await planVolumeDelete(deps, input, site, envelope.requestId);
    if (!planning.ok) throw blocked(planning.problems);
    state.plan = planning.plan;
    const p = planning.plan;
    return {
      detail: md`${p.site} site: ${p.pvc ? "PVC, " : ""}${p.pv ? "PV, " : ""}directory and ${p.gitPaths.length} Git file${p.gitPaths.length === 1 ? "" : "s"}; plan ${p.digest}`,
    };
  },
};

/** 2. One approval (or more, as configured), never the requester's, bound to the plan's digest. */
const approval: DeleteStep = {
  name: "approval",
  title: "Approval",
  async run({ input, state, deps, envelope }) {
    const p = planOf(state);
    const result = await passGate(deps, envelope, {
      approvalId: envelope.requestId,
      action: "volume-delete",
      title: `Deletion of volume ${p.volume}`,
      policy: deps.config.approvals.volumeDelete,
      digest: p.digest,
      lines: p.lines,
      confirm: md`This deletes PVC ${input.namespace}/${input.pvcName} and PV ${p.volume} on ${p.cluster}, moves the directory into the trash and removes the Git files (plan \`${p.digest}\`).`,
      jobId: jobIdFor("volume-delete", pvName(input)),
      queue: QUEUES["volume-delete"],
    });
    if ("park" in result) return result;
    state.approvedBy = result.approvedBy;
    return { detail: md`approved by ${approvedByText(result.approvedBy)} (plan ${p.digest})` };
  },
};

/**
 * 3. Right before the first deletion: the approval as stored now (membership read fresh), the
 * same objects and files as approved, no pod mounting the claim, and no DR operation holding
 * the lock (from here one lets this deletion finish).
 */
const check: DeleteStep = {
  name: "check",
  title: "Check again before deleting",
  async run({ input, state, deps, envelope }) {
    const p = planOf(state);
    const record = await deps.approvals.get(envelope.requestId);
    if (!record) {
      throw new DrbotError("forbidden", "volume.not_approved", "The approval record is gone.", {
        hint: "Ask again. Nothing was changed.",
      });
    }
    await checkApproved(deps, record, { policy: deps.config.approvals.volumeDelete, digest: p.digest });
    const active = (await deps.dr.activeSite()).site;
    if (active !== p.site) {
      throw new DrbotError(
        "conflict",
        "volume.site_changed",
        `The active site is now the ${active} site; the deletion was planned on the ${p.site} site.`,
        { hint: "Ask again. Nothing was changed." },
      );
    }
    const again = await planVolumeDelete(deps, input, p.site, envelope.requestId);
    if (!again.ok) throw blocked(again.problems);
    if (again.plan.digest !== p.digest) {
      throw new DrbotError(
        "conflict",
        "volume.plan_stale",
        "The volume's objects or Git files changed since the deletion was approved.",
        { hint: "Ask again so the approvers see what would go now. Nothing was changed." },
      );
    }
    const holder = await deps.dr.volumeApplied(envelope.requestId);
    if (holder) {
      throw new JobCancelled(
        md`a DR operation (${holder}) took the lock before anything was deleted; nothing was changed. Ask again when \`/dr status\` shows it has ended.`,
      );
    }
    return { detail: md`approval valid now, nothing changed since the plan, no pod mounts the claim` };
  },
};

/**
 * Waits until the object is gone. A claim a pod still mounts is held by its finalizer: that is
 * named (the job halts until someone stops the pod and resumes); anything else slow is retried.
 */
async function waitGone(
  ctx: DeleteContext,
  cluster: ClusterPort,
  kind: "PersistentVolume" | "PersistentVolumeClaim",
  name: string,
  namespace?: string,
): Promise<number> {
  const started = Date.now();
  await pollUntil({
    check: async () => ((await cluster.get(kind, name, namespace)) === null ? true : undefined),
    timeoutMs: ctx.deps.timing.bindTimeoutMs,
    pollMs: ctx.deps.timing.pollMs,
    signal: ctx.signal,
    progress: (ms) => ctx.progress(md`${kind} is still terminating (${formatDuration(ms)})`),
    onTimeout: (ms) => {
      const what = `${kind} ${namespace ? `${namespace}/` : ""}${name}`;
      return new DrbotError(
        "transient",
        "volume.still_terminating",
        `${what} is still terminating on ${cluster.name} after ${formatDuration(ms)}.`,
      );
    },
  }).catch(async (err: unknown) => {
    const timedOut = err instanceof DrbotError && err.code === "volume.still_terminating";
    if (timedOut && kind === "PersistentVolumeClaim" && namespace) {
      const pods = await podsMounting(cluster, namespace, name);
      if (pods.length > 0) {
        throw new DrbotError(
          "conflict",
          "volume.claim_in_use",
          md`PVC ${namespace}/${name} is marked for deletion on ${cluster.name}, but ${joinMd(pods.map((p) => code(p)))} still mount${pods.length === 1 ? "s" : ""} it, so Kubernetes keeps it.`,
          {
            hint: `Stop ${pods.length === 1 ? "that pod" : "those pods"}; then \`/volume delete resume ${ctx.envelope.requestId}\` finishes the deletion.`,
          },
        );
      }
    }
    throw err;
  });
  return Date.now() - started;
}

/** 4. The point of no return: from here the deletion is finished, never abandoned. */
const deletePvc: DeleteStep = {
  name: "delete-pvc",
  title: "Delete the PVC",
  async run(ctx) {
    const { input, state, deps } = ctx;
    const p = planOf(state);
    if (!p.pvc) return { skipped: md`there was no PVC ${p.claim} on ${p.cluster}` };
    const cluster = deps.clusters[p.site];
    // The claim as it is now must still be this volume's (bound to its PV) before it goes.
    const live = await cluster.get("PersistentVolumeClaim", input.pvcName, input.namespace);
    const boundTo = (live?.spec as { volumeName?: string } | undefined)?.volumeName;
    if (live && boundTo !== p.volume) {
      throw new DrbotError(
        "conflict",
        "volume.claim_replaced",
        md`PVC ${p.claim} on ${p.cluster} now belongs to PV ${boundTo ?? "none"}, not to this volume; drbot will not delete it.`,
        { hint: "An operator must sort out the claim; then resume the deletion." },
      );
    }
    const result = live
      ? await cluster.ensureDeleted("PersistentVolumeClaim", input.pvcName, input.namespace)
      : "absent";
    const took = await waitGone(ctx, cluster, "PersistentVolumeClaim", input.pvcName, input.namespace);
    return {
      detail:
        result === "absent"
          ? md`PVC ${p.claim} was already gone from ${p.cluster}`
          : md`PVC ${p.claim} deleted on ${p.cluster} (gone after ${formatDuration(took)})`,
    };
  },
};

/** 5. The volume, once its claim is gone (Kubernetes keeps a bound volume until then). */
const deletePv: DeleteStep = {
  name: "delete-pv",
  title: "Delete the PV",
  async run(ctx) {
    const { input, state, deps } = ctx;
    const p = planOf(state);
    if (!p.pv) return { skipped: md`there was no PV ${p.volume} on ${p.cluster}` };
    const cluster = deps.clusters[p.site];
    const live = await cluster.get("PersistentVolume", p.volume);
    const ref = (live?.spec as { claimRef?: { name?: string; namespace?: string } } | undefined)?.claimRef;
    if (
      live &&
      ref?.name !== undefined &&
      (ref.name !== input.pvcName || ref.namespace !== input.namespace)
    ) {
      throw new DrbotError(
        "conflict",
        "volume.volume_replaced",
        md`PV ${p.volume} on ${p.cluster} is now reserved for claim ${ref.namespace ?? "?"}/${ref.name}; drbot will not delete it.`,
        { hint: "An operator must sort out the volume; then resume the deletion." },
      );
    }
    const result = live ? await cluster.ensureDeleted("PersistentVolume", p.volume) : "absent";
    const took = await waitGone(ctx, cluster, "PersistentVolume", p.volume);
    return {
      detail:
        result === "absent"
          ? md`PV ${p.volume} was already gone from ${p.cluster}`
          : md`PV ${p.volume} deleted on ${p.cluster} (gone after ${formatDuration(took)})`,
    };
  },
};

/** 6. A rename on the same file system: the data is all there, under the request's trash entry. */
const trash: DeleteStep = {
  name: "trash",
  title: "Move the directory into the trash",
  async run({ state, deps, envelope }) {
    const p = planOf(state);
    const { config } = deps;
    const mount = config.sites[p.site].efs.mountPath;
    const perms = config.volumes.directory;
    const entry = trashEntry(config.volumes.rootDirectory, envelope.requestId);
    await deps.directories.ensureDirectory(mount, entry, perms);
    const info: TrashEntryInfo = {
      requestId: envelope.requestId,
      volume: p.volume,
      movedAt: Date.now(),
      site: p.site,
      ...(envelope.origin.channel ? { channel: envelope.origin.channel } : {}),
      requester: envelope.requester.id,
    };
    // Written once: a rerun keeps the first time, where the retention starts.
    await deps.directories.writeFileOnce(mount, [...entry, TRASH_ENTRY_FILE], `${JSON.stringify(info)}\n`);
    state.moved = await deps.directories.moveDirectory(mount, p.directory, p.trash, perms);
    const fs = config.sites[p.site].efs.fileSystemId;
    switch (state.moved) {
      case "moved":
        return { detail: md`${abs(p.directory)} → ${abs(p.trash)} on ${fs}` };
      case "already":
        return { skipped: md`already in the trash: ${abs(p.trash)} on ${fs}` };
      case "missing":
        return { skipped: md`there was no directory ${abs(p.directory)} on ${fs}; nothing to move` };
    }
  },
};

/** 7. Both sites' files in one commit; a rerun finds them gone and commits nothing. */
const commit: DeleteStep = {
  name: "commit",
  title: "Remove from Git",
  async run({ state, deps, envelope }) {
    const p = planOf(state);
    const who = envelope.requester.name
      ? `${envelope.requester.name} (${envelope.requester.id})`
      : envelope.requester.id;
    const message = [
      `Delete volume ${p.volume} on ${p.site}`,
      "",
      `PV and PVC deleted on ${p.cluster}; the directory was moved to ${abs(p.trash)}.`,
      "",
      `Requested-by: ${who}`,
      ...(state.approvedBy ?? []).map((u) => `Approved-by: ${u}`),
      `Drbot-Request: ${envelope.requestId}`,
      `Plan-Digest: ${p.digest}`,
    ].join("\n");
    const result = await deps.git.commitFiles(
      p.gitPaths.map((path) => ({ path, delete: true as const })),
      message,
    );
    state.commitUrl = result?.url ?? null;
    return result
      ? {
          detail: md`${p.gitPaths.length} file${p.gitPaths.length === 1 ? "" : "s"} removed in ${result.url}`,
        }
      : { skipped: md`already removed from Git` };
  },
};

export const volumeDeleteSteps: readonly DeleteStep[] = [
  plan,
  approval,
  check,
  deletePvc,
  deletePv,
  trash,
  commit,
];

export const POINT_OF_NO_RETURN = deletePvc.name;
