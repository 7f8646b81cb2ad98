// The volumes a DR operation moves: every manifest recorded for the site it leaves, checked
// against what drbot would have written (a hand-edited one is listed and left alone), rewritten
// for the site it goes to, and dry-run there. The same reader serves status and list.

import { createHash } from "node:crypto";
import { DrbotError, errorMessage, isTransient } from "../../core/errors.ts";
import { checkRecordedManifest } from "../../core/manifest-check.ts";
import { rewriteForSite, serializeManifests } from "../../core/manifests.ts";
import { boundedPool } from "../../core/map-limit.ts";
import type { PlannedRef, PlannedVolume } from "../../core/operation-store.ts";
import {
  gitSiteDirectory,
  type ParsedGitPath,
  parseGitPath,
  pvName,
  type SiteName,
} from "../../core/paths.ts";
import { siteTarget, volumeGitPath } from "../../core/volumes.ts";
import type { JobDeps } from "../deps.ts";

export interface RecordedEntry {
  path: string;
  /** Git blob id: what the plan pins, and what the lock step compares. */
  sha: string;
  id: ParsedGitPath;
}

/** The manifests recorded for `site` (paths drbot writes only). */
export async function listRecorded(
  deps: Pick<JobDeps, "config" | "git">,
  site: SiteName,
): Promise<RecordedEntry[]> {
  const files = await deps.git.listFiles(gitSiteDirectory(deps.config.git.directory, site));
  const out: RecordedEntry[] = [];
  for (const f of files) {
    const id = parseGitPath(deps.config.git.directory, f.path);
    if (id && id.site === site) out.push({ path: f.path, sha: f.sha, id });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export interface VolumePlan {
  /** The volumes that will move, sorted by path; their manifests went to Redis (`store`). */
  volumes: PlannedRef[];
  /** Recorded, but refused by the target cluster's dry run (or not rewritable): left out. */
  excluded: Array<{ path: string; reason: string }>;
  /** Recorded, but not what drbot wrote: never applied. */
  differing: Array<{ path: string; differences: string[] }>;
}

/**
 * Plans moving every volume recorded for `from` to `to`: check, rewrite, and (when the target
 * cluster answers) a server-side dry run. `only` limits it to some recorded paths (a resume).
 */
export async function planVolumeMoves(
  deps: JobDeps,
  from: SiteName,
  to: SiteName,
  options: {
    dryRun: boolean;
    progress: (detail: string) => void;
    only?: ReadonlySet<string>;
    /** The operation whose plan the rewritten manifests are saved under (not for a dry run). */
    store?: string;
  },
): Promise<VolumePlan> {
  const { config } = deps;
  const source = siteTarget(config, from);
  const target = siteTarget(config, to);
  const cluster = deps.clusters[to];
  const plan: VolumePlan = { volumes: [], excluded: [], differing: [] };
  const knownNamespaces = new Map<string, Promise<boolean>>();
  const namespaceExists = (ns: string) => {
    if (!knownNamespaces.has(ns)) knownNamespaces.set(ns, cluster.get("Namespace", ns).then(Boolean));
    return knownNamespaces.get(ns) as Promise<boolean>;
  };
  let checked = 0;
  // One archive of the repository, read as a stream: constant GitHub requests, bounded memory.
  const pool = boundedPool(config.failover.applyConcurrency);
  let batch: PlannedVolume[] = [];
  const flush = async () => {
    const full = batch;
    batch = [];
    if (options.store) await deps.operations.savePlanBatch(options.store, full);
  };
  await deps.git.readTree(gitSiteDirectory(config.git.directory, from), async (file) => {
    const id = parseGitPath(config.git.directory, file.path);
    if (!id || id.site !== from || (options.only && !options.only.has(file.path))) return;
    await pool.submit(() => planOne({ path: file.path, sha: file.sha, id }, file.content));
    if (batch.length >= 200) await flush();
  });
  await pool.drain();
  await flush();

  async function planOne(entry: RecordedEntry, text: string): Promise<void> {
    const check = checkRecordedManifest(config, from, entry.id, text);
    if (!check.ok) {
      plan.differing.push({ path: entry.path, differences: check.differences });
    } else {
      try {
        const objects = rewriteForSite(check.objects, source, target);
        if (options.dryRun) {
          // Admission and validation on the target, nothing stored. A claim whose namespace does
          // not exist there yet can only be checked once it does.
          for (const o of objects) {
            const ns = o.metadata.namespace;
            if (o.kind === "PersistentVolumeClaim" && ns && !(await namespaceExists(ns))) continue;
            await cluster.apply(o, { dryRun: true });
          }
        }
        const volume: PlannedVolume = {
          path: entry.path,
          sha: entry.sha,
          targetPath: volumeGitPath(config, to, entry.id),
          pvName: pvName(entry.id),
          namespace: entry.id.namespace,
          pvcName: entry.id.pvcName,
          businessUnit: entry.id.businessUnit,
          sizeGi: check.sizeGi,
          manifest: serializeManifests(objects),
          objects,
        };
        // Only the reference stays in memory; the manifests wait in Redis.
        if (options.store) batch.push(volume);
        plan.volumes.push({
          path: volume.path,
          sha: volume.sha,
          namespace: volume.namespace,
          pvName: volume.pvName,
        });
      } catch (err) {
        if (isTransient(err)) throw err;
        plan.excluded.push({ path: entry.path, reason: errorMessage(err) });
      }
    }
    checked++;
    if (checked % 50 === 0) options.progress(`checked ${checked} volumes`);
  }
  const byPath = <T extends { path: string }>(a: T, b: T) => (a.path < b.path ? -1 : 1);
  plan.volumes.sort(byPath);
  plan.excluded.sort(byPath);
  plan.differing.sort(byPath);
  return plan;
}

/** The short digest approvers see: a hash of everything that decides what will happen. */
export function digestOf(facts: unknown): string {
  return createHash("sha256").update(JSON.stringify(facts)).digest("hex").slice(0, 12);
}

/** Whether the recorded manifests of `site` are still the ones planned (same paths, same blobs). */
export async function recordedChanges(
  deps: JobDeps,
  site: SiteName,
  planned: ReadonlyArray<{ path: string; sha: string }>,
  alsoKnown: readonly string[],
): Promise<{ changed: string[]; added: string[]; removed: string[] }> {
  const now = await listRecorded(deps, site);
  const current = new Map(now.map((e) => [e.path, e.sha]));
  const plannedPaths = new Set(planned.map((v) => v.path));
  const known = new Set([...plannedPaths, ...alsoKnown]);
  return {
    changed: planned.filter((v) => current.has(v.path) && current.get(v.path) !== v.sha).map((v) => v.path),
    added: now.filter((e) => !known.has(e.path)).map((e) => e.path),
    removed: planned.filter((v) => !current.has(v.path)).map((v) => v.path),
  };
}

export function planStaleError(
  changes: { changed: string[]; added: string[]; removed: string[] },
  again: string,
) {
  return new DrbotError(
    "conflict",
    "dr.plan_stale",
    `The recorded volumes changed since the plan was approved (${changes.changed.length} changed, ${changes.added.length} added${changes.removed.length > 0 ? `, ${changes.removed.length} removed` : ""}).`,
    { hint: `Run ${again} again so the approvers see the current plan. Nothing was changed.` },
  );
}
