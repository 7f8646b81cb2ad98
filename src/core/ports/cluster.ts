// What drbot needs from a Kubernetes cluster. All writes are server-side apply with field
// manager `drbot`, which makes them idempotent by construction.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export type KubeKind =
  | "Namespace"
  | "PersistentVolume"
  | "PersistentVolumeClaim"
  | "Deployment"
  | "StatefulSet"
  | "Pod";

/** A Deployment or StatefulSet: what a switchover stops and what it reports. */
export interface Workload {
  kind: "Deployment" | "StatefulSet";
  namespace: string;
  name: string;
  /** spec.replicas (1 when unset, as the apiserver defaults it). */
  replicas: number;
  /** status.replicas: pods that exist now (0 when the status leaves it out). */
  statusReplicas: number;
  /** PVC names its pod template mounts. */
  claims: string[];
}

export interface PodInfo {
  namespace: string;
  name: string;
  phase: string;
  claims: string[];
  /** Deletion asked for (deletionTimestamp set); the pod may still be running. */
  terminating: boolean;
}

export interface ApplyOptions {
  /** Server-side dry run (`dryRun=All`): validated and admitted, never stored. */
  dryRun?: boolean;
  /** Take over fields owned by another manager instead of failing with a conflict. */
  force?: boolean;
}

export interface ClusterPort {
  /** The cluster's configured name (from drbot.yaml). */
  readonly name: string;
  /** Server version, e.g. `v1.31.2`; proves the API server answers and the credentials work. */
  version(): Promise<string>;
  /** Creates the namespace with `labels` when it is missing; an existing one is left as it is. */
  ensureNamespace(name: string, labels?: Record<string, string>): Promise<"created" | "exists">;
  apply(object: KubeObject, options?: ApplyOptions): Promise<KubeObject>;
  /** The object, or null when it does not exist. */
  get(kind: KubeKind, name: string, namespace?: string): Promise<KubeObject | null>;
  list(kind: "PersistentVolume", labelSelector?: string): Promise<KubeObject[]>;
  /** Deployments and StatefulSets in the given namespaces (all namespaces when omitted). */
  listWorkloads(namespaces?: readonly string[]): Promise<Workload[]>;
  /** Pods of a namespace with the claims they mount. */
  listPods(namespace: string): Promise<PodInfo[]>;
  /** Sets replicas through the scale subresource. */
  scale(kind: "Deployment" | "StatefulSet", namespace: string, name: string, replicas: number): Promise<void>;
  /** Deletes the object; "absent" when it was not there. A finalizer may keep it Terminating. */
  ensureDeleted(
    kind: "PersistentVolume" | "PersistentVolumeClaim",
    name: string,
    namespace?: string,
  ): Promise<"deleted" | "absent">;
}
