// `/volume resize`: check → grow the PV → grow the claim's request (or say why Kubernetes keeps
// it) → one commit of both sites' files with the new size. Only the size fields change; every
// step is safe to repeat (server-side apply of the same objects, a commit of the same contents).

import { DrbotError } from "../../core/errors.ts";
import { checkRecordedManifest } from "../../core/manifest-check.ts";
import { parseManifests, serializeManifests } from "../../core/manifests.ts";
import { md } from "../../core/mrkdwn.ts";
import { pvName, type SiteName } from "../../core/paths.ts";
import type { KubeObject } from "../../core/ports/cluster.ts";
import { JobCancelled, type Step } from "../../core/steps.ts";
import { validateVolumeRequest } from "../../core/volume-request.ts";
import type { JobDeps } from "../deps.ts";
import type { VolumeResizeInput } from "../volumes/input.ts";
import { readRecordedVolume, SITES } from "../volumes/recorded.ts";

export interface VolumeResizeState {
  site?: SiteName;
  cluster?: string;
  fromGi?: number;
  /** Both sites' recorded files (where there is one) with the new size: what is applied and committed. */
  files?: Array<{ site: SiteName; path: string; content: string }>;
  /** Why the claim kept its request, when Kubernetes refused to grow it. */
  claimKept?: string;
  commitUrl?: string | null;
}

type ResizeStep = Step<VolumeResizeInput, VolumeResizeState, JobDeps>;

/** The recorded objects with `sizeGi` on the PV's capacity and the claim's request, nothing else. */
export function withSize(objects: readonly KubeObject[], sizeGi: number): KubeObject[] {
  const storage = `${sizeGi}Gi`;
  return objects.map((o) => {
    const copy = structuredClone(o);
    const spec = (copy.spec ?? {}) as {
      capacity?: Record<string, unknown>;
      resources?: { requests?: Record<string, unknown>; [k: string]: unknown };
    };
    if (copy.kind === "PersistentVolume") spec.capacity = { ...spec.capacity, storage };
    if (copy.kind === "PersistentVolumeClaim") {
      spec.resources = { ...spec.resources, requests: { ...spec.resources?.requests, storage } };
    }
    return copy;
  });
}

function objectsOf(state: VolumeResizeState): { pv: KubeObject; pvc: KubeObject } {
  const file = state.files?.find((f) => f.site === state.site);
  const objects = file ? parseManifests(file.content) : [];
  const pv = objects.find((o) => o.kind === "PersistentVolume");
  const pvc = objects.find((o) => o.kind === "PersistentVolumeClaim");
  if (!pv || !pvc) {
    throw new DrbotError("internal", "volume.no_manifest", "The resize lost its manifest; ask for it again.");
  }
  return { pv, pvc };
}

/** 1. The world may have changed since the bot accepted the request: check it all again. */
const check: ResizeStep = {
  name: "check",
  title: "Check the request",
  async run({ input, state, deps }) {
    const { config } = deps;
    const valid = validateVolumeRequest(
      {
        business_unit: input.businessUnit,
        application: input.application,
        namespace: input.namespace,
        pvc_name: input.pvcName,
        pvc_size: input.sizeGi,
      },
      { tenants: config.volumes.tenants, maxSizeGi: config.volumes.maxSizeGi },
    );
    if (!valid.ok) {
      throw new DrbotError("invalid", "volume.invalid", valid.problems.map((p) => p.message).join(" "));
    }
    const site = (await deps.dr.activeSite()).site;
    const recorded = await readRecordedVolume(deps, input);
    const here = recorded[site];
    if (!here) {
      throw new DrbotError(
        "not_found",
        "volume.not_recorded",
        `Volume ${pvName(input)} is not recorded for the ${site} site.`,
        {
          hint: "`/volume list` shows the recorded volumes. Nothing was changed.",
        },
      );
    }
    const files: NonNullable<VolumeResizeState["files"]> = [];
    for (const s of SITES) {
      const r = recorded[s];
      if (!r) continue;
      if (!r.check.ok) {
        throw new DrbotError(
          "conflict",
          "volume.manifest_differs",
          `The recorded manifest ${r.path} differs from what drbot wrote: ${r.check.differences.join("; ")}.`,
          { hint: "Fix it in Git (or ask the platform team), then ask again. Nothing was changed." },
        );
      }
      files.push({
        site: s,
        path: r.path,
        content: serializeManifests(withSize(r.check.objects, input.sizeGi)),
      });
    }
    const from = here.check.ok ? here.check.sizeGi : 0;
    if (input.sizeGi < from) {
      throw new DrbotError(
        "invalid",
        "volume.shrink",
        `Volume ${pvName(input)} is ${from}Gi; it cannot shrink to ${input.sizeGi}Gi (Kubernetes never shrinks a claim).`,
        { hint: "Nothing was changed." },
      );
    }
    const cluster = deps.clusters[site];
    const pv = await cluster.get("PersistentVolume", pvName(input));
    if (!pv) {
      throw new DrbotError(
        "conflict",
        "volume.pv_missing",
        `PV ${pvName(input)} is recorded in Git but does not exist on ${cluster.name}; a resize does not create it.`,
        { hint: "Ask the platform team to look into it. Nothing was changed." },
      );
    }
    state.site = site;
    state.cluster = cluster.name;
    state.fromGi = from;
    state.files = files;
    // The same check drbot's DR operations make: what is applied is what drbot would write.
    for (const f of files) {
      const again = checkRecordedManifest(config, f.site, input, f.content);
      if (!again.ok) throw new DrbotError("internal", "volume.resize_render", again.differences.join("; "));
    }
    return { detail: md`${from}Gi → ${input.sizeGi}Gi on the ${site} site (${cluster.name})` };
  },
};

/** 2. The volume's capacity; from here a DR operation lets this request finish. */
const growPv: ResizeStep = {
  name: "grow-pv",
  title: "Grow the PV",
  async run({ input, state, deps, envelope }) {
    const holder = await deps.dr.volumeApplied(envelope.requestId);
    if (holder) {
      throw new JobCancelled(
        md`a DR operation (${holder}) took the lock before the volume was grown; nothing was changed. Ask again when \`/dr status\` shows it has ended.`,
      );
    }
    const { pv } = objectsOf(state);
    const cluster = deps.clusters[state.site ?? "primary"];
    const applied = await cluster.apply(pv);
    const capacity = (applied.spec as { capacity?: { storage?: string } } | undefined)?.capacity?.storage;
    return { detail: md`PV ${pvName(input)} capacity is ${capacity ?? "?"} on ${cluster.name}` };
  },
};

/** A refusal that says the claim may not grow (static claim, or a class without expansion). */
function claimCannotGrow(err: unknown): boolean {
  return (
    err instanceof DrbotError &&
    (err.kind === "forbidden" || err.kind === "invalid") &&
    /can be resized|support resize|is immutable|expansion/i.test(err.message)
  );
}

/**
 * 3. The claim's request. Kubernetes grows a bound claim only when its StorageClass allows
 * expansion; a static volume has none, so the claim then keeps its request, and the card says
 * what that means (NFS enforces no size; the next DR operation applies the grown claim from Git).
 */
const growPvc: ResizeStep = {
  name: "grow-pvc",
  title: "Grow the PVC request",
  async run({ input, state, deps }) {
    const { pvc } = objectsOf(state);
    const cluster = deps.clusters[state.site ?? "primary"];
    const claim = `${input.namespace}/${input.pvcName}`;
    const live = await cluster.get("PersistentVolumeClaim", input.pvcName, input.namespace);
    if (!live) return { skipped: md`there is no PVC ${claim} on ${cluster.name}; Git records the new size` };
    const boundTo = (live.spec as { volumeName?: string } | undefined)?.volumeName;
    if (boundTo !== pvName(input)) {
      throw new DrbotError(
        "conflict",
        "volume.claim_replaced",
        md`PVC ${claim} on ${cluster.name} belongs to PV ${boundTo ?? "none"}, not to this volume; drbot will not change it.`,
      );
    }
    const requested = (live.spec as { resources?: { requests?: { storage?: string } } }).resources?.requests
      ?.storage;
    try {
      await cluster.apply(pvc);
    } catch (err) {
      if (!claimCannotGrow(err)) throw err;
      state.claimKept = `Kubernetes keeps the claim's request at ${requested ?? "its size"}: it grows only claims whose StorageClass allows volume expansion, and this static volume has none (storageClassName ""). NFS enforces no size, so pods can use the full ${input.sizeGi}Gi now; the next failover or switchover applies the grown claim from Git.`;
      return { skipped: md`${state.claimKept}` };
    }
    return { detail: md`PVC ${claim} requests ${input.sizeGi}Gi on ${cluster.name}` };
  },
};

/** 4. Both sites' files in one commit; a rerun finds the same content and commits nothing. */
const commit: ResizeStep = {
  name: "commit",
  title: "Record in Git",
  async run({ input, state, envelope, deps }) {
    const files = state.files ?? [];
    const who = envelope.requester.name
      ? `${envelope.requester.name} (${envelope.requester.id})`
      : envelope.requester.id;
    const message = [
      `Resize volume ${pvName(input)} from ${state.fromGi ?? "?"}Gi to ${input.sizeGi}Gi`,
      "",
      `Requested-by: ${who}`,
      `Drbot-Request: ${envelope.requestId}`,
    ].join("\n");
    const result = await deps.git.commitFiles(
      files.map((f) => ({ path: f.path, content: f.content })),
      message,
    );
    state.commitUrl = result?.url ?? null;
    return result
      ? { detail: md`${files.length} file${files.length === 1 ? "" : "s"} in one commit: ${result.url}` }
      : { skipped: md`already recorded` };
  },
};

export const volumeResizeSteps: readonly ResizeStep[] = [check, growPv, growPvc, commit];
