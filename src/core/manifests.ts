// PV/PVC manifests: rendering a template, and rewriting a recorded manifest for the other site.
// Templates are parsed YAML; values are filled into the parsed structure and the result is
// written by the YAML serializer, so a value can never inject YAML of its own.

import { parseAllDocuments, stringify } from "yaml";
import type { KubeObject } from "./ports/cluster.ts";

export const TEMPLATE_VARIABLES = [
  "pv_name",
  "pvc_name",
  "namespace",
  "business_unit",
  "application",
  "cluster_name",
  "site",
  "size",
  "nfs_server",
  "nfs_path",
  "file_system_id",
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateValues = Record<TemplateVariable, string>;

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

export interface ManifestTemplate {
  path: string;
  /** Parsed documents with placeholders still in their string values. */
  documents: readonly unknown[];
}

export const LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  businessUnit: "drbot.io/business-unit",
  application: "drbot.io/application",
  cluster: "drbot.io/cluster",
  site: "drbot.io/site",
} as const;

/** Parses and checks a template: known placeholders only, and it must render a valid pair. */
export function parseTemplate(text: string, path: string): ManifestTemplate {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error("the file holds no YAML documents");
  const documents: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`not valid YAML: ${doc.errors[0]?.message.split("\n")[0]}`);
    const js = doc.toJS();
    if (js !== null && js !== undefined) documents.push(js);
  }
  const unknown = new Set<string>();
  walkStrings(documents, (s) => {
    for (const [, name] of s.matchAll(PLACEHOLDER)) {
      if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name as string)) unknown.add(name as string);
    }
    return s;
  });
  if (unknown.size > 0) {
    throw new Error(
      `unknown placeholder(s) ${[...unknown].map((u) => `{{ ${u} }}`).join(", ")}; known: ${TEMPLATE_VARIABLES.join(", ")}`,
    );
  }
  const template = { path, documents };
  // Render once with sample values so a broken template stops start-up, not a tenant's request.
  checkVolumePair(
    renderTemplate(template, {
      pv_name: "bu.app.ns.pvc",
      pvc_name: "pvc",
      namespace: "ns",
      business_unit: "bu",
      application: "app",
      cluster_name: "cluster",
      site: "primary",
      size: "1Gi",
      nfs_server: "fs-00000000.efs.us-east-1.amazonaws.com",
      nfs_path: "/root/bu/app/ns/pvc",
      file_system_id: "fs-00000000",
    }),
  );
  return template;
}

export function renderTemplate(template: ManifestTemplate, values: TemplateValues): KubeObject[] {
  const filled = walkStrings(structuredClone(template.documents), (s) =>
    s.replace(PLACEHOLDER, (_, name: string) => values[name as TemplateVariable]),
  ) as unknown[];
  return filled as KubeObject[];
}

/** The Git file: both documents, serializer-written, with a header saying who owns it. */
export function serializeManifests(objects: readonly KubeObject[]): string {
  const header = "# Managed by drbot. Changes here are not applied; ask drbot instead.\n";
  return header + objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join("");
}

export function parseManifests(text: string): KubeObject[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error("no YAML documents");
  return docs
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`not valid YAML: ${d.errors[0]?.message.split("\n")[0]}`);
      return d.toJS() as unknown;
    })
    .filter((d): d is KubeObject => d !== null && typeof d === "object") as KubeObject[];
}

export interface VolumePair {
  pv: KubeObject;
  pvc: KubeObject;
}

/**
 * Finds the PV and the PVC and checks the contract: static binding both ways, Retain,
 * storageClassName "". Throws with what is wrong.
 */
export function checkVolumePair(objects: readonly KubeObject[]): VolumePair {
  const pvs = objects.filter((o) => o.kind === "PersistentVolume");
  const pvcs = objects.filter((o) => o.kind === "PersistentVolumeClaim");
  if (pvs.length !== 1 || pvcs.length !== 1 || objects.length !== 2) {
    throw new Error(
      `expected exactly one PersistentVolume and one PersistentVolumeClaim, found ${objects.map((o) => o?.kind ?? typeof o).join(", ") || "nothing"}`,
    );
  }
  const pv = pvs[0] as KubeObject;
  const pvc = pvcs[0] as KubeObject;
  const pvSpec = (pv.spec ?? {}) as Record<string, unknown>;
  const pvcSpec = (pvc.spec ?? {}) as Record<string, unknown>;
  const claimRef = (pvSpec.claimRef ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (pvSpec.persistentVolumeReclaimPolicy !== "Retain")
    problems.push("the PV's persistentVolumeReclaimPolicy must be Retain");
  if (pvSpec.storageClassName !== "") problems.push('the PV\'s storageClassName must be ""');
  if (pvcSpec.storageClassName !== "") problems.push('the PVC\'s storageClassName must be ""');
  if (claimRef.name !== pvc.metadata?.name || claimRef.namespace !== pvc.metadata?.namespace) {
    problems.push("the PV's claimRef must name the PVC and its namespace");
  }
  if (pvcSpec.volumeName !== pv.metadata?.name) problems.push("the PVC's volumeName must name the PV");
  if (!pvSpec.nfs && !pvSpec.csi) problems.push("the PV must have an nfs or csi volume source");
  if (problems.length > 0) throw new Error(problems.join("; "));
  return { pv, pvc };
}

export interface SiteTarget {
  /** NFS server name of the file system (written into nfs PVs). */
  hostname: string;
  fileSystemId: string;
  clusterName: string;
  site: "primary" | "secondary";
}

/** Annotations the binder writes; a copy for another cluster must not carry them. */
const BIND_ANNOTATIONS = [
  "pv.kubernetes.io/bind-completed",
  "pv.kubernetes.io/bound-by-controller",
  "pv.kubernetes.io/provisioned-by",
  "volume.beta.kubernetes.io/storage-provisioner",
  "volume.kubernetes.io/storage-provisioner",
  "volume.kubernetes.io/selected-node",
  "kubectl.kubernetes.io/last-applied-configuration",
];
const SERVER_METADATA = [
  "uid",
  "resourceVersion",
  "creationTimestamp",
  "managedFields",
  "generation",
  "selfLink",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "finalizers",
];

/**
 * The manifest for another site: the PV now points at `to`'s file system (NFS server, or the
 * file-system id in an EFS CSI volumeHandle) and every field the old cluster owned is gone.
 * Refuses a PV that points at neither site, so a foreign volume is never silently re-pointed.
 */
export function rewriteForSite(
  objects: readonly KubeObject[],
  from: SiteTarget,
  to: SiteTarget,
): KubeObject[] {
  const { pv, pvc } = checkVolumePair(objects.map(stripServerFields));
  const spec = pv.spec as Record<string, unknown>;
  const name = pv.metadata.name;
  if (spec.nfs) {
    const nfs = spec.nfs as Record<string, unknown>;
    if (nfs.server !== from.hostname && nfs.server !== to.hostname) {
      throw new Error(
        `PV ${name} points at NFS server ${String(nfs.server)}, which is neither ${from.hostname} nor ${to.hostname}`,
      );
    }
    nfs.server = to.hostname;
  }
  if (spec.csi) {
    const csi = spec.csi as Record<string, unknown>;
    const handle = String(csi.volumeHandle ?? "");
    const [fsId, ...rest] = handle.split(":");
    if (fsId !== from.fileSystemId && fsId !== to.fileSystemId) {
      throw new Error(
        `PV ${name} has volumeHandle ${handle}, whose file system is neither ${from.fileSystemId} nor ${to.fileSystemId}`,
      );
    }
    csi.volumeHandle = [to.fileSystemId, ...rest].join(":");
  }
  for (const o of [pv, pvc]) {
    const labels = o.metadata.labels;
    if (labels) {
      if (LABELS.cluster in labels) labels[LABELS.cluster] = to.clusterName;
      if (LABELS.site in labels) labels[LABELS.site] = to.site;
    }
  }
  return [pv, pvc];
}

function stripServerFields(object: KubeObject): KubeObject {
  const copy = structuredClone(object);
  delete copy.status;
  for (const field of SERVER_METADATA) delete copy.metadata[field];
  const annotations = copy.metadata.annotations;
  if (annotations) {
    for (const a of BIND_ANNOTATIONS) delete annotations[a];
    if (Object.keys(annotations).length === 0) delete copy.metadata.annotations;
  }
  const claimRef = (copy.spec as Record<string, unknown> | undefined)?.claimRef as
    | Record<string, unknown>
    | undefined;
  if (claimRef) {
    delete claimRef.uid;
    delete claimRef.resourceVersion;
  }
  return copy;
}

function walkStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === "string") return fn(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = walkStrings(value[i], fn);
    return value;
  }
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = walkStrings(record[key], fn);
    return value;
  }
  return value;
}
