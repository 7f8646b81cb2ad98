// What a volume delete will remove, found without changing anything: the Git files on both
// sites, the PV and PVC on the active cluster (only when they are this volume's own: the claim
// bound to its PV, the PV pointing at its directory), the directory that goes to the trash.
// Anything that blocks it (a pod mounting the claim, a foreign object in the way, nothing
// recorded) is named. Admission, the plan step and the re-check before deleting all use it; the
// digest binds the approval to the objects and files it names.

import { formatDuration } from "../../core/duration.ts";
import { parseManifests } from "../../core/manifests.ts";
import { code, joinMd, type Mrkdwn, md } from "../../core/mrkdwn.ts";
import { directorySegments, nfsPath, pvName, type SiteName, type VolumeId } from "../../core/paths.ts";
import type { ClusterPort, KubeObject } from "../../core/ports/cluster.ts";
import { namespaceOwnerProblem } from "../../core/tenancy.ts";
import { trashedVolume } from "../../core/trash.ts";
import { renderVolume, volumeGitPath } from "../../core/volumes.ts";
import type { JobDeps } from "../deps.ts";
import { digestOf } from "../dr/volumes.ts";
import { readRecordedVolume, recordedSizeGi, SITES } from "../volumes/recorded.ts";

export interface ObjectFacts {
  uid: string;
  phase: string;
}

export interface DeletePlan {
  site: SiteName;
  cluster: string;
  volume: string;
  /** `<namespace>/<pvc>` */
  claim: string;
  sizeGi: number | null;
  /** The Git files to remove (both sites' that exist). */
  gitPaths: string[];
  pv: ObjectFacts | null;
  pvc: ObjectFacts | null;
  /** Below the site's mount path: the volume's directory, and where it goes. */
  directory: string[];
  trash: string[];
  digest: string;
  /** What the approvers see (safe mrkdwn). */
  lines: string[];
}

export type DeletePlanning = { ok: true; plan: DeletePlan } | { ok: false; problems: Mrkdwn[] };

type PlanDeps = Pick<JobDeps, "config" | "git" | "clusters">;

/** Pods (not finished) in `namespace` that mount claim `pvc`: what keeps it from going. */
export async function podsMounting(cluster: ClusterPort, namespace: string, pvc: string): Promise<string[]> {
  const pods = await cluster.listPods(namespace);
  return pods
    .filter((p) => p.claims.includes(pvc) && !["Succeeded", "Failed"].includes(p.phase))
    .map((p) => p.name)
    .sort();
}

export async function planVolumeDelete(
  deps: PlanDeps,
  id: VolumeId,
  site: SiteName,
  requestId: string,
): Promise<DeletePlanning> {
  const { config } = deps;
  const cluster = deps.clusters[site];
  const volume = pvName(id);
  const problems: Mrkdwn[] = [];

  const [recorded, pv, pvc, namespace] = await Promise.all([
    readRecordedVolume(deps, id),
    cluster.get("PersistentVolume", volume),
    cluster.get("PersistentVolumeClaim", id.pvcName, id.namespace),
    cluster.get("Namespace", id.namespace),
  ]);
  const here = recorded[site];
  if (!here) {
    problems.push(
      md`it is not recorded in Git for the ${site} site (no ${code(volumeGitPath(config, site, id))}), so it is not a volume drbot manages there. \`/volume list\` shows the recorded volumes.`,
    );
  }
  const owner = namespaceOwnerProblem(id.businessUnit, namespace);
  if (owner) problems.push(md`${owner}`);

  const boundTo = spec(pvc).volumeName;
  if (pvc && boundTo !== volume) {
    problems.push(
      md`PVC ${code(`${id.namespace}/${id.pvcName}`)} on ${cluster.name} belongs to PV ${code(boundTo ?? "none")}, not to this volume; drbot deletes only its own objects.`,
    );
  }
  if (pv) {
    const foreign = foreignVolumeReason(config, site, id, pv);
    if (foreign)
      problems.push(
        md`PV ${code(volume)} on ${cluster.name} ${foreign}; drbot deletes only its own objects.`,
      );
  }
  if (namespace) {
    const pods = await podsMounting(cluster, id.namespace, id.pvcName);
    if (pods.length > 0) {
      problems.push(
        md`${pods.length === 1 ? "a pod mounts" : `${pods.length} pods mount`} the claim on ${cluster.name}: ${joinMd(pods.slice(0, 20).map((p) => code(p)))}${pods.length > 20 ? ` and ${pods.length - 20} more` : ""}. Stop ${pods.length === 1 ? "it" : "them"} (scale the Deployment or StatefulSet to 0), then ask again.`,
      );
    }
  }
  if (problems.length > 0) return { ok: false, problems };

  const files = SITES.map((s) => recorded[s]).filter((r) => r !== null);
  const sizeGi = here ? (here.check.ok ? here.check.sizeGi : recordedSizeGi(here.text)) : null;
  const directory = directorySegments(config.volumes.rootDirectory, id);
  const trash = trashedVolume(config.volumes.rootDirectory, requestId, id);
  const facts = (o: KubeObject | null): ObjectFacts | null =>
    o ? { uid: String(o.metadata.uid ?? ""), phase: String(status(o).phase ?? "unknown") } : null;
  const plan: Omit<DeletePlan, "digest" | "lines"> = {
    site,
    cluster: cluster.name,
    volume,
    claim: `${id.namespace}/${id.pvcName}`,
    sizeGi,
    gitPaths: files.map((f) => f.path),
    pv: facts(pv),
    pvc: facts(pvc),
    directory,
    trash,
  };
  const digest = digestOf({
    ...plan,
    files: files.map((f) => ({ path: f.path, hash: f.hash })),
  });
  return { ok: true, plan: { ...plan, digest, lines: planLines(deps, plan) } };
}

function planLines(deps: PlanDeps, plan: Omit<DeletePlan, "digest" | "lines">): string[] {
  const { config } = deps;
  const efs = config.sites[plan.site].efs;
  const other = plan.site === "primary" ? "secondary" : "primary";
  const objects = [
    plan.pvc ? md`PVC ${code(plan.claim)} (${plan.pvc.phase})` : null,
    plan.pv ? md`PV ${code(plan.volume)} (${plan.pv.phase})` : null,
  ].filter((o) => o !== null);
  const abs = (segments: readonly string[]) => `/${segments.join("/")}`;
  return [
    md`*Delete volume* ${code(plan.volume)}${plan.sizeGi ? ` (${plan.sizeGi}Gi)` : ""} on the ${plan.site} site`,
    objects.length > 0
      ? md`*Kubernetes* on ${plan.cluster}: ${joinMd(objects, " and ")} deleted; no pod mounts the claim now`
      : md`*Kubernetes* on ${plan.cluster}: no PV or PVC of this volume exists; nothing to delete there`,
    md`*EFS* ${code(efs.fileSystemId)}: ${code(abs(plan.directory))} renamed to ${code(abs(plan.trash))}; no data is deleted now, the trash is purged after ${formatDuration(config.volumes.trashRetention)}`,
    md`*Git* one commit removes ${joinMd(plan.gitPaths.map((p) => code(p)))}`,
    md`Objects on the ${other} cluster (${config.sites[other].cluster.name}), if any, are not changed.`,
  ].map((l) => l.text);
}

/** Why a live PV is not this volume's own (its claim or its directory differ); undefined when it is. */
function foreignVolumeReason(
  config: PlanDeps["config"],
  site: SiteName,
  id: VolumeId,
  pv: KubeObject,
): string | undefined {
  const claimRef = (spec(pv).claimRef ?? {}) as { name?: unknown; namespace?: unknown };
  if (claimRef.name !== undefined && (claimRef.name !== id.pvcName || claimRef.namespace !== id.namespace)) {
    return `is reserved for claim ${String(claimRef.namespace)}/${String(claimRef.name)}`;
  }
  const expected = spec(
    (renderVolumeObjects(config, site, id).find((o) => o.kind === "PersistentVolume") ??
      null) as KubeObject | null,
  );
  const live = spec(pv);
  if (expected.nfs) {
    const want = expected.nfs as { server?: unknown; path?: unknown };
    const got = (live.nfs ?? {}) as { server?: unknown; path?: unknown };
    if (got.path !== want.path || got.server !== want.server)
      return `points at ${String(got.server ?? "?")}:${String(got.path ?? "?")}, not at ${String(want.server)}:${nfsPath(config.volumes.rootDirectory, id)}`;
  }
  if (expected.csi) {
    const want = expected.csi as { volumeHandle?: unknown };
    const got = (live.csi ?? {}) as { volumeHandle?: unknown };
    if (got.volumeHandle !== want.volumeHandle)
      return `has volumeHandle ${String(got.volumeHandle ?? "?")}, not ${String(want.volumeHandle)}`;
  }
  return undefined;
}

function renderVolumeObjects(config: PlanDeps["config"], site: SiteName, id: VolumeId): KubeObject[] {
  // Any size: only the volume source is compared.
  return parseManifests(renderVolume(config, site, id, 1));
}

function spec(o: KubeObject | null): Record<string, unknown> & { volumeName?: string } {
  return (o?.spec ?? {}) as Record<string, unknown> & { volumeName?: string };
}

function status(o: KubeObject): Record<string, unknown> {
  return (o.status ?? {}) as Record<string, unknown>;
}
