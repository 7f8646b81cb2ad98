// Where a volume lives: its EFS directory, its PV name and its Git path. Every segment is a
// proven DNS-1123 label (re-checked here, not trusted), and the fixed parts come from validated
// configuration, so no input can produce `..`, an absolute component or a separator.

import { posix } from "node:path";
import { asLabel, type Label } from "./names.ts";

export interface VolumeId {
  businessUnit: Label;
  application: Label;
  namespace: Label;
  pvcName: Label;
}

export type SiteName = "primary" | "secondary";

function segments(id: VolumeId): Label[] {
  return [
    asLabel(id.businessUnit, "business unit"),
    asLabel(id.application, "application"),
    asLabel(id.namespace, "namespace"),
    asLabel(id.pvcName, "PVC name"),
  ];
}

/** `/<prefix>` -> [`prefix`]; the config schema guarantees a clean absolute path. */
export function pathSegments(absolute: string): string[] {
  const parts = absolute.split("/").filter((p) => p !== "");
  for (const p of parts) {
    if (p === "." || p === ".." || p.includes("\\") || p.includes("\0")) {
      throw new Error(`unsafe path component "${p}" in ${absolute}`);
    }
  }
  return parts;
}

/** The PersistentVolume name: `<bu>.<app>.<ns>.<pvc>`. */
export function pvName(id: VolumeId): string {
  return segments(id).join(".");
}

/** The directory as the NFS server exports it: `<rootDirectory>/<bu>/<app>/<ns>/<pvc>`. */
export function nfsPath(rootDirectory: string, id: VolumeId): string {
  return `/${[...pathSegments(rootDirectory), ...segments(id)].join("/")}`;
}

/** Segments of the volume directory below a site's mount path, for DirectoryStore. */
export function directorySegments(rootDirectory: string, id: VolumeId): string[] {
  return [...pathSegments(rootDirectory), ...segments(id)];
}

/** The directory as a worker sees it: `<mountPath><rootDirectory>/<bu>/<app>/<ns>/<pvc>`. */
export function efsDirectory(mountPath: string, rootDirectory: string, id: VolumeId): string {
  return `/${[...pathSegments(mountPath), ...directorySegments(rootDirectory, id)].join("/")}`;
}

/**
 * `<gitDirectory>/<site>/<bu>/<primary cluster>/<app>/<ns>/pv-pvc_<pvc>.yaml`; the primary
 * cluster's name stays in secondary paths too, as in the seed playbooks.
 */
export function gitPath(gitDirectory: string, site: SiteName, primaryCluster: string, id: VolumeId): string {
  const [bu, app, ns, pvc] = segments(id);
  const cluster = asLabel(primaryCluster, "cluster name");
  return posix.join(
    ...pathSegments(gitDirectory),
    site,
    bu as string,
    cluster,
    app as string,
    ns as string,
    `pv-pvc_${pvc}.yaml`,
  );
}

/** The folder holding every manifest of a site. */
export function gitSiteDirectory(gitDirectory: string, site: SiteName): string {
  return posix.join(...pathSegments(gitDirectory), site);
}

export interface ParsedGitPath extends VolumeId {
  site: SiteName;
  primaryCluster: Label;
}

/** The inverse of gitPath; null for anything that is not a manifest path drbot would write. */
export function parseGitPath(gitDirectory: string, path: string): ParsedGitPath | null {
  const prefix = pathSegments(gitDirectory);
  const parts = path.split("/");
  if (parts.length !== prefix.length + 6) return null;
  if (prefix.some((p, i) => parts[i] !== p)) return null;
  const [site, bu, cluster, app, ns, file] = parts.slice(prefix.length) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (site !== "primary" && site !== "secondary") return null;
  const match = /^pv-pvc_(.+)\.yaml$/.exec(file);
  const pvc = match?.[1];
  if (!pvc) return null;
  for (const v of [bu, cluster, app, ns, pvc]) {
    try {
      asLabel(v);
    } catch {
      return null;
    }
  }
  return {
    site,
    businessUnit: bu as Label,
    primaryCluster: cluster as Label,
    application: app as Label,
    namespace: ns as Label,
    pvcName: pvc as Label,
  };
}
