// RBAC for the Kubernetes stand-in: the rules of one ClusterRole bound to the client, checked the
// way the apiserver's RBAC authorizer checks them (verb, API group, resource or
// resource/subresource, resource names), and refusals worded as the apiserver words them.

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface ClusterRoleRules {
  rules: PolicyRule[];
  /** The user the bound credentials authenticate as (default drbot's service account). */
  user?: string;
}

export const DEFAULT_RBAC_USER = "system:serviceaccount:drbot-access:drbot";

/** What a request asks to do, in the authorizer's terms. */
export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

function covers(values: string[] | undefined, value: string): boolean {
  return (values ?? []).some((v) => v === "*" || v === value);
}

function coversResource(resources: string[] | undefined, resource: string, subresource?: string): boolean {
  const wanted = subresource ? `${resource}/${subresource}` : resource;
  return (resources ?? []).some(
    (r) => r === "*" || r === wanted || (subresource !== undefined && r === `*/${subresource}`),
  );
}

export function allows(rules: readonly PolicyRule[], a: RequestAttributes): boolean {
  return rules.some(
    (rule) =>
      covers(rule.verbs, a.verb) &&
      covers(rule.apiGroups, a.group) &&
      coversResource(rule.resources, a.resource, a.subresource) &&
      (!rule.resourceNames?.length || (a.name !== undefined && rule.resourceNames.includes(a.name))),
  );
}

/**
 * The apiserver's Forbidden message, e.g. `deployments.apps "web" is forbidden: User "u" cannot
 * patch resource "deployments/scale" in API group "apps" in the namespace "shop"`.
 */
export function forbiddenMessage(a: RequestAttributes, user: string): string {
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  return `${subject} is forbidden: User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`;
}

/** Reads a ClusterRole from parsed YAML documents (the first object of kind ClusterRole). */
export function clusterRoleFrom(documents: unknown[]): PolicyRule[] {
  const role = documents.find(
    (d): d is { kind: string; rules?: unknown } =>
      typeof d === "object" && d !== null && (d as { kind?: unknown }).kind === "ClusterRole",
  );
  if (!role || !Array.isArray(role.rules))
    throw new Error("no ClusterRole with rules in the given documents");
  return role.rules.map((r) => {
    const rule = r as PolicyRule;
    if (!Array.isArray(rule.verbs)) throw new Error(`a ClusterRole rule without verbs: ${JSON.stringify(r)}`);
    return rule;
  });
}
