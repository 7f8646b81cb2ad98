// Tenants own their namespaces. System namespaces are never a tenant's; a tenant with a
// `namespaces` list stays inside it; and a namespace drbot created for one tenant (labelled
// drbot.io/tenant) is not another tenant's to use.

import type { TenantConfig } from "./config.ts";
import type { KubeObject } from "./ports/cluster.ts";

/** The label drbot puts on namespaces it creates: the business unit they belong to. */
export const TENANT_LABEL = "drbot.io/tenant";

/** Namespaces of the platform itself: `default`, `kube-*`, `openshift*`, `*-system`. */
export function isSystemNamespace(ns: string): boolean {
  return ns === "default" || ns.startsWith("kube-") || ns.startsWith("openshift") || ns.endsWith("-system");
}

/** Whether `ns` matches one of a tenant's entries (`shop-prod`, or a prefix `shop-*`). */
export function inNamespaceList(list: readonly string[], ns: string): boolean {
  return list.some((entry) => (entry.endsWith("-*") ? ns.startsWith(entry.slice(0, -1)) : ns === entry));
}

/** Why `bu` may not use `ns` going by the configuration alone; undefined when it may. */
export function namespaceRuleProblem(
  bu: string,
  tenant: TenantConfig | undefined,
  ns: string,
): string | undefined {
  if (isSystemNamespace(ns)) {
    return `namespace "${ns}" is reserved for the platform (default, kube-*, openshift*, *-system); use your application's own namespace.`;
  }
  if (tenant?.namespaces && !inNamespaceList(tenant.namespaces, ns)) {
    return `namespace "${ns}" is not one of business unit ${bu}'s namespaces (${tenant.namespaces.join(", ")}); ask the platform team to add it.`;
  }
  return undefined;
}

/** Why `bu` may not use the existing namespace object; undefined when it may. */
export function namespaceOwnerProblem(bu: string, namespace: KubeObject | null): string | undefined {
  const owner = namespace?.metadata.labels?.[TENANT_LABEL];
  if (owner && owner !== bu) {
    return `namespace "${namespace?.metadata.name}" belongs to business unit ${owner} (label ${TENANT_LABEL}); use one of ${bu}'s namespaces.`;
  }
  return undefined;
}
