// Tenant quotas: `volumes.tenants.<bu>.quota: { volumes, totalGi }`, checked when a volume is
// created or grown, against what Git records for the active site (plus requests under way).
// A refusal names the usage, what the request adds and the limit.

import type { TenantConfig } from "./config.ts";

export interface TenantUsage {
  volumes: number;
  totalGi: number;
}

export type Quota = NonNullable<TenantConfig["quota"]>;

/** Why `adding` would take `bu` past its quota (drbot's wording, names are labels); undefined when it fits. */
export function quotaProblem(
  bu: string,
  quota: Quota | undefined,
  usage: TenantUsage,
  adding: TenantUsage,
): string | undefined {
  if (!quota) return undefined;
  const over: string[] = [];
  if (quota.volumes !== undefined && adding.volumes > 0 && usage.volumes + adding.volumes > quota.volumes) {
    over.push(
      `${plural(usage.volumes, "volume")} of ${quota.volumes} allowed are in use, and this would make ${usage.volumes + adding.volumes}`,
    );
  }
  if (quota.totalGi !== undefined && adding.totalGi > 0 && usage.totalGi + adding.totalGi > quota.totalGi) {
    over.push(
      `${usage.totalGi}Gi of ${quota.totalGi}Gi allowed are in use, and this adds ${adding.totalGi}Gi (${usage.totalGi + adding.totalGi}Gi)`,
    );
  }
  if (over.length === 0) return undefined;
  return `business unit ${bu} would exceed its quota: ${over.join("; ")}. Delete or shrink what is no longer needed (\`/volume list bu=${bu}\` shows the volumes), or ask the platform team to raise the quota.`;
}

/** "3 volumes, 30Gi (quota: 50 volumes, 2048Gi)" */
export function describeUsage(usage: TenantUsage, quota: Quota | undefined): string {
  const used = `${plural(usage.volumes, "volume")}, ${usage.totalGi}Gi`;
  if (!quota || (quota.volumes === undefined && quota.totalGi === undefined)) return `${used} (no quota)`;
  const limits = [
    quota.volumes !== undefined ? plural(quota.volumes, "volume") : undefined,
    quota.totalGi !== undefined ? `${quota.totalGi}Gi` : undefined,
  ].filter(Boolean);
  return `${used} of a quota of ${limits.join(", ")}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
