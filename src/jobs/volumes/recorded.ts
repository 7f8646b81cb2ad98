// What Git records about volumes, for the commands that change one after it exists (delete,
// resize) and for quotas and the list: one volume's files on both sites, and a tenant's usage
// read from one archive download whatever the number of volumes.

import { createHash } from "node:crypto";
import type { Config } from "../../core/config.ts";
import { checkRecordedManifest, type ManifestCheck, sizeGi } from "../../core/manifest-check.ts";
import { parseManifests } from "../../core/manifests.ts";
import {
  gitSiteDirectory,
  type ParsedGitPath,
  parseGitPath,
  type SiteName,
  type VolumeId,
} from "../../core/paths.ts";
import type { GitPort } from "../../core/ports/git.ts";
import type { TenantUsage } from "../../core/quota.ts";
import { volumeGitPath } from "../../core/volumes.ts";

export const SITES: readonly SiteName[] = ["primary", "secondary"];

export interface RecordedVolume {
  site: SiteName;
  path: string;
  text: string;
  /** sha256 of the text: what a plan pins. */
  hash: string;
  /** Whether it is what drbot would have written (the size when it is). */
  check: ManifestCheck;
}

/** The volume's Git file on each site, or null where there is none (two GitHub requests). */
export async function readRecordedVolume(
  deps: { config: Config; git: GitPort },
  id: VolumeId,
): Promise<Record<SiteName, RecordedVolume | null>> {
  const [primary, secondary] = await Promise.all(
    SITES.map(async (site): Promise<RecordedVolume | null> => {
      const path = volumeGitPath(deps.config, site, id);
      const text = await deps.git.readFile(path);
      if (text === null) return null;
      return {
        site,
        path,
        text,
        hash: createHash("sha256").update(text).digest("hex"),
        check: checkRecordedManifest(deps.config, site, id, text),
      };
    }),
  );
  return { primary: primary ?? null, secondary: secondary ?? null };
}

/** The size a recorded file gives its claim (or its volume), whatever else it says; null if none. */
export function recordedSizeGi(text: string): number | null {
  try {
    const objects = parseManifests(text);
    const pvc = objects.find((o) => o.kind === "PersistentVolumeClaim");
    const pv = objects.find((o) => o.kind === "PersistentVolume");
    const requested = (pvc?.spec as { resources?: { requests?: { storage?: unknown } } } | undefined)
      ?.resources?.requests?.storage;
    const capacity = (pv?.spec as { capacity?: { storage?: unknown } } | undefined)?.capacity?.storage;
    return sizeGi(requested) ?? sizeGi(capacity) ?? null;
  } catch {
    return null;
  }
}

export interface RecordedSummary {
  id: ParsedGitPath;
  path: string;
  sizeGi: number | null;
}

/**
 * Every volume recorded for `site` (optionally one tenant's), with its size, read from one
 * archive of the repository (a constant number of GitHub requests).
 */
export async function readRecordedSizes(
  deps: { config: Config; git: GitPort },
  site: SiteName,
  businessUnit?: string,
): Promise<RecordedSummary[]> {
  const { directory } = deps.config.git;
  const prefix = businessUnit
    ? `${gitSiteDirectory(directory, site)}/${businessUnit}`
    : gitSiteDirectory(directory, site);
  const out: RecordedSummary[] = [];
  await deps.git.readTree(prefix, (file) => {
    const id = parseGitPath(directory, file.path);
    if (!id || id.site !== site || (businessUnit && id.businessUnit !== businessUnit)) return;
    out.push({ id, path: file.path, sizeGi: recordedSizeGi(file.content) });
  });
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** A tenant's recorded volumes and their total size on `site`. */
export async function tenantUsage(
  deps: { config: Config; git: GitPort },
  site: SiteName,
  businessUnit: string,
): Promise<TenantUsage> {
  return usageOf(await readRecordedSizes(deps, site, businessUnit));
}

export function usageOf(volumes: readonly { sizeGi: number | null }[]): TenantUsage {
  return {
    volumes: volumes.length,
    totalGi: volumes.reduce((sum, v) => sum + (v.sizeGi ?? 0), 0),
  };
}
