// Facts about one volume that both the bot (to refuse early) and the worker (to re-check and to
// act) need: where it lives on each site and whether it already exists.

import type { Config } from "./config.ts";
import { checkVolumePair, renderTemplate, type SiteTarget, serializeManifests } from "./manifests.ts";
import { gitPath, nfsPath, pvName, type SiteName, type VolumeId } from "./paths.ts";
import type { ClusterPort, KubeObject } from "./ports/cluster.ts";
import type { GitPort } from "./ports/git.ts";

export function siteTarget(config: Config, site: SiteName): SiteTarget {
  const s = config.sites[site];
  return { hostname: s.efs.hostname, fileSystemId: s.efs.fileSystemId, clusterName: s.cluster.name, site };
}

export function volumeGitPath(config: Config, site: SiteName, id: VolumeId): string {
  return gitPath(config.git.directory, site, config.sites.primary.cluster.name, id);
}

/** The Git file for a new volume on `site`: PV and PVC rendered from the configured template. */
export function renderVolume(config: Config, site: SiteName, id: VolumeId, sizeGi: number): string {
  return serializeManifests(renderVolumeObjects(config, site, id, sizeGi));
}

/** The PV and PVC drbot writes for a volume on `site`, as objects (checked: a valid pair). */
export function renderVolumeObjects(
  config: Config,
  site: SiteName,
  id: VolumeId,
  sizeGi: number,
): KubeObject[] {
  const s = config.sites[site];
  const objects = renderTemplate(config.template, {
    pv_name: pvName(id),
    pvc_name: id.pvcName,
    namespace: id.namespace,
    business_unit: id.businessUnit,
    application: id.application,
    cluster_name: s.cluster.name,
    site,
    size: `${sizeGi}Gi`,
    nfs_server: s.efs.hostname,
    nfs_path: nfsPath(config.volumes.rootDirectory, id),
    file_system_id: s.efs.fileSystemId,
  });
  checkVolumePair(objects);
  return objects;
}

export type Existing = { where: "git"; path: string } | { where: "cluster"; cluster: string; name: string };

/** Whether the volume is already recorded in Git or present on the site's cluster. */
export async function findExistingVolume(
  config: Config,
  ports: { git: GitPort; cluster: ClusterPort },
  site: SiteName,
  id: VolumeId,
): Promise<Existing | null> {
  const path = volumeGitPath(config, site, id);
  const [recorded, pv, pvc] = await Promise.all([
    ports.git.readFile(path),
    ports.cluster.get("PersistentVolume", pvName(id)),
    ports.cluster.get("PersistentVolumeClaim", id.pvcName, id.namespace),
  ]);
  if (recorded !== null) return { where: "git", path };
  if (pv) return { where: "cluster", cluster: ports.cluster.name, name: `PersistentVolume ${pvName(id)}` };
  if (pvc)
    return {
      where: "cluster",
      cluster: ports.cluster.name,
      name: `PersistentVolumeClaim ${id.namespace}/${id.pvcName}`,
    };
  return null;
}

export function describeExisting(e: Existing): string {
  return e.where === "git"
    ? `it is already recorded in Git at ${e.path}`
    : `${e.name} already exists on cluster ${e.cluster}`;
}
