// `/dr status` and `drbot dr status`: where things stand, read from the systems themselves, and
// what it means for the data in words: UNPROTECTED when the active file system has no
// replication, INCOMPLETE when an operation stopped past its point of no return.

import type { Approvals } from "../../core/approvals.ts";
import type { Config } from "../../core/config.ts";
import { type DrRecord, otherSite } from "../../core/dr-record.ts";
import type { DrState, OperationStatus } from "../../core/dr-state.ts";
import { formatDuration } from "../../core/duration.ts";
import { errorMessage } from "../../core/errors.ts";
import { channelMention, escapeMrkdwn, mention } from "../../core/mrkdwn.ts";
import type { SiteName } from "../../core/paths.ts";
import type { EfsPort } from "../../core/ports/efs.ts";
import type { GitPort } from "../../core/ports/git.ts";
import { listRecorded } from "./volumes.ts";

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
  /** Whether this file system is the source of a replication. */
  replicating: boolean;
  lagSeconds: number | null;
  error?: string;
}

export interface DrStatusReport {
  activeSite: { site: SiteName; since?: number; by?: string };
  record: DrRecord;
  /** Set when the active file system has no replication: its data has no DR copy. */
  unprotected: string | null;
  fileSystems: FileSystemStatus[];
  volumes: Record<SiteName, number> | { error: string };
  drLock: string | null;
  operation: OperationStatus | null;
  lastDrill: Awaited<ReturnType<DrState["lastDrill"]>>;
  pendingApprovals: Array<{
    id: string;
    action: string;
    requester: string;
    approvals: number;
    required: number;
    expiresAt: number;
    channel?: string;
    ts?: string;
  }>;
}

export async function drStatus(deps: DrStatusDeps): Promise<DrStatusReport> {
  const [record, drLock, operation, pendingIds, fileSystems, volumes, lastDrill] = await Promise.all([
    deps.dr.record(),
    deps.dr.drLockHolder(),
    deps.dr.operation(),
    deps.approvals.pending(),
    Promise.all((["primary", "secondary"] as const).map((site) => fileSystemStatus(deps, site))),
    countVolumes(deps),
    deps.dr.lastDrill(),
  ]);
  const pending = (await Promise.all(pendingIds.map((id) => deps.approvals.get(id))))
    .filter(
      (r): r is NonNullable<typeof r> => r !== null && r.state === "pending" && r.expiresAt > Date.now(),
    )
    .map((r) => ({
      id: r.id,
      action: r.title ?? r.action,
      requester: r.requester,
      approvals: r.approvals.length,
      required: r.required,
      expiresAt: r.expiresAt,
      ...(r.channel ? { channel: r.channel } : {}),
      ...(r.ts ? { ts: r.ts } : {}),
    }));
  const active = fileSystems.find((f) => f.site === record.activeSite);
  // EFS is the truth when it answers; the record is what drbot last set up.
  const unprotected =
    active && !active.error
      ? active.replicating
        ? null
        : `${active.fileSystemId} has no replication`
      : record.replication?.source === record.activeSite
        ? null
        : `${deps.config.sites[record.activeSite].efs.fileSystemId} has no replication (as recorded)`;
  return {
    activeSite: {
      site: record.activeSite,
      ...(record.at ? { since: Date.parse(record.at) } : {}),
      ...(record.requestId ? { by: record.requestId } : {}),
    },
    record,
    unprotected,
    fileSystems,
    volumes,
    drLock,
    operation,
    lastDrill,
    pendingApprovals: pending,
  };
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
    const replicating = r?.sourceFileSystemId === fileSystemId;
    if (r) {
      const dest = r.destinations[0];
      if (dest?.lastReplicatedTimestamp)
        lagSeconds = Math.round((Date.now() - dest.lastReplicatedTimestamp.getTime()) / 1000);
      replication = replicating
        ? `replicating to ${dest?.fileSystemId} (${dest?.region}), ${dest?.status}`
        : `replica of ${r.sourceFileSystemId} (${r.sourceRegion}), ${dest?.status}`;
    }
    return {
      ...base,
      state: `${fs.lifeCycleState}, overwrite protection ${fs.overwriteProtection}`,
      replication,
      replicating: Boolean(replicating && r?.destinations.some((d) => d.status !== "DELETING")),
      lagSeconds,
    };
  } catch (err) {
    return {
      ...base,
      state: "unreachable",
      replication: "unknown",
      replicating: false,
      lagSeconds: null,
      error: errorMessage(err),
    };
  }
}

async function countVolumes(deps: DrStatusDeps): Promise<DrStatusReport["volumes"]> {
  try {
    const [primary, secondary] = await Promise.all([
      listRecorded(deps, "primary"),
      listRecorded(deps, "secondary"),
    ]);
    return { primary: primary.length, secondary: secondary.length };
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

/** The report as Slack mrkdwn (every outside value escaped) or as plain text for a terminal. */
export function formatDrStatus(report: DrStatusReport, config: Config, style: "slack" | "text"): string {
  const slack = style === "slack";
  const b = (s: string) => (slack ? `*${s}*` : s);
  const v = (s: unknown) => (slack ? escapeMrkdwn(s) : String(s));
  const user = (u: string) => (slack ? mention(u).text : u);
  const { record } = report;
  const active = report.activeSite;
  const lines = [
    `${b("Active site")}: ${active.site} (${v(config.sites[active.site].cluster.name)})${active.since ? ` since ${new Date(active.since).toISOString()}${active.by ? ` (${v(active.by)})` : ""}` : ""}`,
    `${b("Replication direction")}: ${record.replication ? `${record.replication.source} → ${record.replication.destination}` : "none"} (as recorded in dr/state.yaml)`,
  ];
  if (report.operation?.status === "incomplete") {
    lines.push(
      `${slack ? ":rotating_light: " : ""}${b(`${report.operation.kind.toUpperCase()} INCOMPLETE`)}: ${v(report.operation.note ?? "")} (${v(report.operation.id)}). The DR lock holds and volume requests are refused until an approver runs ${slack ? "`" : ""}/dr ${report.operation.kind} resume ${v(report.operation.id)}${slack ? "`" : ""}.`,
    );
  }
  if (report.unprotected) {
    lines.push(
      `${slack ? ":rotating_light: " : ""}${b("UNPROTECTED")}: ${v(report.unprotected)}, so the data on the ${active.site} site has no disaster-recovery copy. ${slack ? "`/dr reprotect`" : "/dr reprotect"} fixes it (once the ${otherSite(active.site)} region answers).`,
    );
  }
  for (const fs of report.fileSystems) {
    const lag = fs.lagSeconds === null ? "" : `, last replicated ${formatDuration(fs.lagSeconds * 1000)} ago`;
    lines.push(
      `${b(`${fs.site} file system`)}: ${fs.fileSystemId} (${fs.region}) ${fs.error ? `unreachable: ${v(fs.error)}` : `${v(fs.state)}; ${v(fs.replication)}${lag}`}`,
    );
  }
  lines.push(
    "error" in report.volumes
      ? `${b("Volumes recorded")}: unknown (${v(report.volumes.error)})`
      : `${b("Volumes recorded")}: ${report.volumes.primary} for the primary site, ${report.volumes.secondary} for the secondary site`,
  );
  lines.push(
    `${b("DR operation")}: ${report.drLock ? `${v(report.drLock)} ${report.operation?.status === "incomplete" ? "INCOMPLETE" : "in progress"} (volume requests are refused meanwhile)` : "none"}`,
  );
  const drill = report.lastDrill.last;
  lines.push(
    drill
      ? `${b("Last drill")}: ${new Date(drill.at).toISOString()} ${drill.outcome} (${v(drill.id)}, ${v(drill.report)})${drill.outcome === "failed" && report.lastDrill.lastSuccess ? `; last success ${new Date(report.lastDrill.lastSuccess.at).toISOString()}` : ""}`
      : `${b("Last drill")}: never (${slack ? "`/dr drill`" : "/dr drill"} rehearses a failover without changing anything)`,
  );
  if (report.pendingApprovals.length === 0) lines.push(`${b("Pending approvals")}: none`);
  for (const p of report.pendingApprovals) {
    const where = p.channel
      ? slack
        ? ` in ${channelMention(p.channel).text}`
        : ` in channel ${p.channel}`
      : "";
    lines.push(
      `${b("Pending approval")}: ${v(p.id)} (${v(p.action)}) by ${user(p.requester)}, ${p.approvals}/${p.required} approvals, expires ${new Date(p.expiresAt).toISOString()}${where}`,
    );
  }
  return lines.join("\n");
}
