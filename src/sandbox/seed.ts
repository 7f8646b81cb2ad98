// `drbot sandbox --volumes N`: N recorded volumes on the active site, as `/volume create` leaves
// them: the EFS directory (made by drbot's own directory adapter), the PV and PVC applied to the
// active cluster through drbot's Kubernetes adapter and Bound, and the manifests in Git (one
// commit for all of them). Volumes already recorded are left alone, so a restart with the same
// flag adds nothing.

import { setTimeout as sleep } from "node:timers/promises";
import { createKubernetesCluster } from "../adapters/kubernetes.ts";
import { createLocalDirectories } from "../adapters/local-directories.ts";
import type { Config } from "../core/config.ts";
import { parseManifests } from "../core/manifests.ts";
import { asLabel } from "../core/names.ts";
import { directorySegments, gitSiteDirectory, type SiteName, type VolumeId } from "../core/paths.ts";
import { renderVolume, volumeGitPath } from "../core/volumes.ts";
import { TENANT } from "./people.ts";
import type { FakeGitHub } from "./stand-ins/github.ts";
import type { FakeKube } from "./stand-ins/kube.ts";

export const SEED_APPLICATION = "orders";
const NAMESPACES = ["orders-prod", "orders-stage", "orders-dev"];

export function seedVolumeId(n: number): VolumeId {
  return {
    businessUnit: asLabel(TENANT),
    application: asLabel(SEED_APPLICATION),
    namespace: asLabel(NAMESPACES[(n - 1) % NAMESPACES.length] as string),
    pvcName: asLabel(`data-${String(n).padStart(3, "0")}`),
  };
}

export interface SeedContext {
  config: Config;
  site: SiteName;
  github: FakeGitHub;
  /** The stand-in of the active site's cluster, to wait for the claims to bind. */
  kube: FakeKube;
}

/** Seeds volumes 1..count that are not recorded yet; returns how many it added. */
export async function seedVolumes(count: number, ctx: SeedContext): Promise<number> {
  const { config, site } = ctx;
  const cluster = createKubernetesCluster(config.sites[site].cluster);
  const directories = createLocalDirectories();
  const files: Record<string, string> = {};
  const claims: VolumeId[] = [];
  const recorded = new Set(await ctx.github.listFiles(gitSiteDirectory(config.git.directory, site)));
  for (let n = 1; n <= count; n++) {
    const id = seedVolumeId(n);
    const path = volumeGitPath(config, site, id);
    if (recorded.has(path)) continue;
    const sizeGi = [1, 5, 10, 20, 50][n % 5] as number;
    const manifest = renderVolume(config, site, id, sizeGi);
    const { mode, uid, gid } = config.volumes.directory;
    await directories.ensureDirectory(
      config.sites[site].efs.mountPath,
      directorySegments(config.volumes.rootDirectory, id),
      { mode, uid, gid },
    );
    await cluster.ensureNamespace(id.namespace, { "drbot.io/tenant": TENANT });
    const objects = parseManifests(manifest);
    for (const kind of ["PersistentVolume", "PersistentVolumeClaim"])
      for (const o of objects.filter((x) => x.kind === kind)) await cluster.apply(o);
    files[path] = manifest;
    claims.push(id);
  }
  if (claims.length === 0) return 0;
  await waitBound(ctx.kube, claims);
  ctx.github.commitFiles(
    files,
    `Seed ${claims.length} volume${claims.length === 1 ? "" : "s"} on ${site} (drbot sandbox --volumes ${count})`,
  );
  return claims.length;
}

async function waitBound(kube: FakeKube, claims: VolumeId[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const pending = claims.filter(
      (c) =>
        (
          kube.object("PersistentVolumeClaim", c.pvcName, c.namespace)?.status as
            | { phase?: string }
            | undefined
        )?.phase !== "Bound",
    );
    if (pending.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `${pending.length} seeded claim(s) did not bind within 30 s, e.g. ${pending[0]?.pvcName}`,
      );
    await sleep(50);
  }
}
