// The volume request a tenant makes, and every rule it must pass before anything is created.
// Field names are the contract's long keys, so messages name what the tenant typed.

import type { TenantConfig } from "./config.ts";
import { type Label, labelProblem, printable, SUBDOMAIN_MAX } from "./names.ts";
import type { VolumeId } from "./paths.ts";
import { namespaceRuleProblem } from "./tenancy.ts";

export interface VolumeRequest extends VolumeId {
  sizeGi: number;
}

export type VolumeField = "business_unit" | "application" | "namespace" | "pvc_name" | "pvc_size";

export interface FieldProblem {
  field: VolumeField;
  message: string;
}

export interface VolumeRules {
  /** Configured business units (tenants) and their settings. */
  tenants: Readonly<Record<string, TenantConfig>>;
  maxSizeGi: number;
}

/** Raw values as they arrive from a command, a modal or the CLI. */
export type RawVolumeRequest = Partial<Record<VolumeField, unknown>>;

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: FieldProblem[] };

const HOW_TO_WRITE: Record<VolumeField, string> = {
  business_unit: "bu=<business unit>",
  application: "app=<application>",
  namespace: "ns=<namespace>",
  pvc_name: "pvc=<claim name>",
  pvc_size: "size=<GiB>, e.g. size=10Gi",
};

const WORDS: Record<VolumeField, string> = {
  business_unit: "business unit",
  application: "application",
  namespace: "namespace",
  pvc_name: "PVC name",
  pvc_size: "size",
};

export function validateVolumeRequest(raw: RawVolumeRequest, rules: VolumeRules): Validated<VolumeRequest> {
  const id = checkVolumeId(raw, rules, { namespaceList: true });
  const size = parseSize(raw.pvc_size, rules.maxSizeGi);
  const problems = [...id.problems];
  if (typeof size === "string") problems.push({ field: "pvc_size", message: size });
  if (problems.length > 0 || !id.value || typeof size !== "number") return { ok: false, problems };
  return { ok: true, value: { ...id.value, sizeGi: size } };
}

/**
 * A volume that already exists, named for `/volume delete` (no size). Its namespace must not be
 * a system one, but may lie outside the tenant's current namespace list: a tenant can always
 * retire a volume it owns.
 */
export function validateVolumeId(raw: RawVolumeRequest, rules: VolumeRules): Validated<VolumeId> {
  const id = checkVolumeId(raw, rules, { namespaceList: false });
  return id.value && id.problems.length === 0
    ? { ok: true, value: id.value }
    : { ok: false, problems: id.problems };
}

function checkVolumeId(
  raw: RawVolumeRequest,
  rules: VolumeRules,
  options: { namespaceList: boolean },
): { value?: VolumeId; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const names: Partial<Record<VolumeField, string>> = {};

  for (const field of ["business_unit", "application", "namespace", "pvc_name"] as const) {
    const value = raw[field];
    if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
      problems.push({ field, message: `${WORDS[field]} is missing: add ${HOW_TO_WRITE[field]}.` });
      continue;
    }
    if (typeof value !== "string") {
      problems.push({ field, message: `${WORDS[field]} must be text.` });
      continue;
    }
    const problem = labelProblem(WORDS[field], value);
    if (problem) {
      problems.push({ field, message: problem });
      continue;
    }
    names[field] = value;
  }

  const bu = names.business_unit;
  const tenants = Object.keys(rules.tenants);
  // An own property only: "constructor" or "__proto__" are not tenants.
  const known = bu !== undefined && Object.hasOwn(rules.tenants, bu);
  if (bu !== undefined && !known) {
    const list = tenants.length > 0 ? [...tenants].sort().join(", ") : "none";
    problems.push({
      field: "business_unit",
      message: `business unit "${bu}" is not configured in drbot (known: ${list}). Ask the platform team to add it.`,
    });
  }
  const ns = names.namespace;
  const tenant = options.namespaceList && bu && known ? rules.tenants[bu] : undefined;
  const nsProblem = ns === undefined ? undefined : namespaceRuleProblem(bu ?? "", tenant, ns);
  if (nsProblem) problems.push({ field: "namespace", message: nsProblem });

  if (bu && names.application && ns && names.pvc_name) {
    const pvLength = bu.length + names.application.length + ns.length + names.pvc_name.length + 3;
    if (pvLength > SUBDOMAIN_MAX) {
      problems.push({
        field: "pvc_name",
        message: `the volume name <business unit>.<application>.<namespace>.<pvc> would be ${pvLength} characters; Kubernetes allows ${SUBDOMAIN_MAX}. Shorten the application, namespace or PVC name.`,
      });
    }
  }
  if (problems.length > 0 || !bu || !names.application || !ns || !names.pvc_name) return { problems };
  return {
    problems,
    value: {
      businessUnit: bu as Label,
      application: names.application as Label,
      namespace: ns as Label,
      pvcName: names.pvc_name as Label,
    },
  };
}

/** Whole GiB from `10`, `"10"` or `"10Gi"`; otherwise the reason, in words. */
export function parseSize(value: unknown, maxSizeGi: number): number | string {
  if (value === undefined || value === null || value === "") {
    return `size is missing: add ${HOW_TO_WRITE.pvc_size}.`;
  }
  let text: string;
  if (typeof value === "number") text = String(value);
  else if (typeof value === "string") text = value.trim();
  else return "size must be a number of GiB, like 10 or 10Gi.";

  const match = /^(\d{1,7})(Gi)?$/.exec(text);
  if (!match) {
    const shown = printable(text);
    if (/^\d+(\.\d+)?(G|GB|g|gi|GIB|GiB)$/.test(text)) {
      return `size "${shown}" is ambiguous; write whole GiB as ${Number.parseInt(text, 10)}Gi.`;
    }
    if (/^\d+(Mi|Ki|M|K|Ti|T|Pi|P|Ei|E)$/.test(text)) {
      return `size "${shown}" must be given in GiB, like 10Gi.`;
    }
    if (/^-/.test(text)) return `size "${shown}" must be at least 1 GiB.`;
    if (/^\d+\.\d+/.test(text)) return `size "${shown}" must be a whole number of GiB, like 10Gi.`;
    if (/^\d{8,}(Gi)?$/.test(text)) return `size "${shown}" is above the limit of ${maxSizeGi} GiB.`;
    return `size "${shown}" is not a size; write a whole number of GiB, like 10 or 10Gi.`;
  }
  const gi = Number(match[1]);
  if (gi < 1) return "size must be at least 1 GiB.";
  if (gi > maxSizeGi)
    return `size ${gi} GiB is above the limit of ${maxSizeGi} GiB; ask the platform team for more.`;
  return gi;
}
