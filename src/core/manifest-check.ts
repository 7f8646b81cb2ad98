// What runs is what was shown: a manifest recorded in Git is only ever applied when it matches
// what drbot would have written for the volume its path names — PV name, claim namespace and
// name, the site's NFS server (or CSI volume handle) and the volume's own directory,
// storageClassName "", Retain, and one size on both objects within the limit. Anything else
// was edited by hand (or by someone hostile) and is listed, with the differing fields, instead.

import type { Config } from "./config.ts";
import { checkVolumePair, parseManifests } from "./manifests.ts";
import type { SiteName, VolumeId } from "./paths.ts";
import type { KubeObject } from "./ports/cluster.ts";
import { renderVolumeObjects } from "./volumes.ts";

/** Fields that decide where data goes and who can mount it, as `object path`. */
const CHECKED: ReadonlyArray<[kind: "PersistentVolume" | "PersistentVolumeClaim", path: string]> = [
  ["PersistentVolume", "metadata.name"],
  ["PersistentVolume", "spec.nfs.server"],
  ["PersistentVolume", "spec.nfs.path"],
  ["PersistentVolume", "spec.csi.driver"],
  ["PersistentVolume", "spec.csi.volumeHandle"],
  ["PersistentVolume", "spec.claimRef.namespace"],
  ["PersistentVolume", "spec.claimRef.name"],
  ["PersistentVolume", "spec.storageClassName"],
  ["PersistentVolume", "spec.persistentVolumeReclaimPolicy"],
  ["PersistentVolume", "spec.capacity.storage"],
  ["PersistentVolumeClaim", "metadata.name"],
  ["PersistentVolumeClaim", "metadata.namespace"],
  ["PersistentVolumeClaim", "spec.volumeName"],
  ["PersistentVolumeClaim", "spec.storageClassName"],
  ["PersistentVolumeClaim", "spec.resources.requests.storage"],
];

const SHORT = { PersistentVolume: "PV", PersistentVolumeClaim: "PVC" } as const;

function at(object: KubeObject | undefined, path: string): unknown {
  let v: unknown = object;
  for (const part of path.split(".")) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}

/** `10Gi` → 10; undefined for anything else (drbot writes whole GiB). */
export function sizeGi(value: unknown): number | undefined {
  const m = /^([1-9][0-9]{0,6})Gi$/.exec(String(value ?? ""));
  return m ? Number(m[1]) : undefined;
}

export type ManifestCheck =
  | { ok: true; objects: KubeObject[]; sizeGi: number }
  | { ok: false; differences: string[] };

/**
 * Checks the recorded text of volume `id` on `site`. Returns the parsed objects when it is what
 * drbot would have written, or every difference (e.g. `PV spec.nfs.path is "/" (drbot wrote
 * "/k8s-static-volumes/sales/app/ns/pvc")`).
 */
export function checkRecordedManifest(
  config: Config,
  site: SiteName,
  id: VolumeId,
  text: string,
): ManifestCheck {
  let objects: KubeObject[];
  try {
    objects = parseManifests(text);
    checkVolumePair(objects);
  } catch (err) {
    return { ok: false, differences: [`not a PV/PVC pair drbot writes: ${(err as Error).message}`] };
  }
  const pv = objects.find((o) => o.kind === "PersistentVolume");
  const pvc = objects.find((o) => o.kind === "PersistentVolumeClaim");
  const size = sizeGi(at(pvc, "spec.resources.requests.storage"));
  if (size === undefined || size > config.volumes.maxSizeGi) {
    return {
      ok: false,
      differences: [
        `PVC size ${JSON.stringify(at(pvc, "spec.resources.requests.storage") ?? null)} is not a whole number of Gi up to ${config.volumes.maxSizeGi}Gi`,
      ],
    };
  }
  const expected = renderVolumeObjects(config, site, id, size);
  const wanted = (kind: string) => expected.find((o) => o.kind === kind);
  const actual = { PersistentVolume: pv, PersistentVolumeClaim: pvc };
  const differences: string[] = [];
  for (const [kind, path] of CHECKED) {
    const want = at(wanted(kind), path);
    const got = at(actual[kind], path);
    if (JSON.stringify(want ?? null) !== JSON.stringify(got ?? null)) {
      differences.push(
        `${SHORT[kind]} ${path} is ${JSON.stringify(got ?? null)} (drbot wrote ${JSON.stringify(want ?? null)})`,
      );
    }
  }
  return differences.length === 0 ? { ok: true, objects, sizeGi: size } : { ok: false, differences };
}
