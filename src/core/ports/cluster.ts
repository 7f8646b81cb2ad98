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

export type KubeKind = "Namespace" | "PersistentVolume" | "PersistentVolumeClaim";

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
  ensureNamespace(name: string, labels?: Record<string, string>): Promise<"created" | "exists">;
  apply(object: KubeObject, options?: ApplyOptions): Promise<KubeObject>;
  /** The object, or null when it does not exist. */
  get(kind: KubeKind, name: string, namespace?: string): Promise<KubeObject | null>;
  list(kind: "PersistentVolume", labelSelector?: string): Promise<KubeObject[]>;
}
