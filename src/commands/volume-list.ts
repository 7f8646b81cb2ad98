// `/volume list [bu=…] [app=…] [page=N]`: what Git records for the active site, with each
// volume's size, whether it is Bound on the active cluster now, and how much its directory holds
// (measured by a worker within a time budget, else "not measured"); the tenants' totals against
// their quotas; paged so each reply stays within one Slack message. Need to know: a tenant's
// requesters see their tenants' volumes, failover approvers and requesters see all.

import { errorMessage } from "../core/errors.ts";
import { mapLimit } from "../core/map-limit.ts";
import { code, escapeMrkdwn, md } from "../core/mrkdwn.ts";
import { labelProblem } from "../core/names.ts";
import { directorySegments } from "../core/paths.ts";
import { describeUsage } from "../core/quota.ts";
import { type Measurement, requestMeasurements } from "../jobs/volume-measure/index.ts";
import { type RecordedSummary, readRecordedSizes, usageOf } from "../jobs/volumes/recorded.ts";
import type { BotDeps } from "./deps.ts";

/** Volumes per reply: 50 lines of at most ~400 characters stay far below Slack's 40,000. */
export const LIST_PAGE_SIZE = 50;
/** How long the reply waits for directory sizes and the cluster's answer. */
export const LIST_BUDGET_MS = 2_000;
/** Slack cuts messages at 40,000 characters; stay below with room to spare. */
const MESSAGE_MAX = 39_000;
const TENANT_LINES_MAX = 20;

export interface ListFilters {
  businessUnit?: string;
  application?: string;
  page: number;
}

/**
 * Need to know: a tenant's requesters see their tenants' volumes; failover approvers and
 * requesters (who move every volume) see all; anyone else sees none.
 */
export async function visibleTenants(deps: BotDeps, user: string): Promise<"all" | string[]> {
  const policy = deps.config.approvals.failover;
  if (
    (await deps.authorizer.includes(policy.approvers, user)) ||
    (await deps.authorizer.includes(policy.requesters, user))
  )
    return "all";
  const mine: string[] = [];
  for (const [bu, tenant] of Object.entries(deps.config.volumes.tenants)) {
    if (await deps.authorizer.includes(tenant.requesters, user)) mine.push(bu);
  }
  return mine;
}

/** What is wrong with `bu=`/`app=` as typed (names, not patterns); undefined when they are fine. */
export function filterProblem(
  config: BotDeps["config"],
  values: { business_unit?: string; application?: string },
): string | undefined {
  const bu = values.business_unit;
  if (bu !== undefined) {
    const problem = labelProblem("business unit", bu);
    if (problem) return escapeMrkdwn(problem);
    if (!Object.hasOwn(config.volumes.tenants, bu))
      return md`business unit "${bu}" is not configured in drbot (known: ${Object.keys(config.volumes.tenants).sort().join(", ")}).`
        .text;
  }
  if (values.application !== undefined) {
    const problem = labelProblem("application", values.application);
    if (problem) return escapeMrkdwn(problem);
  }
  return undefined;
}

/** `page=` as typed: a whole number from 1; the reason otherwise. */
export function parsePage(value: string | undefined): number | string {
  if (value === undefined) return 1;
  if (!/^[1-9][0-9]{0,5}$/.test(value.trim())) {
    return `page must be a whole number from 1, like page=2 (got "${escapeMrkdwn(value, 40)}").`;
  }
  return Number(value.trim());
}

export async function listVolumes(deps: BotDeps, user: string, filters: ListFilters): Promise<string> {
  const { businessUnit: bu, application } = filters;
  const visible = await visibleTenants(deps, user);
  if (visible !== "all" && visible.length === 0)
    return "You may list the volumes of the business units you request volumes for, and you are not a requester of any. Ask the platform team if you should be.";
  if (bu && visible !== "all" && !visible.includes(bu))
    return md`You may not list the volumes of business unit ${bu}: you request volumes for ${visible.join(", ")}.`
      .text;
  const site = (await deps.dr.activeSite()).site;
  let recorded: RecordedSummary[];
  try {
    recorded = await readRecordedSizes(deps, site, bu);
  } catch (err) {
    return `The volume list could not be read from Git: ${escapeMrkdwn(errorMessage(err))}. Try again in a minute.`;
  }
  const mine = recorded.filter((v) => visible === "all" || visible.includes(v.id.businessUnit));
  const volumes = mine.filter((v) => !application || v.id.application === application);
  const filter = [bu && `bu=${bu}`, application && `app=${application}`].filter(Boolean).join(" ");
  const scope = visible === "all" ? "" : ` (you see ${visible.join(", ")})`;
  if (volumes.length === 0)
    return md`No volumes recorded for the ${site} site${filter ? ` matching ${filter}` : ""}${scope}.`.text;

  const pages = Math.ceil(volumes.length / LIST_PAGE_SIZE);
  if (filters.page > pages) {
    return md`Page ${filters.page} is past the last page (${pages}) of the ${volumes.length} volumes on the ${site} site${filter ? ` (${filter})` : ""}.`
      .text;
  }
  const shown = volumes.slice((filters.page - 1) * LIST_PAGE_SIZE, filters.page * LIST_PAGE_SIZE);
  const cluster = deps.clusters[site];
  const names = shown.map(
    (v) => `${v.id.businessUnit}.${v.id.application}.${v.id.namespace}.${v.id.pvcName}`,
  );
  const [phases, measured] = await Promise.all([
    withinBudget(volumePhases(cluster, names), LIST_BUDGET_MS + 1_000),
    requestMeasurements(
      deps.queues,
      site,
      shown.map((v) => directorySegments(deps.config.volumes.rootDirectory, v.id)),
      LIST_BUDGET_MS,
    ).catch(() => undefined),
  ]);

  const lines = shown.map((v, i) => {
    const name = names[i] as string;
    const size = v.sizeGi === null ? "size unknown" : `${v.sizeGi}Gi`;
    const phase = phases === undefined ? "Bound: unknown" : boundText(phases.get(name), cluster.name);
    return md`• ${code(name)} — ${size} · ${site} · ${phase} · ${usedText(measured?.[i])}`.text;
  });
  const header =
    md`*${volumes.length} volume${volumes.length === 1 ? "" : "s"} on the ${site} site${filter ? ` (${filter})` : ""}*${scope}, from Git${pages > 1 ? `, page ${filters.page} of ${pages}` : ""}. Bound as ${cluster.name} says now; directory sizes as measured on the ${site} file system within ${LIST_BUDGET_MS / 1000}s:`
      .text;
  const totals = tenantTotals(deps, mine, bu);
  const next =
    filters.page < pages
      ? md`Page ${filters.page} of ${pages}; for more: ${code(`/volume list ${filter ? `${filter} ` : ""}page=${filters.page + 1}`)}`
          .text
      : "";
  return withinOneMessage([header, ...lines], [totals, next].filter(Boolean));
}

/** Per tenant: recorded volumes and size against its quota (over all its volumes, not one page). */
function tenantTotals(deps: BotDeps, volumes: readonly RecordedSummary[], bu: string | undefined): string {
  const byTenant = new Map<string, RecordedSummary[]>();
  for (const v of volumes) byTenant.set(v.id.businessUnit, [...(byTenant.get(v.id.businessUnit) ?? []), v]);
  if (bu && !byTenant.has(bu)) byTenant.set(bu, []);
  const tenants = [...byTenant.keys()].sort();
  const lines = tenants.slice(0, TENANT_LINES_MAX).map((t) => {
    const quota = Object.hasOwn(deps.config.volumes.tenants, t)
      ? deps.config.volumes.tenants[t]?.quota
      : undefined;
    return md`${t}: ${describeUsage(usageOf(byTenant.get(t) ?? []), quota)}`.text;
  });
  const more =
    tenants.length > TENANT_LINES_MAX ? ` and ${tenants.length - TENANT_LINES_MAX} more tenants` : "";
  return `*Totals* ${lines.join(" · ")}${more}`;
}

/** Keeps the reply within one Slack message: lines are dropped from the end (with a note) if needed. */
function withinOneMessage(lines: string[], footer: string[]): string {
  const text = (body: string[]) => [...body, ...footer].join("\n");
  let body = lines;
  while (text(body).length > MESSAGE_MAX && body.length > 2) {
    body = body.slice(0, -1);
    body[body.length - 1] = "… (cut to fit one message; narrow with bu= or app=)";
  }
  return text(body);
}

/**
 * PV name → its phase, for the page's volumes only (a read each, a few at a time): the cost
 * follows the page, not the fleet. A PV that is not there is left out.
 */
async function volumePhases(
  cluster: BotDeps["clusters"]["primary"],
  names: readonly string[],
): Promise<Map<string, string>> {
  const phases = new Map<string, string>();
  await mapLimit(names, 10, async (name) => {
    const pv = await cluster.get("PersistentVolume", name);
    if (pv) phases.set(name, String((pv.status as { phase?: string } | undefined)?.phase ?? "unknown"));
  });
  return phases;
}

function boundText(phase: string | undefined, clusterName: string): string {
  if (phase === undefined) return `not on ${clusterName}`;
  return phase === "Bound" ? "Bound" : `not Bound (${phase})`;
}

function usedText(m: Measurement | undefined): string {
  if (m === "missing") return "no directory";
  if (!m) return "not measured";
  return `${formatBytes(m.bytes)} in ${m.files} file${m.files === 1 ? "" : "s"}`;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The value, or undefined once `ms` has passed (or it failed): a list never waits on one system. */
async function withinBudget<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
