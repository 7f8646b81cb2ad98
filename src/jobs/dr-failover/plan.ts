// Step 1 of a failover: find out, without changing anything, what a failover would do and what
// it may lose. Everything is asked of the secondary region and cluster; the primary's silence is
// expected in a regional outage and only noted.

import { createHash } from "node:crypto";
import { formatDuration } from "../../core/duration.ts";
import { DrbotError, errorMessage } from "../../core/errors.ts";
import type { PlannedVolume } from "../../core/failover-store.ts";
import { parseManifests, rewriteForSite, serializeManifests } from "../../core/manifests.ts";
import { mapLimit } from "../../core/map-limit.ts";
import { gitSiteDirectory, parseGitPath, pvName } from "../../core/paths.ts";
import { siteTarget, volumeGitPath } from "../../core/volumes.ts";
import type { JobDeps } from "../deps.ts";
import type { FailoverPlanSummary } from "./input.ts";

export interface Plan {
  summary: FailoverPlanSummary;
  volumes: PlannedVolume[];
  /** Checks that failed; any of them blocks the failover. */
  problems: string[];
}

export async function buildPlan(deps: JobDeps, progress: (detail: string) => void): Promise<Plan> {
  const { config, efs, git } = deps;
  const primary = config.sites.primary;
  const secondary = config.sites.secondary;
  const problems: string[] = [];
  const notes: string[] = [];

  let lagSeconds: number | null = null;
  let replication: FailoverPlanSummary["replication"] = "unknown";
  let sourceFileSystemId = primary.efs.fileSystemId;
  try {
    const r = await efs.describeReplication(secondary.efs.region, secondary.efs.fileSystemId);
    if (!r) {
      replication = "stopped";
      notes.push(`Replication into ${secondary.efs.fileSystemId} is already stopped.`);
    } else {
      replication = "replicating";
      sourceFileSystemId = r.sourceFileSystemId;
      if (r.sourceFileSystemId !== primary.efs.fileSystemId) {
        problems.push(
          `${secondary.efs.fileSystemId} replicates from ${r.sourceFileSystemId}, not from the configured primary ${primary.efs.fileSystemId}.`,
        );
      }
      const dest = r.destinations.find((d) => d.fileSystemId === secondary.efs.fileSystemId);
      if (dest?.lastReplicatedTimestamp)
        lagSeconds = Math.max(0, Math.round((Date.now() - dest.lastReplicatedTimestamp.getTime()) / 1000));
      if (dest && dest.status !== "ENABLED") notes.push(`Replication status is ${dest.status}.`);
    }
  } catch (err) {
    problems.push(`Replication status could not be read in ${secondary.efs.region}: ${errorMessage(err)}`);
  }

  try {
    const fs = await efs.describeFileSystem(secondary.efs.region, secondary.efs.fileSystemId);
    if (fs.lifeCycleState !== "available")
      problems.push(`The secondary file system ${fs.fileSystemId} is ${fs.lifeCycleState}, not available.`);
  } catch (err) {
    problems.push(`The secondary file system is not reachable: ${errorMessage(err)}`);
  }
  // Whether the primary's region answers decides how replication will be deleted: on both sides,
  // or (AWS's escape hatch when the other side cannot be reached) on the secondary's side only.
  let primaryAnswers = true;
  try {
    await efs.describeFileSystem(primary.efs.region, primary.efs.fileSystemId);
    notes.push(`The primary file system ${primary.efs.fileSystemId} (${primary.efs.region}) still answers.`);
  } catch {
    primaryAnswers = false;
    notes.push(
      `The primary file system ${primary.efs.fileSystemId} (${primary.efs.region}) does not answer; expected in a regional outage.`,
    );
  }
  let clusterUp = true;
  try {
    await deps.clusters.secondary.version();
  } catch (err) {
    clusterUp = false;
    problems.push(`The secondary cluster ${secondary.cluster.name} is not reachable: ${errorMessage(err)}`);
  }

  progress("reading the recorded manifests from Git");
  const entries = (await git.listFiles(gitSiteDirectory(config.git.directory, "primary")))
    .map((e) => ({ ...e, id: parseGitPath(config.git.directory, e.path) }))
    .filter(
      (e): e is typeof e & { id: NonNullable<typeof e.id> } => e.id !== null && e.id.site === "primary",
    );

  const from = siteTarget(config, "primary");
  const to = siteTarget(config, "secondary");
  const excluded: FailoverPlanSummary["excluded"] = [];
  const volumes: PlannedVolume[] = [];
  let checked = 0;
  await mapLimit(entries, config.failover.applyConcurrency, async (entry) => {
    try {
      const objects = rewriteForSite(parseManifests(await git.readBlob(entry.sha)), from, to);
      if (clusterUp) {
        // Server-side dry run: admission and validation on the secondary, nothing stored. A claim
        // whose namespace does not exist there yet can only be checked once it does.
        for (const o of objects) {
          const ns = o.metadata.namespace;
          if (
            o.kind === "PersistentVolumeClaim" &&
            ns &&
            !(await deps.clusters.secondary.get("Namespace", ns))
          )
            continue;
          await deps.clusters.secondary.apply(o, { dryRun: true });
        }
      }
      volumes.push({
        path: entry.path,
        sha: entry.sha,
        secondaryPath: volumeGitPath(config, "secondary", entry.id),
        pvName: pvName(entry.id),
        namespace: entry.id.namespace,
        pvcName: entry.id.pvcName,
        manifest: serializeManifests(objects),
      });
    } catch (err) {
      if (err instanceof DrbotError && err.kind === "transient") throw err;
      excluded.push({ path: entry.path, reason: errorMessage(err) });
    }
    checked++;
    if (checked % 50 === 0) progress(`checked ${checked}/${entries.length} volumes`);
  });
  volumes.sort((a, b) => (a.path < b.path ? -1 : 1));
  excluded.sort((a, b) => (a.path < b.path ? -1 : 1));

  const digest = createHash("sha256")
    .update(
      JSON.stringify({
        source: sourceFileSystemId,
        target: secondary.efs.fileSystemId,
        cluster: secondary.cluster.name,
        volumes: volumes.map((v) => [v.path, v.sha]),
        excluded: excluded.map((e) => e.path),
        lagSeconds,
        deletionMode: primaryAnswers ? "ALL_CONFIGURATIONS" : "LOCAL_CONFIGURATION_ONLY",
      }),
    )
    .digest("hex")
    .slice(0, 12);

  const lag = lagSeconds === null ? "unknown" : formatDuration(lagSeconds * 1000);
  const lines = [
    `*Move* ${volumes.length} volume${volumes.length === 1 ? "" : "s"} from *${primary.cluster.name}* (${primary.efs.fileSystemId}, ${primary.efs.region}) to *${secondary.cluster.name}* (${secondary.efs.fileSystemId}, ${secondary.efs.region}).`,
    `*Replication* ${replication}; last completed ${lag} ago — *writes after that on the primary may be lost.*`,
    `*Steps* stop replication through ${secondary.efs.region} (${primaryAnswers ? "deleting it on both sides" : "on the secondary's side only (LOCAL_CONFIGURATION_ONLY), because the primary region does not answer; its side cannot be recovered afterwards"}), wait until ${secondary.efs.fileSystemId} is writable, apply every volume to ${secondary.cluster.name}, record them under ${gitSiteDirectory(config.git.directory, "secondary")}/ in one commit, make the secondary the active site.`,
    ...notes.map((n) => `• ${n}`),
    ...(excluded.length > 0
      ? [
          `*Left out* ${excluded.length}: ${excluded
            .slice(0, 5)
            .map((e) => `\`${e.path}\` (${e.reason})`)
            .join("; ")}${excluded.length > 5 ? "; …" : ""}`,
        ]
      : []),
  ];
  return {
    summary: {
      digest,
      volumes: volumes.length,
      excluded,
      lagSeconds,
      replication,
      sourceFileSystemId,
      deletionMode: primaryAnswers ? "ALL_CONFIGURATIONS" : "LOCAL_CONFIGURATION_ONLY",
      notes,
      lines,
    },
    volumes,
    problems,
  };
}
