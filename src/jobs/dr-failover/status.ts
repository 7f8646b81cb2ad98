// `/dr status` and `drbot dr status`: where things stand, read from the systems themselves.

import type { Approvals } from "../../core/approvals.ts";
import type { Config } from "../../core/config.ts";
import type { ActiveSite, DrState } from "../../core/dr-state.ts";
import { formatDuration } from "../../core/duration.ts";
import { errorMessage } from "../../core/errors.ts";
import { gitSiteDirectory, parseGitPath, type SiteName } from "../../core/paths.ts";
import type { EfsPort } from "../../core/ports/efs.ts";
import type { GitPort } from "../../core/ports/git.ts";

export interface DrStatusDeps {
  config: Config;
  efs: EfsPort;
  git: GitPort;
  dr: DrState;
  approvals: Approvals;
}

export interface FileSystemStatus {
  site: SiteName;
  fileSystemId: string;
  region: string;
  state: string;
  replication: string;
  lagSeconds: number | null;
  error?: string;
}

export interface DrStatusReport {
  activeSite: ActiveSite;
  fileSystems: FileSystemStatus[];
  volumes: Record<SiteName, number> | { error: string };
  drLock: string | null;
  pendingApprovals: Array<{
    id: string;
    requester: string;
    approvals: number;
    required: number;
    expiresAt: number;
    channel?: string;
    ts?: string;
  }>;
}

export async function drStatus(deps: DrStatusDeps): Promise<DrStatusReport> {
  const [activeSite, drLock, pendingIds, fileSystems, volumes] = await Promise.all([
    deps.dr.activeSite(),
    deps.dr.drLockHolder(),
    deps.approvals.pending(),
    Promise.all((["primary", "secondary"] as const).map((site) => fileSystemStatus(deps, site))),
    countVolumes(deps),
  ]);
  const pending = (await Promise.all(pendingIds.map((id) => deps.approvals.get(id))))
    .filter(
      (r): r is NonNullable<typeof r> => r !== null && r.state === "pending" && r.expiresAt > Date.now(),
    )
    .map((r) => ({
      id: r.id,
      requester: r.requester,
      approvals: r.approvals.length,
      required: r.required,
      expiresAt: r.expiresAt,
      ...(r.channel ? { channel: r.channel } : {}),
      ...(r.ts ? { ts: r.ts } : {}),
    }));
  return { activeSite, fileSystems, volumes, drLock, pendingApprovals: pending };
}

async function fileSystemStatus(deps: DrStatusDeps, site: SiteName): Promise<FileSystemStatus> {
  const { fileSystemId, region } = deps.config.sites[site].efs;
  const base = { site, fileSystemId, region };
  try {
    const [fs, r] = await Promise.all([
      deps.efs.describeFileSystem(region, fileSystemId),
      deps.efs.describeReplication(region, fileSystemId),
    ]);
    let replication = "no replication";
    let lagSeconds: number | null = null;
    if (r) {
      const dest = r.destinations[0];
      if (dest?.lastReplicatedTimestamp)
        lagSeconds = Math.round((Date.now() - dest.lastReplicatedTimestamp.getTime()) / 1000);
      replication =
        r.sourceFileSystemId === fileSystemId
          ? `replicating to ${dest?.fileSystemId} (${dest?.region}), ${dest?.status}`
          : `replica of ${r.sourceFileSystemId} (${r.sourceRegion}), ${dest?.status}`;
    }
    return {
      ...base,
      state: `${fs.lifeCycleState}, overwrite protection ${fs.overwriteProtection}`,
      replication,
      lagSeconds,
    };
  } catch (err) {
    return {
      ...base,
      state: "unreachable",
      replication: "unknown",
      lagSeconds: null,
      error: errorMessage(err),
    };
  }
}

async function countVolumes(deps: DrStatusDeps): Promise<DrStatusReport["volumes"]> {
  try {
    const counts = { primary: 0, secondary: 0 };
    for (const site of ["primary", "secondary"] as const) {
      const files = await deps.git.listFiles(gitSiteDirectory(deps.config.git.directory, site));
      counts[site] = files.filter(
        (f) => parseGitPath(deps.config.git.directory, f.path)?.site === site,
      ).length;
    }
    return counts;
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

export function formatDrStatus(report: DrStatusReport, config: Config, style: "slack" | "text"): string {
  const b = (s: string) => (style === "slack" ? `*${s}*` : s);
  const user = (u: string) => (style === "slack" && !u.startsWith("cli:") ? `<@${u}>` : u);
  const active = report.activeSite;
  const lines = [
    `${b("Active site")}: ${active.site} (${config.sites[active.site].cluster.name})${active.since ? ` since ${new Date(active.since).toISOString()}${active.by ? ` (${active.by})` : ""}` : ""}`,
  ];
  for (const fs of report.fileSystems) {
    const lag = fs.lagSeconds === null ? "" : `, last replicated ${formatDuration(fs.lagSeconds * 1000)} ago`;
    lines.push(
      `${b(`${fs.site} file system`)}: ${fs.fileSystemId} (${fs.region}) ${fs.error ? `unreachable: ${fs.error}` : `${fs.state}; ${fs.replication}${lag}`}`,
    );
  }
  lines.push(
    "error" in report.volumes
      ? `${b("Volumes recorded")}: unknown (${report.volumes.error})`
      : `${b("Volumes recorded")}: ${report.volumes.primary} for the primary site, ${report.volumes.secondary} for the secondary site`,
  );
  lines.push(
    `${b("DR operation")}: ${report.drLock ? `${report.drLock} in progress (volume requests are refused meanwhile)` : "none"}`,
  );
  if (report.pendingApprovals.length === 0) lines.push(`${b("Pending approvals")}: none`);
  for (const p of report.pendingApprovals) {
    const where = p.channel ? (style === "slack" ? ` in <#${p.channel}>` : ` in channel ${p.channel}`) : "";
    lines.push(
      `${b("Pending approval")}: ${p.id} by ${user(p.requester)}, ${p.approvals}/${p.required} approvals, expires ${new Date(p.expiresAt).toISOString()}${where}`,
    );
  }
  return lines.join("\n");
}
