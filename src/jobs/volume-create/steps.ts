// `/volume create`: the steps, in the order that keeps Git truthful (record only what is Bound).

import { formatDuration } from "../../core/duration.ts";
import { DrbotError } from "../../core/errors.ts";
import { parseManifests } from "../../core/manifests.ts";
import { md } from "../../core/mrkdwn.ts";
import { directorySegments, nfsPath, pvName, type SiteName } from "../../core/paths.ts";
import type { KubeObject } from "../../core/ports/cluster.ts";
import { JobCancelled, pause, pollDelay, type Step } from "../../core/steps.ts";
import { namespaceOwnerProblem, TENANT_LABEL } from "../../core/tenancy.ts";
import { validateVolumeRequest } from "../../core/volume-request.ts";
import { describeExisting, findExistingVolume, renderVolume, volumeGitPath } from "../../core/volumes.ts";
import type { JobDeps } from "../deps.ts";
import type { VolumeCreateInput, VolumeCreateState } from "./input.ts";

type VolumeStep = Step<VolumeCreateInput, VolumeCreateState, JobDeps>;

function site(state: VolumeCreateState): SiteName {
  if (!state.site)
    throw new DrbotError("internal", "job.no_site", "The job lost track of its site; run it again.");
  return state.site;
}

/** 1. The world may have changed since the bot accepted the request: check everything again. */
const check: VolumeStep = {
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
    const active = (await deps.dr.activeSite()).site;
    const namespace = await deps.clusters[active].get("Namespace", input.namespace);
    const taken = namespaceOwnerProblem(input.businessUnit, namespace);
    if (taken) throw new DrbotError("forbidden", "volume.namespace_owned", taken);
    const existing = await findExistingVolume(
      config,
      { git: deps.git, cluster: deps.clusters[active] },
      active,
      input,
    );
    if (existing) {
      throw new DrbotError(
        "conflict",
        "volume.exists",
        `Volume ${pvName(input)} was not created: ${describeExisting(existing)}.`,
        {
          hint: "Use the existing volume, or pick another PVC name.",
        },
      );
    }
    state.site = active;
    state.gitPath = volumeGitPath(config, active, input);
    return { detail: `provisioning on the ${active} site (${config.sites[active].cluster.name})` };
  },
};

/** 2. Missing levels only: directories that already hold data keep their mode and owner. */
const directory: VolumeStep = {
  name: "directory",
  title: "Create the EFS directory",
  async run({ input, state, deps }) {
    const { config } = deps;
    const s = config.sites[site(state)];
    const { mode, uid, gid } = config.volumes.directory;
    const created = await deps.directories.ensureDirectory(
      s.efs.mountPath,
      directorySegments(config.volumes.rootDirectory, input),
      { mode, uid, gid },
    );
    const exported = `${s.efs.hostname}:${nfsPath(config.volumes.rootDirectory, input)}`;
    state.exported = exported;
    return created.length > 0
      ? { detail: `created ${created.length} level${created.length === 1 ? "" : "s"}: ${exported}` }
      : { skipped: `already there: ${exported}` };
  },
};

/** 3. Pure: the manifest is kept in the checkpoint so apply and commit use the same text. */
const render: VolumeStep = {
  name: "render",
  title: "Render the PV and PVC",
  async run({ input, state, deps }) {
    state.manifest = renderVolume(deps.config, site(state), input, input.sizeGi);
    return { detail: `from ${deps.config.template.path.split("/").pop()}` };
  },
};

function manifestObjects(state: VolumeCreateState): KubeObject[] {
  if (!state.manifest)
    throw new DrbotError(
      "internal",
      "job.no_manifest",
      "The rendered manifest is missing; run the job again.",
    );
  return parseManifests(state.manifest);
}

/** 4. Server-side apply is idempotent: re-applying the same objects changes nothing. */
const apply: VolumeStep = {
  name: "apply",
  title: "Apply to the cluster",
  async run({ input, state, deps, envelope }) {
    const cluster = deps.clusters[site(state)];
    const ns = await cluster.ensureNamespace(input.namespace, { [TENANT_LABEL]: input.businessUnit });
    const [pv, pvc] = orderPvFirst(manifestObjects(state));
    await cluster.apply(pv);
    await cluster.apply(pvc);
    // From here a DR operation lets this request finish (bounded); unless one got here first.
    const holder = await deps.dr.volumeApplied(envelope.requestId);
    if (holder) {
      throw new JobCancelled(
        md`a DR operation (${holder}) started while the objects were being applied on ${cluster.name}: PV ${pv.metadata.name} and PVC ${input.namespace}/${input.pvcName} were applied there but are NOT recorded in Git. Ask again when \`/dr status\` shows the operation has ended; the platform team can remove the unrecorded objects.`,
      );
    }
    return {
      detail: `${ns === "created" ? `namespace ${input.namespace} created; ` : ""}PV ${pv.metadata.name} and PVC ${input.namespace}/${input.pvcName} applied on ${cluster.name}`,
    };
  },
};

/** 5. Only a Bound claim is worth recording. */
const bound: VolumeStep = {
  name: "bound",
  title: "Wait until the PVC is Bound",
  async run({ input, state, deps, progress, signal }) {
    const cluster = deps.clusters[site(state)];
    const started = Date.now();
    const deadline = started + deps.timing.bindTimeoutMs;
    let phase = "unknown";
    let round = 0;
    for (;;) {
      const pvc = await cluster.get("PersistentVolumeClaim", input.pvcName, input.namespace);
      phase = String((pvc?.status as { phase?: string } | undefined)?.phase ?? "missing");
      if (phase === "Bound") return { detail: `Bound after ${formatDuration(Date.now() - started)}` };
      if (phase === "Lost") break;
      if (Date.now() >= deadline) break;
      progress(`PVC is ${phase} (${formatDuration(Date.now() - started)})`);
      await pause(pollDelay(round++, deps.timing.pollMs), signal);
    }
    throw new DrbotError(
      "conflict",
      "volume.not_bound",
      `PVC ${input.namespace}/${input.pvcName} is still ${phase} after ${formatDuration(Date.now() - started)} on ${cluster.name}.`,
      {
        hint: `Check \`kubectl describe pvc -n ${input.namespace} ${input.pvcName}\` and PV ${pvName(input)}: the NFS server and path, and the PV's claimRef. Nothing was recorded in Git; an operator can remove the objects and the request can be made again.`,
      },
    );
  },
};

/** 6. One commit; a retry finds the same content already there and commits nothing. */
const commit: VolumeStep = {
  name: "commit",
  title: "Record in Git",
  async run({ input, state, deps, envelope }) {
    const path = state.gitPath;
    if (!path || !state.manifest)
      throw new DrbotError("internal", "job.no_manifest", "The manifest path is missing; run the job again.");
    const who = envelope.requester.name
      ? `${envelope.requester.name} (${envelope.requester.id})`
      : envelope.requester.id;
    const message = [
      `Add volume ${pvName(input)} (${input.sizeGi}Gi) on ${site(state)}`,
      "",
      `Requested-by: ${who}`,
      `Drbot-Request: ${envelope.requestId}`,
    ].join("\n");
    const result = await deps.git.commitFiles([{ path, content: state.manifest }], message);
    if (!result) return { skipped: `already recorded at ${path}` };
    state.commitUrl = result.url;
    return { detail: `${path} in ${result.url}` };
  },
};

/** 7. What the tenant needs to use the volume. */
const report: VolumeStep = {
  name: "report",
  title: "Report",
  async run({ input, state }) {
    return {
      detail: `PV ${pvName(input)} bound to PVC ${input.namespace}/${input.pvcName}${state.commitUrl ? `; ${state.commitUrl}` : ""}`,
    };
  },
};

function orderPvFirst(objects: KubeObject[]): [KubeObject, KubeObject] {
  const pv = objects.find((o) => o.kind === "PersistentVolume");
  const pvc = objects.find((o) => o.kind === "PersistentVolumeClaim");
  if (!pv || !pvc)
    throw new DrbotError("internal", "job.bad_manifest", "The rendered manifest lacks a PV or a PVC.");
  return [pv, pvc];
}

export const volumeCreateSteps: readonly VolumeStep[] = [
  check,
  directory,
  render,
  apply,
  bound,
  commit,
  report,
];
