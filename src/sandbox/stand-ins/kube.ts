// A local Kubernetes API server that @kubernetes/client-node talks to through a kubeconfig:
// discovery, Namespaces, PersistentVolumes, PersistentVolumeClaims, StorageClasses, Pods,
// Deployments and StatefulSets (with the `scale` subresource) with get, list, create, replace,
// delete, JSON merge patch and server-side apply (field ownership kept in metadata.managedFields,
// conflicts, force, dry run), errors as the apiserver's Status objects, and controllers that act
// a short while after a write: the PV controller binds claims; the workload controller makes each
// Deployment's and StatefulSet's pods and status follow spec.replicas; the storage-object-in-use
// protection keeps a claim a pod mounts (kubernetes.io/pvc-protection) and a volume bound to a
// claim (kubernetes.io/pv-protection) Terminating until they are no longer in use. Optional RBAC
// from one ClusterRole answers 403 Forbidden to what it does not grant; the PVC resize admission
// refuses to grow a claim whose StorageClass does not allow volume expansion.
//
// Deliberate simplifications: for apply every list is atomic (the real server merges keyed lists
// such as containers item by item); no watch; ReplicaSets are not served (a Deployment's pods name
// their ReplicaSet as real ones do, and a changed pod template does not roll them); pods run as
// soon as they exist (no scheduler or kubelet) and are deleted at once (no grace period);
// StatefulSet volumeClaimTemplates are not provisioned; namespaces are deleted at once with their
// contents.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { FakeHttpServer, type FakeReply, type FaultRule, json, type RecordedRequest } from "./fake-http.ts";
import {
  allows,
  type ClusterRoleRules,
  DEFAULT_RBAC_USER,
  forbiddenMessage,
  type RequestAttributes,
} from "./kube-rbac.ts";

type JsonMap = Record<string, unknown>;

export type FakeKind =
  | "Namespace"
  | "PersistentVolume"
  | "PersistentVolumeClaim"
  | "StorageClass"
  | "Pod"
  | "Deployment"
  | "StatefulSet";

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: JsonMap;
  subresource?: string;
}

export interface FakeObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  /** Set when deletion was asked for and finalizers still hold the object. */
  deletionTimestamp?: string;
  managedFields?: ManagedFieldsEntry[];
  [field: string]: unknown;
}

export interface FakeObject {
  apiVersion: string;
  kind: string;
  metadata: FakeObjectMeta;
  spec?: JsonMap;
  status?: JsonMap;
  [field: string]: unknown;
}

export interface FakeKubeOptions {
  /** Bearer token the server accepts; random when unset. */
  token?: string;
  /** How long the PV controller waits after a write before it binds claims (default 20 ms). */
  bindDelayMs?: number;
  /** Reported by /version (default v1.31.2). */
  gitVersion?: string;
  /** Context (and cluster) name in generated kubeconfigs (default `fake`). */
  contextName?: string;
  /** How long the workload controller takes to follow a change of replicas (default 20 ms). */
  workloadDelayMs?: number;
  /** Authorise every request with these ClusterRole rules (403 Forbidden otherwise); off when unset. */
  rbac?: ClusterRoleRules;
  port?: number;
}

export interface KubeconfigOptions {
  context?: string;
  token?: string;
  /** Default namespace of the context. */
  namespace?: string;
}

export const ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed";
export const PVC_PROTECTION = "kubernetes.io/pvc-protection";
export const PV_PROTECTION = "kubernetes.io/pv-protection";
export const ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller";
const CONTROLLER = "kube-controller-manager";

// ---------------------------------------------------------------------------------------------
// Resources and discovery

interface Resource {
  kind: FakeKind;
  plural: string;
  singular: string;
  group: string;
  namespaced: boolean;
  shortNames: string[];
  /** Served subresources besides the object itself (only `scale` here). */
  subresources?: string[];
}

const RESOURCES: readonly Resource[] = [
  {
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    group: "",
    namespaced: false,
    shortNames: ["ns"],
  },
  {
    kind: "PersistentVolume",
    plural: "persistentvolumes",
    singular: "persistentvolume",
    group: "",
    namespaced: false,
    shortNames: ["pv"],
  },
  {
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    singular: "persistentvolumeclaim",
    group: "",
    namespaced: true,
    shortNames: ["pvc"],
  },
  {
    kind: "StorageClass",
    plural: "storageclasses",
    singular: "storageclass",
    group: "storage.k8s.io",
    namespaced: false,
    shortNames: ["sc"],
  },
  {
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    group: "",
    namespaced: true,
    shortNames: ["po"],
  },
  {
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    group: "apps",
    namespaced: true,
    shortNames: ["deploy"],
    subresources: ["scale"],
  },
  {
    kind: "StatefulSet",
    plural: "statefulsets",
    singular: "statefulset",
    group: "apps",
    namespaced: true,
    shortNames: ["sts"],
    subresources: ["scale"],
  },
];

const isWorkload = (kind: string): kind is "Deployment" | "StatefulSet" =>
  kind === "Deployment" || kind === "StatefulSet";

const apiVersionOf = (r: Resource): string => (r.group ? `${r.group}/v1` : "v1");
const resourceOf = (kind: FakeKind): Resource => RESOURCES.find((r) => r.kind === kind) as Resource;
/** `persistentvolumeclaims` or `deployments.apps`, as the apiserver names resources in messages. */
const qualifiedResource = (r: Resource): string => (r.group ? `${r.plural}.${r.group}` : r.plural);

function resourceList(group: string): JsonMap {
  // Only what this fake serves: no watch, no deletecollection.
  const verbs = ["create", "delete", "get", "list", "patch", "update"];
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/v1` : "v1",
    resources: RESOURCES.filter((r) => r.group === group).flatMap((r) => [
      {
        name: r.plural,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs,
        shortNames: r.shortNames,
      },
      ...(r.subresources ?? []).map((sub) => ({
        name: `${r.plural}/${sub}`,
        singularName: "",
        namespaced: r.namespaced,
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: ["get", "patch", "update"],
      })),
    ]),
  };
}

const apiGroup = (name: string) => ({
  name,
  versions: [{ groupVersion: `${name}/v1`, version: "v1" }],
  preferredVersion: { groupVersion: `${name}/v1`, version: "v1" },
});
const API_GROUPS = ["apps", "storage.k8s.io"].map(apiGroup);

interface Target {
  resource: Resource;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** Maps an API path to the resource it addresses; undefined for anything the server does not serve. */
function parseTarget(path: string): Target | undefined {
  let segs: string[];
  try {
    segs = path.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  let group: string;
  let rest: string[];
  if (segs[0] === "api" && segs[1] === "v1") {
    group = "";
    rest = segs.slice(2);
  } else if (segs[0] === "apis" && segs[2] === "v1" && segs[1]) {
    group = segs[1];
    rest = segs.slice(3);
  } else {
    return undefined;
  }
  const find = (plural: string | undefined) =>
    RESOURCES.find((r) => r.group === group && r.plural === plural);
  const sub = (resource: Resource, name: string | undefined, subresource: string | undefined) =>
    subresource === undefined || (name !== undefined && resource.subresources?.includes(subresource));
  if (rest[0] === "namespaces" && rest.length >= 3) {
    const resource = find(rest[2]);
    if (!resource?.namespaced || rest.length > 5 || !sub(resource, rest[3], rest[4])) return undefined;
    return {
      resource,
      namespace: rest[1],
      ...(rest[3] ? { name: rest[3] } : {}),
      ...(rest[4] ? { subresource: rest[4] } : {}),
    };
  }
  const resource = find(rest[0]);
  if (!resource || rest.length > 3 || !sub(resource, rest[1], rest[2])) return undefined;
  // A namespaced resource has a cluster-wide path for listing only.
  if (resource.namespaced && rest[1]) return undefined;
  return { resource, ...(rest[1] ? { name: rest[1] } : {}), ...(rest[2] ? { subresource: rest[2] } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Status errors

class StatusError extends Error {
  readonly reply: FakeReply;
  constructor(code: number, reason: string, message: string, details?: JsonMap) {
    super(message);
    this.reply = kubeStatus(code, reason, message, details);
  }
}

/** A Status reply as the apiserver sends it; also handy as a fault body in tests. */
export function kubeStatus(code: number, reason: string, message: string, details?: JsonMap): FakeReply {
  return json(code, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  });
}

function resourceDetails(r: Resource, name: string): JsonMap {
  return { name, ...(r.group ? { group: r.group } : {}), kind: r.plural };
}

const notFound = (r: Resource, name: string) =>
  new StatusError(404, "NotFound", `${qualifiedResource(r)} "${name}" not found`, resourceDetails(r, name));
const alreadyExists = (r: Resource, name: string) =>
  new StatusError(
    409,
    "AlreadyExists",
    `${qualifiedResource(r)} "${name}" already exists`,
    resourceDetails(r, name),
  );
const staleVersion = (r: Resource, name: string) =>
  new StatusError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    resourceDetails(r, name),
  );
const badRequest = (message: string) => new StatusError(400, "BadRequest", message);
const methodNotAllowed = () =>
  new StatusError(
    405,
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
    {},
  );
const pathNotFound = () =>
  new StatusError(404, "NotFound", "the server could not find the requested resource", {});

type FieldErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueForbidden"
  | "FieldValueNotSupported";

interface FieldError {
  type: FieldErrorType;
  field: string;
  detail?: string;
  value?: unknown;
}

function fieldErrorBody(e: FieldError): string {
  const detail = e.detail ? `: ${e.detail}` : "";
  switch (e.type) {
    case "FieldValueRequired":
      return `Required value${detail}`;
    case "FieldValueForbidden":
      return `Forbidden${detail}`;
    case "FieldValueInvalid":
      return `Invalid value: ${JSON.stringify(e.value)}${detail}`;
    case "FieldValueNotSupported":
      return `Unsupported value: ${JSON.stringify(e.value)}${detail}`;
  }
}

/** 422 Invalid, worded like apimachinery's errors.NewInvalid. */
function invalid(group: string, kind: string, name: string, errors: FieldError[]): StatusError {
  const parts = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const aggregate = parts.length === 1 ? parts[0] : `[${parts.join(", ")}]`;
  return new StatusError(
    422,
    "Invalid",
    `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${aggregate}`,
    {
      name,
      ...(group ? { group } : {}),
      kind,
      causes: errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
    },
  );
}

const optionsInvalid = (kind: string, errors: FieldError[]) => invalid("meta.k8s.io", kind, "", errors);

// ---------------------------------------------------------------------------------------------
// JSON helpers

const isMap = (v: unknown): v is JsonMap => typeof v === "object" && v !== null && !Array.isArray(v);
const asMap = (v: unknown): JsonMap => (isMap(v) ? v : {});
const asString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const clone = <T>(v: T): T => structuredClone(v);

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

function getPath(obj: unknown, path: readonly string[]): unknown {
  let node = obj;
  for (const seg of path) {
    if (!isMap(node)) return undefined;
    node = node[seg];
  }
  return node;
}

/** Removes a field and the maps it leaves empty below the top-level sections (spec, metadata). */
function deletePath(obj: JsonMap, path: readonly string[]): void {
  const parents: JsonMap[] = [];
  let node: unknown = obj;
  for (const seg of path.slice(0, -1)) {
    if (!isMap(node)) return;
    parents.push(node);
    node = node[seg];
  }
  if (!isMap(node)) return;
  delete node[path[path.length - 1] as string];
  for (let depth = path.length - 2; depth >= 1; depth--) {
    const child = getPath(obj, path.slice(0, depth + 1));
    if (isMap(child) && Object.keys(child).length === 0)
      delete (parents[depth] as JsonMap)[path[depth] as string];
    else break;
  }
}

/** Maps merge recursively; lists and scalars are replaced (server-side apply with atomic lists). */
function deepMerge(base: JsonMap, patch: JsonMap): JsonMap {
  for (const [k, v] of Object.entries(patch)) {
    const current = base[k];
    base[k] = isMap(v) && isMap(current) ? deepMerge(current, v) : clone(v);
  }
  return base;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: JsonMap, patch: JsonMap): JsonMap {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (isMap(v)) target[k] = mergePatch(isMap(target[k]) ? (target[k] as JsonMap) : {}, v);
    else target[k] = clone(v);
  }
  return target;
}

/** Apply configurations may say `field: null`; the server treats that as not setting the field. */
function dropNulls(obj: JsonMap): JsonMap {
  for (const [k, v] of Object.entries(obj)) {
    if (v === null) delete obj[k];
    else if (isMap(v)) dropNulls(v);
  }
  return obj;
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

// ---------------------------------------------------------------------------------------------
// Field ownership (metadata.managedFields, FieldsV1)

/** A field path encoded as a string key, e.g. `["spec","capacity","storage"]`. */
type PathKey = string;
type Scope = "main" | "status";

interface Owner {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  subresource?: string;
  fields: Set<PathKey>;
}

const OWNED_METADATA = ["labels", "annotations", "finalizers", "ownerReferences"];

function leafPaths(value: unknown, prefix: string[], out: Map<PathKey, unknown>): void {
  if (isMap(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) if (v !== undefined) leafPaths(v, [...prefix, k], out);
  } else if (prefix.length > 0) {
    out.set(JSON.stringify(prefix), value);
  }
}

/** The fields a manager can own, with their values: everything but identity and server fields. */
function ownableFields(obj: JsonMap, scope: Scope): Map<PathKey, unknown> {
  const out = new Map<PathKey, unknown>();
  if (scope === "status") {
    leafPaths(obj.status, ["status"], out);
    return out;
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k === "apiVersion" || k === "kind" || k === "status") continue;
    if (k === "metadata") {
      for (const m of OWNED_METADATA)
        if (asMap(v)[m] !== undefined) leafPaths(asMap(v)[m], ["metadata", m], out);
    } else {
      leafPaths(v, [k], out);
    }
  }
  return out;
}

function encodeFields(fields: Set<PathKey>): JsonMap {
  const root: JsonMap = {};
  for (const key of [...fields].sort()) {
    let node = root;
    for (const seg of JSON.parse(key) as string[]) {
      const next = asMap(node[`f:${seg}`]);
      node[`f:${seg}`] = next;
      node = next;
    }
  }
  return root;
}

function decodeFields(node: unknown, prefix: string[] = [], out = new Set<PathKey>()): Set<PathKey> {
  for (const [k, v] of Object.entries(asMap(node))) {
    if (k === ".") continue;
    // `k:`/`v:`/`i:` entries address list items; with atomic lists the list itself is the field.
    if (!k.startsWith("f:")) {
      out.add(JSON.stringify(prefix));
      continue;
    }
    const path = [...prefix, k.slice(2)];
    if (Object.keys(asMap(v)).some((c) => c !== ".")) decodeFields(v, path, out);
    else out.add(JSON.stringify(path));
  }
  return out;
}

function readOwners(obj: FakeObject): Owner[] {
  return (obj.metadata.managedFields ?? []).map((e) => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: e.apiVersion,
    time: e.time,
    ...(e.subresource ? { subresource: e.subresource } : {}),
    fields: decodeFields(e.fieldsV1),
  }));
}

function writeOwners(owners: Owner[]): ManagedFieldsEntry[] {
  return owners
    .filter((o) => o.fields.size > 0)
    .map((o) => ({
      manager: o.manager,
      operation: o.operation,
      apiVersion: o.apiVersion,
      time: o.time,
      fieldsType: "FieldsV1" as const,
      fieldsV1: encodeFields(o.fields),
      ...(o.subresource ? { subresource: o.subresource } : {}),
    }));
}

const scopeOf = (o: Owner): Scope => (o.subresource === "status" ? "status" : "main");
const sameSet = (a: Set<PathKey>, b: Set<PathKey>) => a.size === b.size && [...a].every((k) => b.has(k));

/** Ownership after an Update-style write: the writer owns what it changed, nobody owns what is gone. */
function ownersAfterUpdate(
  owners: Owner[],
  before: JsonMap,
  after: JsonMap,
  manager: string,
  apiVersion: string,
  scope: Scope,
): Owner[] {
  const oldFields = ownableFields(before, scope);
  const newFields = ownableFields(after, scope);
  const changed = new Set([...newFields].filter(([k, v]) => !deepEqual(oldFields.get(k), v)).map(([k]) => k));
  let mine = owners.find((o) => o.manager === manager && o.operation === "Update" && scopeOf(o) === scope);
  if (!mine && changed.size > 0) {
    mine = {
      manager,
      operation: "Update",
      apiVersion,
      time: now(),
      ...(scope === "status" ? { subresource: "status" } : {}),
      fields: new Set(),
    };
    owners.push(mine);
  }
  for (const o of owners) {
    if (scopeOf(o) !== scope) continue;
    const previous = new Set(o.fields);
    for (const k of o.fields) if (!newFields.has(k) || (o !== mine && changed.has(k))) o.fields.delete(k);
    if (o === mine) for (const k of changed) o.fields.add(k);
    if (!sameSet(previous, o.fields)) o.time = now();
  }
  return owners;
}

function printManager(o: Owner): string {
  return o.operation === "Update" ? `"${o.manager}" using ${o.apiVersion}` : `"${o.manager}"`;
}

function applyConflict(conflicts: { owner: Owner; path: PathKey }[]): StatusError {
  const dotted = (k: PathKey) => `.${(JSON.parse(k) as string[]).join(".")}`;
  let message: string;
  const first = conflicts[0] as { owner: Owner; path: PathKey };
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(first.owner)}: ${dotted(first.path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) {
      const m = printManager(c.owner);
      byManager.set(m, [...(byManager.get(m) ?? []), dotted(c.path)]);
    }
    const lines = [...byManager.keys()]
      .sort()
      .flatMap((m) => [`conflicts with ${m}:`, ...(byManager.get(m) ?? []).map((p) => `- ${p}`)]);
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
  }
  return new StatusError(409, "Conflict", message, {
    causes: conflicts.map((c) => ({
      reason: "FieldManagerConflict",
      message: `conflict with ${printManager(c.owner)}`,
      field: dotted(c.path),
    })),
  });
}

// ---------------------------------------------------------------------------------------------
// Validation, defaults and quantities

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUANTITY_FORMAT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/** apimachinery's RegexError, double space and all. */
function regexError(msg: string, format: string, ...examples: string[]): string {
  let out = `${msg} (e.g. `;
  examples.forEach((e, i) => {
    if (i > 0) out += " or ";
    out += `'${e}', `;
  });
  return `${out}regex used for validation is '${format}')`;
}

const full = (pattern: string) => new RegExp(`^${pattern}$`);

function dnsLabelErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push("must be no more than 63 characters");
  if (!full(DNS1123_LABEL).test(value)) {
    errs.push(
      full(DNS1123_SUBDOMAIN).test(value)
        ? "must not contain dots"
        : regexError(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL,
            "my-name",
            "123-abc",
          ),
    );
  }
  return errs;
}

function dnsSubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push("must be no more than 253 characters");
  if (!full(DNS1123_SUBDOMAIN).test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN,
        "example.com",
      ),
    );
  }
  return errs;
}

function labelErrors(labels: unknown): FieldError[] {
  const errs: FieldError[] = [];
  for (const [key, value] of Object.entries(asMap(labels))) {
    const slash = key.lastIndexOf("/");
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    const keyProblems = [
      ...(slash >= 0 ? dnsSubdomainErrors(key.slice(0, slash)).map((m) => `prefix part ${m}`) : []),
      ...(name.length > 63 ? ["name part must be no more than 63 characters"] : []),
      ...(full(QUALIFIED_NAME).test(name)
        ? []
        : [
            regexError(
              "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
              QUALIFIED_NAME,
              "MyName",
              "my.name",
              "123-abc",
            ),
          ]),
    ];
    for (const detail of keyProblems)
      errs.push({ type: "FieldValueInvalid", field: "metadata.labels", value: key, detail });
    const v = String(value);
    if (v.length > 63) {
      errs.push({
        type: "FieldValueInvalid",
        field: "metadata.labels",
        value: v,
        detail: "must be no more than 63 characters",
      });
    }
    if (!full(LABEL_VALUE).test(v)) {
      errs.push({
        type: "FieldValueInvalid",
        field: "metadata.labels",
        value: v,
        detail: regexError(
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
          LABEL_VALUE,
          "MyValue",
          "my_value",
          "12345",
        ),
      });
    }
  }
  return errs;
}

const SUFFIXES: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes in a resource quantity such as `10Gi`, or undefined when it does not parse. */
export function parseQuantity(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+|[a-zA-Z]*)$/.exec(String(value));
  if (!m) return undefined;
  const number = Number(m[1]);
  const suffix = m[2] ?? "";
  if (/^[eE]/.test(suffix)) return number * 10 ** Number(suffix.slice(1));
  const factor = SUFFIXES[suffix];
  return factor === undefined ? undefined : number * factor;
}

/** Bad quantities fail decoding in the real server, before validation: 400, not 422. */
function checkQuantities(r: Resource, obj: FakeObject): void {
  const spec = asMap(obj.spec);
  const quantities = [
    ...Object.values(asMap(spec.capacity)),
    ...Object.values(asMap(asMap(spec.resources).requests)),
    ...Object.values(asMap(asMap(spec.resources).limits)),
  ];
  if (quantities.some((q) => parseQuantity(q) === undefined)) {
    throw badRequest(
      `${r.kind} in version "v1" cannot be handled as a ${r.kind}: quantities must match the regular expression '${QUANTITY_FORMAT}'`,
    );
  }
}

const VOLUME_SOURCES = [
  "awsElasticBlockStore",
  "azureDisk",
  "azureFile",
  "cephfs",
  "cinder",
  "csi",
  "fc",
  "flexVolume",
  "flocker",
  "gcePersistentDisk",
  "glusterfs",
  "hostPath",
  "iscsi",
  "local",
  "nfs",
  "photonPersistentDisk",
  "portworxVolume",
  "quobyte",
  "rbd",
  "scaleIO",
  "storageos",
  "vsphereVolume",
];
const ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
const RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"];
const supported = (values: string[]) => `supported values: ${values.map((v) => `"${v}"`).join(", ")}`;

function accessModeErrors(field: string, modes: unknown, requiredDetail?: string): FieldError[] {
  if (!Array.isArray(modes) || modes.length === 0) {
    return [{ type: "FieldValueRequired", field, ...(requiredDetail ? { detail: requiredDetail } : {}) }];
  }
  return modes
    .filter((m) => !ACCESS_MODES.includes(String(m)))
    .map((m) => ({
      type: "FieldValueNotSupported" as const,
      field,
      value: m,
      detail: supported(ACCESS_MODES),
    }));
}

function validatePersistentVolume(pv: FakeObject): FieldError[] {
  const spec = asMap(pv.spec);
  const errs: FieldError[] = [];
  if (Object.keys(asMap(spec.capacity)).length === 0)
    errs.push({ type: "FieldValueRequired", field: "spec.capacity" });
  errs.push(...accessModeErrors("spec.accessModes", spec.accessModes));
  const policy = spec.persistentVolumeReclaimPolicy;
  if (policy !== undefined && !RECLAIM_POLICIES.includes(String(policy))) {
    errs.push({
      type: "FieldValueNotSupported",
      field: "spec.persistentVolumeReclaimPolicy",
      value: policy,
      detail: supported(RECLAIM_POLICIES),
    });
  }
  const sources = VOLUME_SOURCES.filter((s) => spec[s] !== undefined);
  if (sources.length === 0)
    errs.push({ type: "FieldValueRequired", field: "spec", detail: "must specify a volume type" });
  for (const extra of sources.slice(1)) {
    errs.push({
      type: "FieldValueForbidden",
      field: `spec.${extra}`,
      detail: "may not specify more than 1 volume type",
    });
  }
  if (spec.nfs !== undefined) {
    const nfs = asMap(spec.nfs);
    if (!nfs.server) errs.push({ type: "FieldValueRequired", field: "spec.nfs.server" });
    if (!nfs.path) errs.push({ type: "FieldValueRequired", field: "spec.nfs.path" });
    else if (!String(nfs.path).startsWith("/")) {
      errs.push({
        type: "FieldValueInvalid",
        field: "spec.nfs.path",
        value: nfs.path,
        detail: "must be an absolute path",
      });
    }
  }
  if (spec.csi !== undefined) {
    const csi = asMap(spec.csi);
    if (!csi.driver) errs.push({ type: "FieldValueRequired", field: "spec.csi.driver" });
    if (!csi.volumeHandle) errs.push({ type: "FieldValueRequired", field: "spec.csi.volumeHandle" });
  }
  return errs;
}

function validatePersistentVolumeUpdate(old: FakeObject, pv: FakeObject): FieldError[] {
  const source = (o: FakeObject) => VOLUME_SOURCES.map((s) => asMap(o.spec)[s]);
  const errs: FieldError[] = [];
  if (!deepEqual(source(old), source(pv))) {
    errs.push({
      type: "FieldValueForbidden",
      field: "spec.persistentvolumesource",
      detail: "spec.persistentvolumesource is immutable after creation",
    });
  }
  if (asMap(old.spec).volumeMode !== asMap(pv.spec).volumeMode) {
    errs.push({
      type: "FieldValueInvalid",
      field: "volumeMode",
      value: asMap(pv.spec).volumeMode,
      detail: "field is immutable",
    });
  }
  return errs;
}

function validateClaim(pvc: FakeObject): FieldError[] {
  const spec = asMap(pvc.spec);
  const errs = accessModeErrors("spec.accessModes", spec.accessModes, "at least 1 access mode is required");
  if (asMap(asMap(spec.resources).requests).storage === undefined) {
    errs.push({ type: "FieldValueRequired", field: "spec.resources[storage]" });
  }
  return errs;
}

function validateClaimUpdate(old: FakeObject, pvc: FakeObject): FieldError[] {
  const oldSpec = clone(asMap(old.spec));
  const newSpec = clone(asMap(pvc.spec));
  // Binding sets volumeName once; that is the only change allowed without a diff.
  if (!oldSpec.volumeName && newSpec.volumeName) oldSpec.volumeName = newSpec.volumeName;
  const bound = asMap(old.status).phase === "Bound";
  const oldStorage = asMap(asMap(oldSpec.resources).requests).storage;
  const newStorage = asMap(asMap(newSpec.resources).requests).storage;
  const errs: FieldError[] = [];
  if (bound && !deepEqual(oldStorage, newStorage)) {
    // A bound claim may grow (the resize admission then decides); it may never shrink.
    const [before, after] = [parseQuantity(oldStorage), parseQuantity(newStorage)];
    if (before !== undefined && after !== undefined && after < before)
      errs.push({
        type: "FieldValueForbidden",
        field: "spec.resources.requests.storage",
        detail: "field can not be less than previous value",
      });
    asMap(asMap(newSpec.resources).requests).storage = oldStorage;
  }
  if (!deepEqual(oldSpec, newSpec)) {
    errs.push({
      type: "FieldValueForbidden",
      field: "spec",
      detail:
        "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
    });
  }
  return errs;
}

function validatePod(pod: FakeObject): FieldError[] {
  const containers = asMap(pod.spec).containers;
  return Array.isArray(containers) && containers.length > 0
    ? []
    : [{ type: "FieldValueRequired", field: "spec.containers" }];
}

/** Deployments and StatefulSets: a selector that matches the template, replicas not negative. */
function validateWorkload(d: FakeObject, old?: FakeObject): FieldError[] {
  const spec = asMap(d.spec);
  const errs: FieldError[] = [];
  const selector = asMap(spec.selector);
  if (spec.selector === undefined) errs.push({ type: "FieldValueRequired", field: "spec.selector" });
  const templateLabels = asMap(asMap(asMap(spec.template).metadata).labels);
  const wanted = asMap(selector.matchLabels);
  if (spec.selector !== undefined && Object.entries(wanted).some(([k, v]) => templateLabels[k] !== v)) {
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.template.metadata.labels",
      value: templateLabels,
      detail: "`selector` does not match template `labels`",
    });
  }
  if (typeof spec.replicas === "number" && spec.replicas < 0) {
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.replicas",
      value: spec.replicas,
      detail: "must be greater than or equal to 0",
    });
  }
  if (old && !deepEqual(asMap(old.spec).selector, spec.selector)) {
    errs.push({
      type: "FieldValueInvalid",
      field: "spec.selector",
      value: spec.selector,
      detail: "field is immutable",
    });
  }
  return errs;
}

function validate(r: Resource, obj: FakeObject, old?: FakeObject): void {
  const name = obj.metadata.name;
  const nameErrors = r.kind === "Namespace" ? dnsLabelErrors(name) : dnsSubdomainErrors(name);
  const errs: FieldError[] = nameErrors.map((detail) => ({
    type: "FieldValueInvalid",
    field: "metadata.name",
    value: name,
    detail,
  }));
  errs.push(...labelErrors(obj.metadata.labels));
  if (r.kind === "PersistentVolume") {
    errs.push(...validatePersistentVolume(obj), ...(old ? validatePersistentVolumeUpdate(old, obj) : []));
  } else if (r.kind === "PersistentVolumeClaim") {
    errs.push(...validateClaim(obj), ...(old ? validateClaimUpdate(old, obj) : []));
  } else if (isWorkload(r.kind)) {
    errs.push(...validateWorkload(obj, old));
  } else if (r.kind === "Pod") {
    errs.push(...validatePod(obj));
  }
  if (errs.length > 0) throw invalid(r.group, r.kind, name, errs);
}

/** Defaults the API server fills in (SetDefaults_* and the registry strategies). */
function applyDefaults(r: Resource, obj: FakeObject): void {
  const spec = asMap(obj.spec);
  if (r.kind === "Namespace") {
    obj.metadata.labels = { ...obj.metadata.labels, "kubernetes.io/metadata.name": obj.metadata.name };
    spec.finalizers ??= ["kubernetes"];
  } else if (r.kind === "PersistentVolume") {
    spec.persistentVolumeReclaimPolicy ??= "Retain";
    spec.volumeMode ??= "Filesystem";
  } else if (r.kind === "PersistentVolumeClaim") {
    spec.volumeMode ??= "Filesystem";
  } else if (r.kind === "Pod") {
    spec.restartPolicy ??= "Always";
    spec.dnsPolicy ??= "ClusterFirst";
    spec.terminationGracePeriodSeconds ??= 30;
  } else if (r.kind === "Deployment") {
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } };
  } else if (r.kind === "StatefulSet") {
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.podManagementPolicy ??= "OrderedReady";
    spec.updateStrategy ??= { type: "RollingUpdate", rollingUpdate: { partition: 0 } };
  }
  // StorageClasses have no spec: their fields sit at the top level.
  if (r.kind !== "StorageClass") obj.spec = spec;
}

/** The protection finalizers the StorageObjectInUseProtection admission adds on create. */
function protectionFinalizer(r: Resource): string | undefined {
  if (r.kind === "PersistentVolumeClaim") return PVC_PROTECTION;
  if (r.kind === "PersistentVolume") return PV_PROTECTION;
  return undefined;
}

function initialStatus(r: Resource): JsonMap | undefined {
  switch (r.kind) {
    case "Namespace":
      return { phase: "Active" };
    case "PersistentVolume":
      return { phase: "Pending", lastPhaseTransitionTime: now() };
    case "PersistentVolumeClaim":
      return { phase: "Pending" };
    case "Pod":
      // No scheduler or kubelet: a pod runs as soon as it exists.
      return {
        phase: "Running",
        conditions: [{ type: "Ready", status: "True", lastTransitionTime: now() }],
        startTime: now(),
      };
    case "Deployment":
    case "StatefulSet":
      return {};
    case "StorageClass":
      return undefined;
  }
}

const SERVER_METADATA = [
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
];

/** Puts metadata keys in the order the apiserver prints them. */
function ordered(obj: FakeObject): FakeObject {
  const order = [
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
  ];
  const meta: JsonMap = {};
  for (const k of order) if (obj.metadata[k] !== undefined) meta[k] = obj.metadata[k];
  for (const [k, v] of Object.entries(obj.metadata)) if (!(k in meta) && v !== undefined) meta[k] = v;
  const { apiVersion, kind, metadata: _, spec, status, ...rest } = obj;
  return {
    apiVersion,
    kind,
    metadata: meta as FakeObjectMeta,
    ...rest,
    ...(spec !== undefined ? { spec } : {}),
    ...(status !== undefined ? { status } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Label and field selectors

type Requirement = (labels: Record<string, string>) => boolean;

function parseLabelSelector(selector: string): Requirement[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  terms.push(current);
  const key = "([A-Za-z0-9./_-]+)";
  return terms
    .map((t) => t.trim())
    .filter((t) => t !== "")
    .map((term): Requirement => {
      const notExists = new RegExp(`^!\\s*${key}$`).exec(term);
      if (notExists) {
        const k = notExists[1] as string;
        return (l) => !(k in l);
      }
      const set = new RegExp(`^${key}\\s+(in|notin)\\s+\\(([^)]*)\\)$`).exec(term);
      if (set) {
        const [, k, op, list] = set as unknown as [string, string, string, string];
        const values = list.split(",").map((v) => v.trim());
        return op === "in"
          ? (l) => l[k] !== undefined && values.includes(l[k] as string)
          : (l) => l[k] === undefined || !values.includes(l[k] as string);
      }
      const equality = new RegExp(`^${key}\\s*(==|=|!=)\\s*([A-Za-z0-9._-]*)$`).exec(term);
      if (equality) {
        const [, k, op, v] = equality as unknown as [string, string, string, string];
        return op === "!=" ? (l) => l[k] !== v : (l) => l[k] === v;
      }
      const exists = new RegExp(`^${key}$`).exec(term);
      if (exists) {
        const k = exists[1] as string;
        return (l) => k in l;
      }
      throw badRequest(`unable to parse requirement: ${JSON.stringify(term)}`);
    });
}

function parseFieldSelector(selector: string): ((o: FakeObject) => boolean)[] {
  return selector
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "")
    .map((term) => {
      const m = /^([a-zA-Z.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
      const field = m?.[1];
      if (!m || (field !== "metadata.name" && field !== "metadata.namespace")) {
        throw badRequest(`field label not supported: ${field ?? term}`);
      }
      const read = (o: FakeObject) =>
        field === "metadata.name" ? o.metadata.name : (o.metadata.namespace ?? "");
      return m[2] === "!=" ? (o: FakeObject) => read(o) !== m[3] : (o: FakeObject) => read(o) === m[3];
    });
}

// ---------------------------------------------------------------------------------------------
// The server

interface WriteContext {
  manager: string;
  dryRun: boolean;
}

export class FakeKube {
  readonly http: FakeHttpServer;
  readonly token: string;
  readonly contextName: string;
  readonly gitVersion: string;
  /** Delay between a write and the PV controller's pass that reacts to it, in milliseconds. */
  bindDelayMs: number;
  private readonly store = new Map<string, FakeObject>();
  private readonly applies = new Map<string, number>();
  private revision = 1000;
  private holdAll = false;
  private readonly heldClaims = new Set<string>();
  private syncTimer: NodeJS.Timeout | undefined;
  /** Delay between a change of replicas and the workload controller's pass, in milliseconds. */
  workloadDelayMs: number;
  private workloadTimer: NodeJS.Timeout | undefined;
  private rbac: ClusterRoleRules | undefined;
  /** The ReplicaSet each Deployment's pods name as their owner (ReplicaSets are not served). */
  private readonly replicaSets = new Map<string, { name: string; uid: string; hash: string }>();
  /** Pods the workload controller made: pod key -> its Deployment's or StatefulSet's key. */
  private readonly podOwners = new Map<string, string>();

  constructor(options: FakeKubeOptions = {}) {
    this.token = options.token ?? `fake-${randomBytes(12).toString("hex")}`;
    this.bindDelayMs = options.bindDelayMs ?? 20;
    this.gitVersion = options.gitVersion ?? "v1.31.2";
    this.contextName = options.contextName ?? "fake";
    this.workloadDelayMs = options.workloadDelayMs ?? 20;
    this.rbac = options.rbac;
    this.http = new FakeHttpServer("kube", (req) => this.handle(req));
    // The namespaces every cluster starts with.
    const ctx = { manager: "kube-apiserver", dryRun: false };
    for (const name of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
      this.createObject(
        resourceOf("Namespace"),
        { apiVersion: "v1", kind: "Namespace", metadata: { name } },
        ctx,
      );
    }
  }

  get url(): string {
    return this.http.url;
  }

  async start(port?: number): Promise<string> {
    return this.http.start(port);
  }

  async close(): Promise<void> {
    clearTimeout(this.syncTimer);
    clearTimeout(this.workloadTimer);
    this.syncTimer = undefined;
    this.workloadTimer = undefined;
    await this.http.close();
  }

  // --- kubeconfig -----------------------------------------------------------------------------

  /** Kubeconfig YAML with one context pointing at this server. */
  kubeconfig(options: KubeconfigOptions = {}): string {
    const name = options.context ?? this.contextName;
    const user = `${name}-user`;
    return stringifyYaml({
      apiVersion: "v1",
      kind: "Config",
      // client-node refuses a plain-http server unless TLS verification is explicitly skipped.
      clusters: [{ name, cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: user, user: { token: options.token ?? this.token } }],
      contexts: [
        {
          name,
          context: { cluster: name, user, ...(options.namespace ? { namespace: options.namespace } : {}) },
        },
      ],
      "current-context": name,
      preferences: {},
    });
  }

  /** Writes the kubeconfig into `dir` (mode 0600, like kubectl) and returns its path. */
  async writeKubeconfig(dir: string, options: KubeconfigOptions = {}): Promise<string> {
    const path = join(dir, `${options.context ?? this.contextName}.kubeconfig`);
    await writeFile(path, this.kubeconfig(options), { mode: 0o600 });
    return path;
  }

  // --- state helpers ----------------------------------------------------------------------------

  /** A copy of the stored object, or undefined. */
  object(kind: FakeKind, name: string, namespace?: string): FakeObject | undefined {
    const found = this.store.get(storeKey(kind, name, namespace));
    return found ? clone(found) : undefined;
  }

  objects(kind: FakeKind): FakeObject[] {
    return [...this.store.values()].filter((o) => o.kind === kind).map((o) => clone(o));
  }

  /** Server-side apply requests (dry runs excluded) that reached the object, whatever their outcome. */
  applyCount(kind: FakeKind, name: string, namespace?: string): number {
    return this.applies.get(storeKey(kind, name, namespace)) ?? 0;
  }

  /** Creates an object as another client would (validated, owned by `manager`); status may be preset. */
  seed(object: FakeObject, options: { manager?: string; status?: JsonMap } = {}): FakeObject {
    const r = RESOURCES.find((x) => x.kind === object.kind && apiVersionOf(x) === object.apiVersion);
    if (!r) throw new Error(`the kube fake does not serve ${object.apiVersion} ${object.kind}`);
    try {
      this.createObject(r, clone(object), { manager: options.manager ?? "kubectl-create", dryRun: false });
    } catch (err) {
      if (err instanceof StatusError) throw new Error(`seed failed: ${err.message}`);
      throw err;
    }
    const key = storeKey(r.kind, object.metadata.name, r.namespaced ? object.metadata.namespace : undefined);
    const stored = this.store.get(key) as FakeObject;
    if (options.status) stored.status = clone(options.status);
    return clone(stored);
  }

  /** Keeps claims Pending: all of them, or one by name (`data`) or namespace/name (`team/data`). */
  holdBinding(claim?: string): void {
    if (claim === undefined) this.holdAll = true;
    else this.heldClaims.add(claim);
  }

  releaseBinding(claim?: string): void {
    if (claim === undefined) {
      this.holdAll = false;
      this.heldClaims.clear();
    } else {
      this.heldClaims.delete(claim);
    }
    this.scheduleSync();
  }

  /** Runs the controllers now instead of waiting for the next scheduled pass. */
  reconcile(): void {
    clearTimeout(this.syncTimer);
    clearTimeout(this.workloadTimer);
    this.syncTimer = undefined;
    this.workloadTimer = undefined;
    this.syncWorkloads();
    this.sync();
  }

  /** Authorises every request with these ClusterRole rules from now on; undefined turns RBAC off. */
  setClusterRole(rbac: ClusterRoleRules | undefined): void {
    this.rbac = rbac;
  }

  /** Pods of a Deployment or StatefulSet made by the workload controller, oldest first. */
  podsOf(kind: "Deployment" | "StatefulSet", name: string, namespace: string): FakeObject[] {
    const owner = storeKey(kind, name, namespace);
    return [...this.podOwners]
      .filter(([, o]) => o === owner)
      .map(([podKey]) => this.store.get(podKey))
      .filter((p): p is FakeObject => p !== undefined)
      .map((p) => clone(p));
  }

  // --- request log and faults -------------------------------------------------------------------

  get requests(): RecordedRequest[] {
    return this.http.requests;
  }

  calls(method: string, path: string | RegExp): RecordedRequest[] {
    return this.http.calls(method, path);
  }

  /** Requests that addressed one kind, optionally one object of it (collection requests included). */
  requestsFor(kind: FakeKind, name?: string, namespace?: string): RecordedRequest[] {
    return this.http.requests.filter((req) => {
      const t = parseTarget(req.path);
      if (!t || t.resource.kind !== kind) return false;
      if (namespace !== undefined && t.namespace !== namespace) return false;
      return name === undefined || t.name === name || (t.name === undefined && bodyName(req) === name);
    });
  }

  clearRequests(): void {
    this.http.requests.length = 0;
  }

  injectFault(rule: FaultRule): void {
    this.http.injectFault(rule);
  }

  clearFaults(): void {
    this.http.clearFaults();
  }

  // --- protocol ---------------------------------------------------------------------------------

  private handle(req: RecordedRequest): FakeReply {
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      return kubeStatus(401, "Unauthorized", "Unauthorized");
    }
    try {
      this.authorize(req);
      return this.dispatch(req);
    } catch (err) {
      if (err instanceof StatusError) return err.reply;
      throw err;
    }
  }

  /** RBAC, when on: discovery is open to every authenticated user (system:discovery), the rest per the rules. */
  private authorize(req: RecordedRequest): void {
    if (!this.rbac) return;
    const target = parseTarget(req.path.replace(/\/+$/, "") || "/");
    if (!target) return; // discovery, or a path that answers 404 anyway
    const named = target.name !== undefined;
    const verb =
      req.method === "GET"
        ? named
          ? "get"
          : req.query.get("watch") === "true"
            ? "watch"
            : "list"
        : req.method === "POST"
          ? "create"
          : req.method === "PUT"
            ? "update"
            : req.method === "PATCH"
              ? "patch"
              : req.method === "DELETE"
                ? named
                  ? "delete"
                  : "deletecollection"
                : req.method.toLowerCase();
    this.check({
      verb,
      group: target.resource.group,
      resource: target.resource.plural,
      ...(target.subresource ? { subresource: target.subresource } : {}),
      ...(target.name !== undefined ? { name: target.name } : {}),
      ...(target.namespace !== undefined ? { namespace: target.namespace } : {}),
    });
  }

  private check(a: RequestAttributes): void {
    if (!this.rbac || allows(this.rbac.rules, a)) return;
    throw new StatusError(403, "Forbidden", forbiddenMessage(a, this.rbac.user ?? DEFAULT_RBAC_USER), {
      ...(a.name !== undefined ? { name: a.name } : {}),
      ...(a.group ? { group: a.group } : {}),
      kind: a.resource,
    });
  }

  private dispatch(req: RecordedRequest): FakeReply {
    const path = req.path.replace(/\/+$/, "") || "/";
    const discovery = this.discovery(path);
    if (discovery) {
      if (req.method !== "GET") throw methodNotAllowed();
      return json(200, discovery);
    }
    const target = parseTarget(path);
    if (!target) throw pathNotFound();
    const { resource: r, namespace, name } = target;
    if (name !== undefined && target.subresource === "scale") return this.scale(r, name, namespace, req);
    if (name === undefined) {
      if (req.method === "GET") return this.list(r, namespace, req.query);
      if (req.method === "POST" && (namespace !== undefined || !r.namespaced))
        return this.create(r, namespace, req);
      throw methodNotAllowed();
    }
    switch (req.method) {
      case "GET":
        return json(200, this.mustGet(r, name, namespace));
      case "PUT":
        return this.replace(r, name, namespace, req);
      case "PATCH":
        return this.patch(r, name, namespace, req);
      case "DELETE":
        return this.remove(r, name, namespace, req);
      default:
        throw methodNotAllowed();
    }
  }

  private discovery(path: string): JsonMap | undefined {
    const [major, minor] = this.gitVersion.replace(/^v/, "").split(".");
    switch (path) {
      case "/version":
        return {
          major,
          minor,
          gitVersion: this.gitVersion,
          gitCommit: "0000000000000000000000000000000000000000",
          gitTreeState: "clean",
          buildDate: "2024-10-22T20:28:14Z",
          goVersion: "go1.22.8",
          compiler: "gc",
          platform: "linux/amd64",
        };
      case "/api":
        return {
          kind: "APIVersions",
          versions: ["v1"],
          serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: new URL(this.url).host }],
        };
      case "/api/v1":
        return resourceList("");
      case "/apis":
        return { kind: "APIGroupList", apiVersion: "v1", groups: API_GROUPS };
      default: {
        const group = API_GROUPS.find((g) => path === `/apis/${g.name}` || path === `/apis/${g.name}/v1`);
        if (!group) return undefined;
        return path.endsWith("/v1")
          ? resourceList(group.name)
          : { kind: "APIGroup", apiVersion: "v1", ...group };
      }
    }
  }

  private list(r: Resource, namespace: string | undefined, query: URLSearchParams): FakeReply {
    const labels = parseLabelSelector(query.get("labelSelector") ?? "");
    const fields = parseFieldSelector(query.get("fieldSelector") ?? "");
    const all = [...this.store.entries()]
      .filter(([, o]) => o.kind === r.kind && (namespace === undefined || o.metadata.namespace === namespace))
      .filter(([, o]) => labels.every((req) => req(o.metadata.labels ?? {})) && fields.every((f) => f(o)))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let start = 0;
    const token = query.get("continue");
    if (token) {
      const after = decodeContinue(token);
      start = all.findIndex(([k]) => k > after);
      if (start < 0) start = all.length;
    }
    const limit = Number(query.get("limit") ?? "0");
    const end = limit > 0 ? Math.min(start + limit, all.length) : all.length;
    const page = all.slice(start, end);
    const more = end < all.length;
    const lastKey = page[page.length - 1]?.[0];
    return json(200, {
      kind: `${r.kind}List`,
      apiVersion: apiVersionOf(r),
      metadata: {
        resourceVersion: String(this.revision),
        ...(more && lastKey
          ? { continue: encodeContinue(lastKey), remainingItemCount: all.length - end }
          : {}),
      },
      // Like the real server, list items carry no kind/apiVersion of their own.
      items: page.map(([, o]) => {
        const { apiVersion: _a, kind: _k, ...item } = clone(o);
        return item;
      }),
    });
  }

  private create(r: Resource, namespace: string | undefined, req: RecordedRequest): FakeReply {
    const obj = this.decodeBody(r, parseJsonBody(req), namespace);
    if (!obj.metadata.name && typeof obj.metadata.generateName === "string") {
      obj.metadata.name = `${obj.metadata.generateName}${randomSuffix()}`;
    }
    if (!obj.metadata.name) {
      throw invalid(r.group, r.kind, "", [
        { type: "FieldValueRequired", field: "metadata.name", detail: "name or generateName is required" },
      ]);
    }
    return json(201, this.createObject(r, obj, this.writeContext(req, "CreateOptions")));
  }

  private replace(r: Resource, name: string, namespace: string | undefined, req: RecordedRequest): FakeReply {
    const obj = this.decodeBody(r, parseJsonBody(req), namespace, name);
    const ctx = this.writeContext(req, "UpdateOptions");
    const old = this.mustGet(r, name, namespace);
    const precondition = obj.metadata.resourceVersion;
    if (precondition && precondition !== old.metadata.resourceVersion) throw staleVersion(r, name);
    const next = withServerFields(old, obj);
    const owners = ownersAfterUpdate(readOwners(old), old, next, ctx.manager, apiVersionOf(r), "main");
    return json(200, this.commitUpdate(r, old, next, owners, ctx.dryRun));
  }

  private patch(r: Resource, name: string, namespace: string | undefined, req: RecordedRequest): FakeReply {
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (type === "application/apply-patch+yaml") return this.apply(r, name, namespace, req);
    if (type !== "application/merge-patch+json") {
      throw new StatusError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/apply-patch+yaml`,
      );
    }
    if (req.query.has("force")) {
      throw optionsInvalid("PatchOptions", [
        { type: "FieldValueForbidden", field: "force", detail: "may not be specified for non-apply patch" },
      ]);
    }
    const ctx = this.writeContext(req, "PatchOptions");
    const patch = parseJsonBody(req);
    const old = this.mustGet(r, name, namespace);
    const precondition = asString(asMap(patch.metadata).resourceVersion);
    if (precondition && precondition !== old.metadata.resourceVersion) throw staleVersion(r, name);
    const patched = mergePatch(clone(old) as JsonMap, patch) as FakeObject;
    if (patched.metadata?.name !== name || patched.metadata.namespace !== old.metadata.namespace) {
      throw badRequest("metadata.name and metadata.namespace cannot be changed by a patch");
    }
    checkQuantities(r, patched);
    const next = withServerFields(old, patched);
    const owners = ownersAfterUpdate(readOwners(old), old, next, ctx.manager, apiVersionOf(r), "main");
    return json(200, this.commitUpdate(r, old, next, owners, ctx.dryRun));
  }

  /** Server-side apply: create when absent, otherwise merge under field ownership rules. */
  private apply(r: Resource, name: string, namespace: string | undefined, req: RecordedRequest): FakeReply {
    const manager = req.query.get("fieldManager") ?? "";
    if (!manager) {
      throw optionsInvalid("PatchOptions", [
        { type: "FieldValueRequired", field: "fieldManager", detail: "is required for apply patch" },
      ]);
    }
    const dryRun = this.dryRunOf(req, "PatchOptions");
    if (!dryRun)
      this.applies.set(storeKey(r.kind, name, namespace), this.applyCount(r.kind, name, namespace) + 1);
    let parsed: unknown;
    try {
      // Clients send JSON (valid YAML) almost always; only real YAML needs the slow parser.
      parsed = req.body.trimStart().startsWith("{") ? JSON.parse(req.body) : parseYaml(req.body);
    } catch (err) {
      throw badRequest(`error decoding YAML: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!isMap(parsed)) throw badRequest("the body of an apply patch must be an object");
    const applied = this.decodeBody(r, dropNulls(parsed), namespace, name);
    const precondition = applied.metadata.resourceVersion;
    for (const k of SERVER_METADATA) delete applied.metadata[k];
    delete applied.status;
    const appliedFields = ownableFields(applied, "main");
    const stored = this.store.get(storeKey(r.kind, name, namespace));
    if (!stored) {
      // An apply that creates needs the create verb as well as patch, as the apiserver checks it.
      this.check({
        verb: "create",
        group: r.group,
        resource: r.plural,
        name,
        ...(namespace !== undefined ? { namespace } : {}),
      });
      return json(201, this.createObject(r, applied, { manager, dryRun }, new Set(appliedFields.keys())));
    }
    const old = clone(stored);
    if (precondition && precondition !== old.metadata.resourceVersion) throw staleVersion(r, name);

    const owners = readOwners(old);
    const mine = owners.find(
      (o) => o.manager === manager && o.operation === "Apply" && scopeOf(o) === "main",
    );
    const others = owners.filter((o) => o !== mine && scopeOf(o) === "main");
    const conflicts = others.flatMap((owner) =>
      [...appliedFields]
        .filter(([k, v]) => owner.fields.has(k) && !deepEqual(getPath(old, JSON.parse(k) as string[]), v))
        .map(([path]) => ({ owner, path })),
    );
    if (conflicts.length > 0 && req.query.get("force") !== "true") throw applyConflict(conflicts);
    for (const c of conflicts) {
      c.owner.fields.delete(c.path);
      c.owner.time = now();
    }

    const merged = deepMerge(clone(old) as JsonMap, applied as JsonMap);
    // Fields this manager applied before and no longer does go away, unless someone else owns them.
    const ownedElsewhere = new Set(others.flatMap((o) => [...o.fields]));
    for (const k of mine?.fields ?? []) {
      if (!appliedFields.has(k) && !ownedElsewhere.has(k)) deletePath(merged, JSON.parse(k) as string[]);
    }
    const fields = new Set(appliedFields.keys());
    if (!mine) {
      owners.push({ manager, operation: "Apply", apiVersion: apiVersionOf(r), time: now(), fields });
    } else if (!sameSet(mine.fields, fields)) {
      mine.fields = fields;
      mine.time = now();
    }
    const next = withServerFields(old, merged as FakeObject);
    return json(200, this.commitUpdate(r, old, next, owners, dryRun));
  }

  private remove(r: Resource, name: string, namespace: string | undefined, req: RecordedRequest): FakeReply {
    const dryRun = this.dryRunOf(req, "DeleteOptions");
    const old = this.mustGet(r, name, namespace);
    const key = storeKey(r.kind, name, namespace);
    // Finalizers keep the object, marked for deletion, until their controllers remove them; a
    // repeated delete changes nothing and answers the object again.
    if (old.metadata.finalizers?.length) {
      if (old.metadata.deletionTimestamp) return json(200, ordered(old));
      const terminating = clone(old);
      terminating.metadata.deletionTimestamp = now();
      terminating.metadata.deletionGracePeriodSeconds = 0;
      if (!dryRun) {
        terminating.metadata.resourceVersion = String(++this.revision);
        this.store.set(key, ordered(terminating));
        this.scheduleSync();
      }
      return json(200, ordered(terminating));
    }
    if (!dryRun) {
      this.store.delete(key);
      this.podOwners.delete(key);
      // Namespace deletion takes its contents with it (immediately, in this fake).
      if (r.kind === "Namespace") {
        for (const [k, o] of this.store) if (o.metadata.namespace === name) this.store.delete(k);
      }
      this.revision++;
      this.scheduleSync();
      if (isWorkload(r.kind) || r.kind === "Pod") this.scheduleWorkloadSync();
    }
    return json(200, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { ...resourceDetails(r, name), uid: old.metadata.uid },
    });
  }

  /** The autoscaling/v1 Scale of a Deployment or StatefulSet: GET, PUT and merge PATCH. */
  private scale(r: Resource, name: string, namespace: string | undefined, req: RecordedRequest): FakeReply {
    const old = this.mustGet(r, name, namespace);
    const current = scaleOf(old);
    if (req.method === "GET") return json(200, current);
    if (req.method !== "PUT" && req.method !== "PATCH") throw methodNotAllowed();
    let wanted: JsonMap;
    if (req.method === "PATCH") {
      const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
      if (type !== "application/merge-patch+json" && type !== "application/strategic-merge-patch+json")
        throw new StatusError(
          415,
          "UnsupportedMediaType",
          "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json",
        );
      wanted = mergePatch(clone(current) as JsonMap, parseJsonBody(req));
    } else {
      wanted = parseJsonBody(req);
      const precondition = asString(asMap(wanted.metadata).resourceVersion);
      if (precondition && precondition !== old.metadata.resourceVersion) throw staleVersion(r, name);
    }
    const replicas = asMap(wanted.spec).replicas;
    if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0)
      throw invalid("autoscaling", "Scale", name, [
        {
          type: "FieldValueInvalid",
          field: "spec.replicas",
          value: replicas,
          detail: "must be greater than or equal to 0",
        },
      ]);
    const ctx = this.writeContext(req, req.method === "PUT" ? "UpdateOptions" : "PatchOptions");
    const next = clone(old);
    asMap(next.spec).replicas = replicas;
    const owners = ownersAfterUpdate(readOwners(old), old, next, ctx.manager, apiVersionOf(r), "main");
    return json(200, scaleOf(this.commitUpdate(r, old, next, owners, ctx.dryRun)));
  }

  // --- storage ----------------------------------------------------------------------------------

  private mustGet(r: Resource, name: string, namespace: string | undefined): FakeObject {
    const found = this.store.get(storeKey(r.kind, name, namespace));
    if (!found) throw notFound(r, name);
    return clone(found);
  }

  /** Stores a new object (unless dry run); `appliedFields` marks a server-side apply create. */
  private createObject(
    r: Resource,
    obj: FakeObject,
    ctx: WriteContext,
    appliedFields?: Set<PathKey>,
  ): FakeObject {
    const name = obj.metadata.name;
    const namespace = r.namespaced ? obj.metadata.namespace : undefined;
    if (namespace !== undefined) this.requireNamespace(namespace);
    if (this.store.has(storeKey(r.kind, name, namespace))) throw alreadyExists(r, name);
    checkQuantities(r, obj);
    for (const k of SERVER_METADATA) delete obj.metadata[k];
    const status = initialStatus(r);
    if (status) obj.status = status;
    else delete obj.status;
    applyDefaults(r, obj);
    const finalizer = protectionFinalizer(r);
    if (finalizer && !obj.metadata.finalizers?.includes(finalizer))
      obj.metadata.finalizers = [...(obj.metadata.finalizers ?? []), finalizer];
    validate(r, obj);
    const time = now();
    const fields = appliedFields ?? new Set(ownableFields(obj, "main").keys());
    obj.metadata.managedFields = writeOwners([
      {
        manager: ctx.manager,
        operation: appliedFields ? "Apply" : "Update",
        apiVersion: apiVersionOf(r),
        time,
        fields,
      },
    ]);
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = time;
    if (isWorkload(r.kind)) obj.metadata.generation = 1;
    if (!ctx.dryRun) {
      // Dry-run objects never get a resourceVersion: nothing was written.
      obj.metadata.resourceVersion = String(++this.revision);
      this.store.set(storeKey(r.kind, name, namespace), ordered(obj));
      this.scheduleSync();
      // A pod someone else made or deleted may change what a workload controller has to do.
      if (isWorkload(r.kind) || (r.kind === "Pod" && ctx.manager !== CONTROLLER)) this.scheduleWorkloadSync();
    }
    return ordered(obj);
  }

  /** Validates and stores an update; an update that changes nothing keeps the resourceVersion. */
  private commitUpdate(
    r: Resource,
    old: FakeObject,
    next: FakeObject,
    owners: Owner[],
    dryRun: boolean,
  ): FakeObject {
    checkQuantities(r, next);
    applyDefaults(r, next);
    next.metadata.managedFields = writeOwners(owners);
    validate(r, next, old);
    this.admitUpdate(r, old, next);
    if (isWorkload(r.kind) && !deepEqual(old.spec, next.spec)) {
      next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    }
    if (deepEqual(old, next)) return ordered(old);
    if (!dryRun) {
      next.metadata.resourceVersion = String(++this.revision);
      const key = storeKey(r.kind, next.metadata.name, next.metadata.namespace);
      // The last finalizer of an object marked for deletion is gone: it is deleted now.
      if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length) this.store.delete(key);
      else this.store.set(key, ordered(next));
      this.scheduleSync();
      if (isWorkload(r.kind)) this.scheduleWorkloadSync();
    }
    return ordered(next);
  }

  /**
   * Validating admission on update: PersistentVolumeClaimResize lets a bound claim grow only when
   * its StorageClass allows volume expansion (statically bound claims have no class at all).
   */
  private admitUpdate(r: Resource, old: FakeObject, next: FakeObject): void {
    if (r.kind !== "PersistentVolumeClaim" || asMap(old.status).phase !== "Bound") return;
    const storage = (o: FakeObject) =>
      parseQuantity(asMap(asMap(asMap(o.spec).resources).requests).storage) ?? 0;
    if (storage(next) <= storage(old)) return;
    const className = asString(asMap(next.spec).storageClassName) ?? "";
    const sc = className ? this.store.get(storeKey("StorageClass", className)) : undefined;
    if (sc?.allowVolumeExpansion === true) return;
    throw new StatusError(
      403,
      "Forbidden",
      `persistentvolumeclaims "${next.metadata.name}" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`,
      { name: next.metadata.name, kind: "persistentvolumeclaims" },
    );
  }

  private requireNamespace(namespace: string): void {
    const ns = this.store.get(storeKey("Namespace", namespace));
    const r = resourceOf("Namespace");
    if (!ns) throw notFound(r, namespace);
    if (asMap(ns.status).phase === "Terminating") {
      throw new StatusError(
        403,
        "Forbidden",
        `unable to create new content in namespace ${namespace} because it is being terminated`,
        {
          ...resourceDetails(r, namespace),
          causes: [
            {
              reason: "NamespaceTerminating",
              message: `namespace ${namespace} is being terminated`,
              field: "metadata.namespace",
            },
          ],
        },
      );
    }
  }

  /** Checks a request body against the URL it was sent to and returns it as an object. */
  private decodeBody(r: Resource, body: JsonMap, namespace: string | undefined, name?: string): FakeObject {
    const apiVersion = apiVersionOf(r);
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersion) {
      throw badRequest(
        `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersion})`,
      );
    }
    if (body.kind !== undefined && body.kind !== r.kind) {
      throw badRequest(
        `the kind in the data (${String(body.kind)}) does not match the expected kind (${r.kind})`,
      );
    }
    const metadata = asMap(body.metadata);
    for (const field of ["labels", "annotations"]) {
      for (const [k, v] of Object.entries(asMap(metadata[field]))) {
        if (typeof v !== "string") {
          throw badRequest(
            `${r.kind} in version "v1" cannot be handled as a ${r.kind}: json: cannot unmarshal ${typeof v} into Go struct field ObjectMeta.metadata.${field} of type string (key ${k})`,
          );
        }
      }
    }
    if (name !== undefined && metadata.name !== name) {
      throw badRequest(
        `the name of the object (${String(metadata.name ?? "")}) does not match the name on the URL (${name})`,
      );
    }
    if (r.namespaced) {
      if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
        throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      }
      metadata.namespace = namespace;
    } else {
      delete metadata.namespace;
    }
    return {
      ...body,
      apiVersion,
      kind: r.kind,
      metadata: { ...metadata, name: String(metadata.name ?? "") },
    };
  }

  private writeContext(req: RecordedRequest, optionsKind: string): WriteContext {
    return { manager: managerOf(req), dryRun: this.dryRunOf(req, optionsKind) };
  }

  private dryRunOf(req: RecordedRequest, optionsKind: string): boolean {
    const values = req.query.getAll("dryRun");
    const bad = values.find((v) => v !== "All");
    if (bad !== undefined) {
      throw optionsInvalid(optionsKind, [
        { type: "FieldValueNotSupported", field: "dryRun", value: bad, detail: supported(["All"]) },
      ]);
    }
    return values.length > 0;
  }

  // --- controllers ------------------------------------------------------------------------------

  private scheduleSync(): void {
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.sync();
    }, this.bindDelayMs);
    this.syncTimer.unref();
  }

  private scheduleWorkloadSync(): void {
    if (this.workloadTimer) return;
    this.workloadTimer = setTimeout(() => {
      this.workloadTimer = undefined;
      this.syncWorkloads();
    }, this.workloadDelayMs);
    this.workloadTimer.unref();
  }

  private isHeld(pvc: FakeObject): boolean {
    const { name, namespace } = pvc.metadata;
    return this.holdAll || this.heldClaims.has(name) || this.heldClaims.has(`${namespace}/${name}`);
  }

  /** Stored objects of a kind, not copied: for controllers that only read them (writes copy). */
  private stored(kind: FakeKind): FakeObject[] {
    return [...this.store.values()].filter((o) => o.kind === kind);
  }

  /** One pass of the PV controller and of the storage-object-in-use protection. */
  private sync(): void {
    // A claim marked for deletion goes once no pod that may still run mounts it.
    for (const pvc of this.stored("PersistentVolumeClaim")) {
      if (pvc.metadata.deletionTimestamp && !this.claimInUse(pvc)) this.removeFinalizer(pvc, PVC_PROTECTION);
    }
    for (const pvc of this.stored("PersistentVolumeClaim")) {
      if (asMap(pvc.status).phase === "Bound") {
        const pv = this.store.get(storeKey("PersistentVolume", String(asMap(pvc.spec).volumeName ?? "")));
        if (!pv) this.controllerWrite(pvc, (o) => (o.status = { ...o.status, phase: "Lost" }));
        continue;
      }
      if (pvc.metadata.deletionTimestamp || this.isHeld(pvc)) continue;
      const pv = this.volumeFor(pvc);
      if (pv) this.bind(pv, pvc);
    }
    for (const pv of this.stored("PersistentVolume")) {
      const ref = asMap(pv.spec?.claimRef);
      const claim = ref.name
        ? this.store.get(storeKey("PersistentVolumeClaim", String(ref.name), String(ref.namespace)))
        : undefined;
      let phase = "Available";
      if (ref.uid) phase = claim?.metadata.uid === ref.uid ? "Bound" : "Released";
      if (asMap(pv.status).phase !== phase) {
        this.controllerWrite(pv, (o) => (o.status = { ...o.status, phase, lastPhaseTransitionTime: now() }));
      }
    }
    // A volume marked for deletion goes once it is no longer bound to a claim.
    for (const pv of this.stored("PersistentVolume")) {
      if (pv.metadata.deletionTimestamp && asMap(pv.status).phase !== "Bound")
        this.removeFinalizer(pv, PV_PROTECTION);
    }
  }

  /** A pod that is not finished mounts the claim (what the pvc-protection controller checks). */
  private claimInUse(pvc: FakeObject): boolean {
    return this.stored("Pod").some(
      (pod) =>
        pod.metadata.namespace === pvc.metadata.namespace &&
        !["Succeeded", "Failed"].includes(String(asMap(pod.status).phase)) &&
        claimsOf(asMap(pod.spec)).includes(pvc.metadata.name),
    );
  }

  /** A controller removes its finalizer; the last one gone, an object marked for deletion is deleted. */
  private removeFinalizer(current: FakeObject, finalizer: string): void {
    if (!current.metadata.finalizers?.includes(finalizer)) return;
    const next = this.controllerWrite(current, (o) => {
      const rest = (o.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      if (rest.length > 0) o.metadata.finalizers = rest;
      else delete o.metadata.finalizers;
    });
    if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length) {
      this.store.delete(storeKey(next.kind, next.metadata.name, next.metadata.namespace));
      this.revision++;
    }
  }

  /**
   * One pass of the workload controller: every Deployment and StatefulSet gets as many pods as
   * spec.replicas says (StatefulSet pods `<name>-<ordinal>`, highest ordinal removed first;
   * Deployment pods `<name>-<template hash>-<suffix>`, newest removed first), its status follows,
   * and pods whose workload is gone are garbage-collected.
   */
  private syncWorkloads(): void {
    let podsChanged = false;
    for (const [podKey, ownerKey] of [...this.podOwners]) {
      if (this.store.has(ownerKey) && this.store.has(podKey)) continue;
      if (this.store.delete(podKey)) this.revision++;
      this.podOwners.delete(podKey);
      podsChanged = true;
    }
    for (const w of [...this.stored("Deployment"), ...this.stored("StatefulSet")]) {
      const key = storeKey(w.kind, w.metadata.name, w.metadata.namespace);
      const desired = Number(asMap(w.spec).replicas ?? 1);
      const pods = [...this.podOwners].filter(([, o]) => o === key).map(([podKey]) => podKey);
      if (w.kind === "StatefulSet") pods.sort((a, b) => ordinalOf(a) - ordinalOf(b));
      while (pods.length > desired) {
        const podKey = pods.pop() as string;
        this.store.delete(podKey);
        this.podOwners.delete(podKey);
        this.revision++;
        podsChanged = true;
      }
      for (let i = 0; pods.length < desired && i < desired * 2 + 1; i++) {
        const podKey = this.createPodFor(w, key);
        if (!podKey) break;
        pods.push(podKey);
        podsChanged = true;
      }
      const status = workloadStatus(w, pods.length);
      if (!deepEqual(w.status, status)) this.controllerWrite(w, (o) => (o.status = status));
    }
    if (podsChanged) this.scheduleSync();
  }

  /** A pod from the workload's template, as its controller makes it; undefined when the template is not valid. */
  private createPodFor(w: FakeObject, ownerKey: string): string | undefined {
    const spec = asMap(w.spec);
    const template = asMap(spec.template);
    const templateMeta = asMap(template.metadata);
    const namespace = w.metadata.namespace as string;
    const hash = createHash("sha256").update(JSON.stringify(template)).digest("hex").slice(0, 10);
    let name: string;
    let labels: Record<string, string>;
    let owner: JsonMap;
    if (w.kind === "StatefulSet") {
      const taken = new Set(
        this.podsOf("StatefulSet", w.metadata.name, namespace).map((p) => p.metadata.name),
      );
      let ordinal = 0;
      while (taken.has(`${w.metadata.name}-${ordinal}`)) ordinal++;
      name = `${w.metadata.name}-${ordinal}`;
      labels = {
        ...(templateMeta.labels as Record<string, string>),
        "controller-revision-hash": `${w.metadata.name}-${hash}`,
        "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": String(ordinal),
      };
      owner = { apiVersion: "apps/v1", kind: "StatefulSet", name: w.metadata.name, uid: w.metadata.uid };
    } else {
      let rs = this.replicaSets.get(ownerKey);
      if (!rs) {
        rs = { name: `${w.metadata.name}-${hash}`, uid: randomUUID(), hash };
        this.replicaSets.set(ownerKey, rs);
      }
      name = `${rs.name}-${randomSuffix()}`;
      labels = { ...(templateMeta.labels as Record<string, string>), "pod-template-hash": rs.hash };
      owner = { apiVersion: "apps/v1", kind: "ReplicaSet", name: rs.name, uid: rs.uid };
    }
    const pod: FakeObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace,
        labels,
        ...(templateMeta.annotations
          ? { annotations: clone(templateMeta.annotations as Record<string, string>) }
          : {}),
        ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }],
      },
      spec: { ...clone(asMap(template.spec)), nodeName: `${this.contextName}-node-1` },
    };
    try {
      this.createObject(resourceOf("Pod"), pod, { manager: CONTROLLER, dryRun: false });
    } catch (err) {
      if (err instanceof StatusError) return undefined; // the real controller reports FailedCreate
      throw err;
    }
    const podKey = storeKey("Pod", name, namespace);
    this.podOwners.set(podKey, ownerKey);
    return podKey;
  }

  /** The volume a pending claim would bind to: the one it names, or the smallest that fits. */
  private volumeFor(pvc: FakeObject): FakeObject | undefined {
    const spec = asMap(pvc.spec);
    const fits = (pv: FakeObject) => {
      const ref = asMap(pv.spec?.claimRef);
      const free =
        !ref.name ||
        (ref.name === pvc.metadata.name &&
          ref.namespace === pvc.metadata.namespace &&
          (!ref.uid || ref.uid === pvc.metadata.uid));
      const pvSpec = asMap(pv.spec);
      const modes = Array.isArray(pvSpec.accessModes) ? pvSpec.accessModes : [];
      const wanted = Array.isArray(spec.accessModes) ? spec.accessModes : [];
      return (
        free &&
        (pvSpec.storageClassName ?? "") === (spec.storageClassName ?? "") &&
        pvSpec.volumeMode === spec.volumeMode &&
        wanted.every((m) => modes.includes(m)) &&
        (parseQuantity(asMap(pvSpec.capacity).storage) ?? 0) >=
          (parseQuantity(asMap(asMap(spec.resources).requests).storage) ?? 0)
      );
    };
    if (spec.volumeName) {
      const pv = this.object("PersistentVolume", String(spec.volumeName));
      return pv && fits(pv) ? pv : undefined;
    }
    const size = (pv: FakeObject) => parseQuantity(asMap(pv.spec?.capacity).storage) ?? 0;
    return this.objects("PersistentVolume")
      .filter((pv) => asMap(pv.status).phase === "Available" && fits(pv))
      .sort((a, b) => size(a) - size(b))[0];
  }

  /** What the PV controller does on bind: claimRef and annotations first, then both statuses. */
  private bind(pv: FakeObject, pvc: FakeObject): void {
    const ref = asMap(pv.spec?.claimRef);
    const pvNeedsController = !(ref.name === pvc.metadata.name && ref.namespace === pvc.metadata.namespace);
    const claimNeedsController = asMap(pvc.spec).volumeName !== pv.metadata.name;
    const boundPv = this.controllerWrite(pv, (o) => {
      if (ref.uid !== pvc.metadata.uid) {
        asMap(o.spec).claimRef = {
          kind: "PersistentVolumeClaim",
          namespace: pvc.metadata.namespace,
          name: pvc.metadata.name,
          uid: pvc.metadata.uid,
          apiVersion: "v1",
          resourceVersion: pvc.metadata.resourceVersion,
        };
      }
      if (pvNeedsController)
        o.metadata.annotations = { ...o.metadata.annotations, [ANN_BOUND_BY_CONTROLLER]: "yes" };
    });
    this.controllerWrite(
      boundPv,
      (o) => (o.status = { ...o.status, phase: "Bound", lastPhaseTransitionTime: now() }),
    );
    const boundPvc = this.controllerWrite(pvc, (o) => {
      const spec = asMap(o.spec);
      spec.volumeName = pv.metadata.name;
      o.metadata.annotations = {
        ...o.metadata.annotations,
        [ANN_BIND_COMPLETED]: "yes",
        ...(claimNeedsController ? { [ANN_BOUND_BY_CONTROLLER]: "yes" } : {}),
      };
    });
    const pvSpec = asMap(pv.spec);
    this.controllerWrite(boundPvc, (o) => {
      o.status = { phase: "Bound", accessModes: pvSpec.accessModes, capacity: pvSpec.capacity };
    });
  }

  /** A controller's Update of one object (status writes go through the status subresource). */
  private controllerWrite(current: FakeObject, mutate: (o: FakeObject) => void): FakeObject {
    const next = clone(current);
    mutate(next);
    const r = resourceOf(current.kind as FakeKind);
    let owners = readOwners(current);
    owners = ownersAfterUpdate(owners, current, next, CONTROLLER, apiVersionOf(r), "main");
    owners = ownersAfterUpdate(owners, current, next, CONTROLLER, apiVersionOf(r), "status");
    next.metadata.managedFields = writeOwners(owners);
    if (deepEqual(current, next)) return current;
    next.metadata.resourceVersion = String(++this.revision);
    const stored = ordered(next);
    this.store.set(storeKey(r.kind, next.metadata.name, next.metadata.namespace), stored);
    return clone(stored);
  }
}

/** The claim names a pod spec (or pod template spec) mounts. */
export function claimsOf(podSpec: JsonMap): string[] {
  const volumes = Array.isArray(podSpec.volumes) ? podSpec.volumes : [];
  return volumes
    .map((v) => asString(asMap(asMap(v).persistentVolumeClaim).claimName))
    .filter((c): c is string => c !== undefined);
}

function ordinalOf(podKey: string): number {
  return Number(/-(\d+)$/.exec(podKey)?.[1] ?? 0);
}

/** Status as the controllers write it: zero counts are left out (omitempty), except StatefulSet replicas. */
function workloadStatus(w: FakeObject, pods: number): JsonMap {
  const counts = pods > 0 ? { readyReplicas: pods, availableReplicas: pods, updatedReplicas: pods } : {};
  const generation = w.metadata.generation;
  if (w.kind === "StatefulSet")
    return {
      observedGeneration: generation,
      replicas: pods,
      ...counts,
      ...(pods > 0 ? { currentReplicas: pods } : {}),
      collisionCount: 0,
    };
  return { observedGeneration: generation, ...(pods > 0 ? { replicas: pods } : {}), ...counts };
}

/** The autoscaling/v1 Scale of a Deployment or StatefulSet. */
function scaleOf(w: FakeObject): FakeObject {
  const matchLabels = asMap(asMap(asMap(w.spec).selector).matchLabels);
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: w.metadata.name,
      ...(w.metadata.namespace ? { namespace: w.metadata.namespace } : {}),
      ...(w.metadata.uid ? { uid: w.metadata.uid } : {}),
      ...(w.metadata.resourceVersion ? { resourceVersion: w.metadata.resourceVersion } : {}),
      ...(w.metadata.creationTimestamp ? { creationTimestamp: w.metadata.creationTimestamp } : {}),
    },
    spec: { replicas: asMap(w.spec).replicas },
    status: {
      replicas: Number(asMap(w.status).replicas ?? 0),
      selector: Object.entries(matchLabels)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(","),
    },
  };
}

/** Keeps everything the server owns from the stored object; the request decides the rest. */
function withServerFields(old: FakeObject, next: FakeObject): FakeObject {
  const metadata: FakeObjectMeta = { ...next.metadata, name: old.metadata.name };
  for (const k of SERVER_METADATA) {
    if (old.metadata[k] !== undefined) metadata[k] = clone(old.metadata[k]);
    else delete metadata[k];
  }
  if (old.metadata.namespace !== undefined) metadata.namespace = old.metadata.namespace;
  return { ...next, metadata, status: clone(old.status) };
}

function storeKey(kind: string, name: string, namespace?: string): string {
  return `${kind}/${namespace ?? ""}/${name}`;
}

function parseJsonBody(req: RecordedRequest): JsonMap {
  let body: unknown;
  try {
    body = JSON.parse(req.body);
  } catch (err) {
    throw badRequest(`error decoding JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isMap(body)) throw badRequest("the request body must be a JSON object");
  return body;
}

/** The apiserver names an Update's manager after the client's user agent when none is given. */
function managerOf(req: RecordedRequest): string {
  const explicit = req.query.get("fieldManager");
  if (explicit) return explicit;
  const agent = String(req.headers["user-agent"] ?? "unknown");
  return agent.split("/")[0]?.slice(0, 128) || "unknown";
}

function bodyName(req: RecordedRequest): string | undefined {
  try {
    return asString(asMap(asMap(JSON.parse(req.body)).metadata).name);
  } catch {
    return undefined;
  }
}

function randomSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  return Array.from(randomBytes(5), (b) => alphabet[b % alphabet.length]).join("");
}

function encodeContinue(key: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", start: key })).toString("base64url");
}

function decodeContinue(token: string): string {
  try {
    const start = asString(asMap(JSON.parse(Buffer.from(token, "base64url").toString("utf8"))).start);
    if (start) return start;
  } catch {
    // fall through to the error below
  }
  throw badRequest(
    "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
  );
}

export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  const kube = new FakeKube(options);
  await kube.start(options.port);
  return kube;
}
