// ClusterPort over @kubernetes/client-node. Writes are server-side apply with field manager
// `drbot`; every failure comes back as a DrbotError that names the cluster, the object and what
// to check, using the API server's own words where it gave any.
import {
  ApiException,
  AppsV1Api,
  type Configuration,
  createConfiguration,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  type Middleware,
  PatchStrategy,
  ServerConfiguration,
  setHeaderOptions,
  VersionApi,
} from "@kubernetes/client-node";
import { DrbotError, type ErrorCode, type ErrorKind } from "../core/errors.ts";
import { isNetworkFailure, kindOfHttpStatus } from "../core/http-errors.ts";
import type {
  ApplyOptions,
  ClusterPort,
  KubeKind,
  KubeObject,
  PodInfo,
  Workload,
} from "../core/ports/cluster.ts";

export interface KubernetesClusterOptions {
  /** The cluster's configured name, used in messages. */
  name: string;
  /** Kubeconfig file; when omitted, $KUBECONFIG, ~/.kube/config or the in-cluster service account. */
  kubeconfig?: string;
  /** Context to use instead of the kubeconfig's current-context. */
  context?: string;
  /** Deadline for each API request (default 30 s), so a hung API server cannot stall a job. */
  timeoutMs?: number;
}

export const FIELD_MANAGER = "drbot";
const PAGE_SIZE = 500;
const USER_AGENT = "drbot";
const DEFAULT_TIMEOUT_MS = 30_000;

export function createKubernetesCluster(options: KubernetesClusterOptions): ClusterPort {
  return new KubernetesCluster(options);
}

interface Clients {
  objects: KubernetesObjectApi;
  apps: AppsV1Api;
  version: VersionApi;
  server: string;
}

const API_VERSION: Record<KubeKind, string> = {
  Namespace: "v1",
  PersistentVolume: "v1",
  PersistentVolumeClaim: "v1",
  Pod: "v1",
  Deployment: "apps/v1",
  StatefulSet: "apps/v1",
};

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** KubernetesObjectApi with our own middleware, still taking its default namespace from the context. */
class ObjectApi extends KubernetesObjectApi {
  constructor(configuration: Configuration, kc: KubeConfig) {
    super(configuration);
    this.setDefaultNamespace(kc);
  }
}

class KubernetesCluster implements ClusterPort {
  readonly name: string;
  private readonly options: KubernetesClusterOptions;
  private clients: Clients | undefined;

  constructor(options: KubernetesClusterOptions) {
    this.name = options.name;
    this.options = options;
  }

  async version(): Promise<string> {
    const { version } = this.connect();
    try {
      return (await version.getCode()).gitVersion;
    } catch (err) {
      throw this.translate(err, "read the server version of");
    }
  }

  async ensureNamespace(name: string, labels?: Record<string, string>): Promise<"created" | "exists"> {
    // Read first: the apply response cannot tell created from unchanged. An existing namespace is
    // left exactly as it is: the labels mark the namespaces drbot itself creates (for a tenant).
    const existing = await this.get("Namespace", name);
    if (existing && (existing.status as { phase?: string } | undefined)?.phase === "Terminating") {
      throw new DrbotError(
        "conflict",
        "kube.namespace_terminating",
        `Namespace "${name}" on Kubernetes cluster "${this.name}" is being deleted, so nothing can be created in it.`,
        { hint: "Wait until the deletion finishes (kubectl get namespace), then retry." },
      );
    }
    if (existing) return "exists";
    await this.apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, ...(labels ? { labels } : {}) },
    });
    return "created";
  }

  async apply(object: KubeObject, options: ApplyOptions = {}): Promise<KubeObject> {
    const { objects } = this.connect();
    try {
      // The client fills in defaults (namespace, apiVersion) on the object it is given: hand it a copy.
      const applied = await objects.patch(
        structuredClone(object) as KubernetesObject,
        undefined,
        options.dryRun ? "All" : undefined,
        FIELD_MANAGER,
        options.force ? true : undefined,
        PatchStrategy.ServerSideApply,
      );
      return toPlain(applied);
    } catch (err) {
      const verb = options.dryRun ? "dry-run apply" : "apply";
      throw this.translate(
        err,
        `${verb} ${describe(object.kind, object.metadata.name, object.metadata.namespace)} on`,
      );
    }
  }

  async get(kind: KubeKind, name: string, namespace?: string): Promise<KubeObject | null> {
    const { objects } = this.connect();
    try {
      return toPlain(
        await objects.read({ apiVersion: API_VERSION[kind], kind, metadata: { name, namespace } }),
      );
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return null;
      throw this.translate(err, `read ${describe(kind, name, namespace)} on`);
    }
  }

  async list(kind: "PersistentVolume", labelSelector?: string): Promise<KubeObject[]> {
    try {
      return await this.listAll(kind, undefined, labelSelector);
    } catch (err) {
      const what = labelSelector ? `${kind}s matching "${labelSelector}"` : `${kind}s`;
      throw this.translate(err, `list ${what} on`);
    }
  }

  async listWorkloads(namespaces?: readonly string[]): Promise<Workload[]> {
    const out: Workload[] = [];
    for (const kind of ["Deployment", "StatefulSet"] as const) {
      for (const namespace of namespaces ?? [undefined]) {
        let items: KubeObject[];
        try {
          items = await this.listAll(kind, namespace);
        } catch (err) {
          throw this.translate(err, `list ${kind}s${namespace ? ` in namespace "${namespace}"` : ""} on`);
        }
        for (const item of items) {
          const spec = asRecord(item.spec);
          out.push({
            kind,
            namespace: item.metadata.namespace ?? "",
            name: item.metadata.name,
            replicas: typeof spec.replicas === "number" ? spec.replicas : 1,
            // The controllers leave zero counts out of the status.
            statusReplicas: Number(asRecord(item.status).replicas ?? 0),
            claims: claimNames(asRecord(asRecord(spec.template).spec)),
          });
        }
      }
    }
    return out;
  }

  async listPods(namespace: string): Promise<PodInfo[]> {
    try {
      return (await this.listAll("Pod", namespace)).map((pod) => ({
        namespace: pod.metadata.namespace ?? namespace,
        name: pod.metadata.name,
        phase: String(asRecord(pod.status).phase ?? "Unknown"),
        claims: claimNames(asRecord(pod.spec)),
        terminating: pod.metadata.deletionTimestamp !== undefined,
      }));
    } catch (err) {
      throw this.translate(err, `list Pods in namespace "${namespace}" on`);
    }
  }

  async scale(
    kind: "Deployment" | "StatefulSet",
    namespace: string,
    name: string,
    replicas: number,
  ): Promise<void> {
    const { apps } = this.connect();
    // A merge patch of spec.replicas alone: no read-modify-write race with other writers.
    const request = { name, namespace, body: { spec: { replicas } }, fieldManager: FIELD_MANAGER };
    try {
      if (kind === "Deployment") await apps.patchNamespacedDeploymentScale(request, MERGE_PATCH);
      else await apps.patchNamespacedStatefulSetScale(request, MERGE_PATCH);
    } catch (err) {
      throw this.translate(err, `scale ${describe(kind, name, namespace)} to ${replicas} on`);
    }
  }

  async ensureDeleted(
    kind: "PersistentVolume" | "PersistentVolumeClaim",
    name: string,
    namespace?: string,
  ): Promise<"deleted" | "absent"> {
    const { objects } = this.connect();
    try {
      await objects.delete({
        apiVersion: "v1",
        kind,
        metadata: { name, ...(namespace ? { namespace } : {}) },
      });
      return "deleted";
    } catch (err) {
      if (err instanceof ApiException && err.code === 404 && !isDiscoveryError(err)) return "absent";
      throw this.translate(err, `delete ${describe(kind, name, namespace)} on`);
    }
  }

  /** Every item of a kind (in one namespace, or all), page by page, each with its kind and apiVersion. */
  private async listAll(kind: KubeKind, namespace?: string, labelSelector?: string): Promise<KubeObject[]> {
    const { objects } = this.connect();
    const apiVersion = API_VERSION[kind];
    const out: KubeObject[] = [];
    let token: string | undefined;
    do {
      const page = await objects.list(
        apiVersion,
        kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
        PAGE_SIZE,
        token,
      );
      // List items come without kind/apiVersion; put them back so each item stands alone.
      for (const item of page.items) out.push(Object.assign({ apiVersion, kind }, toPlain(item)));
      token = page.metadata?._continue || undefined;
    } while (token);
    return out;
  }

  /** Loads the kubeconfig on first use, so a broken one fails the call that needs it, with a reason. */
  private connect(): Clients {
    if (this.clients) return this.clients;
    const kc = new KubeConfig();
    const source = this.options.kubeconfig ?? "the default kubeconfig";
    try {
      if (this.options.kubeconfig) kc.loadFromFile(this.options.kubeconfig);
      else kc.loadFromDefault();
    } catch (err) {
      throw new DrbotError(
        "invalid",
        "kube.kubeconfig_unreadable",
        `Kubernetes cluster "${this.name}": cannot load ${source}: ${kubeconfigProblem(err)}.`,
        {
          hint: "Check the kubeconfig path in the configuration and that the file is mounted and valid YAML.",
          cause: err,
        },
      );
    }
    const context = this.options.context;
    if (context) {
      if (!kc.getContextObject(context)) {
        const known = kc.getContexts().map((c) => c.name);
        throw new DrbotError(
          "invalid",
          "kube.context_not_found",
          `Kubernetes cluster "${this.name}": context "${context}" is not in ${source} (it has: ${known.join(", ") || "none"}).`,
          { hint: "Fix cluster.context in the configuration or add the context to the kubeconfig." },
        );
      }
      kc.setCurrentContext(context);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) {
      throw new DrbotError(
        "invalid",
        "kube.no_cluster",
        `Kubernetes cluster "${this.name}": ${source} has no usable current context (current-context: "${kc.getCurrentContext() ?? ""}").`,
        { hint: "Set current-context in the kubeconfig or cluster.context in the configuration." },
      );
    }
    reuseConnections(kc);
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [requestDefaults(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS)],
    });
    this.clients = {
      objects: new ObjectApi(configuration, kc),
      apps: new AppsV1Api(configuration),
      version: new VersionApi(configuration),
      server: safeOrigin(cluster.server),
    };
    return this.clients;
  }

  /** `action` reads as "<verb> <object> on", completed with the cluster's name. */
  private translate(err: unknown, action: string): DrbotError {
    if (err instanceof DrbotError) return err;
    const on = `${action} Kubernetes cluster "${this.name}"`;
    const fail = (kind: ErrorKind, code: ErrorCode, message: string, hint?: string) =>
      new DrbotError(kind, code, message, { cause: err, ...(hint ? { hint } : {}) });
    if (err instanceof ApiException) {
      const http = err.code as number;
      const status = parseStatus(err.body);
      const said = status.message ?? `HTTP ${http}`;
      const rbac = `check the kubeconfig/RBAC for cluster ${this.name}`;
      // KubernetesObjectApi resolves kinds through discovery first; a 404 there means no such API.
      if (http === 404 && isDiscoveryError(err)) {
        return fail(
          "invalid",
          "kube.unknown_kind",
          `Could not ${on}: the server does not serve that apiVersion (${said}).`,
        );
      }
      if (http === 401) {
        return fail(
          "forbidden",
          "kube.unauthorized",
          `drbot's credentials were rejected (401 Unauthorized) trying to ${on}; ${rbac} (the token may be expired or revoked).`,
        );
      }
      if (http === 409 && status.causes.some((c) => c.reason === "FieldManagerConflict")) {
        return fail(
          "conflict",
          "kube.apply_conflict",
          `Could not ${on}: another field manager owns fields drbot applies. ${said}.`,
          "Someone changed these fields outside drbot; find out who, then re-apply with force to take them over.",
        );
      }
      // Any other 409 is an optimistic-concurrency race (the object changed under us), and a 410
      // an expired watch or list continuation: both go away when asked again.
      if (http === 409) return fail("transient", "kube.conflict", `Could not ${on}: ${said}.`);
      switch (http === 410 ? "transient" : kindOfHttpStatus(http)) {
        case "forbidden":
          return fail(
            "forbidden",
            "kube.forbidden",
            `drbot is not allowed to ${on} (${http}: ${said}); ${rbac}.`,
          );
        case "not_found":
          return fail("not_found", "kube.not_found", `Could not ${on}: ${said}.`);
        case "invalid":
          return fail(
            "invalid",
            http === 422 ? "kube.invalid" : "kube.bad_request",
            `Could not ${on}: the API server rejected it: ${said}.`,
            /immutable/.test(said)
              ? "Fields the server calls immutable only change by deleting and recreating the object."
              : "Fix the manifest (template or Git copy) and retry.",
          );
        case "transient":
          return fail(
            "transient",
            http === 429 ? "kube.throttled" : "kube.server_error",
            `Could not ${on}: the API server answered ${http}: ${said}.`,
            "This is usually temporary; drbot retries it.",
          );
        default:
          return fail(
            "internal",
            "kube.unexpected_status",
            `Could not ${on}: unexpected HTTP ${http}: ${said}.`,
          );
      }
    }
    const server = this.clients?.server ?? "its API server";
    if (isTimeout(err)) {
      const seconds = (this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000;
      return fail(
        "transient",
        "kube.timeout",
        `Could not ${on}: ${server} did not answer within ${seconds} s.`,
      );
    }
    if (isNetworkFailure(err)) {
      return fail(
        "transient",
        "kube.unreachable",
        `Could not ${on}: cannot reach ${server} (${errorText(err)}).`,
        "Check that the API server is up and reachable from drbot (network policy, VPN, DNS).",
      );
    }
    if (err instanceof Error && err.message.startsWith("Unrecognized API version and kind")) {
      return fail(
        "invalid",
        "kube.unknown_kind",
        `Could not ${on}: the server does not serve this kind (${err.message}).`,
      );
    }
    return fail("internal", "kube.unexpected", `Could not ${on}: ${errorText(err)}.`);
  }
}

/** Sets a per-request deadline and names drbot as the client in the server's audit log. */
function requestDefaults(timeoutMs: number): Middleware {
  return {
    pre: async (ctx) => {
      ctx.setSignal(deadline(timeoutMs));
      ctx.setHeaderParam("User-Agent", USER_AGENT);
      return ctx;
    },
    post: async (response) => response,
  };
}

class RequestTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = "RequestTimeout";
  }
}

/**
 * Like AbortSignal.timeout, but fetch rejects with a plain Error: client-node rewrites the message
 * of errors raised during discovery, and assigning to a DOMException's message throws a TypeError.
 */
function deadline(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new RequestTimeout(ms)), ms).unref();
  return controller.signal;
}

function isDiscoveryError(err: ApiException<unknown>): boolean {
  return err.message.startsWith("Failed to fetch resource metadata");
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** The claim names a pod spec (or a pod template's spec) mounts. */
function claimNames(podSpec: Record<string, unknown>): string[] {
  const volumes = Array.isArray(podSpec.volumes) ? podSpec.volumes : [];
  return volumes
    .map((v) => asRecord(asRecord(v).persistentVolumeClaim).claimName)
    .filter((c): c is string => typeof c === "string");
}

function describe(kind: string, name: string, namespace?: string): string {
  return `${kind} "${namespace ? `${namespace}/` : ""}${name}"`;
}

interface StatusBody {
  message?: string;
  causes: { reason?: string }[];
}

/** The Status object the API server sends with errors (the client hands it over as raw text). */
function parseStatus(body: unknown): StatusBody {
  let parsed: unknown = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      // Not a Status: a proxy or load balancer answered. Keep a bounded excerpt.
      const text = body.trim().slice(0, 500);
      return text ? { message: text, causes: [] } : { causes: [] };
    }
  }
  const status = (parsed ?? {}) as { message?: unknown; details?: { causes?: unknown } };
  return {
    ...(typeof status.message === "string" && status.message ? { message: status.message } : {}),
    causes: Array.isArray(status.details?.causes) ? (status.details.causes as { reason?: string }[]) : [],
  };
}

/** Typed client models back to plain JSON, with timestamps as the server wrote them. */
function toPlain(value: unknown): KubeObject {
  return JSON.parse(
    JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
      const raw = this[key];
      return raw instanceof Date ? raw.toISOString().replace(/\.000Z$/, "Z") : v;
    }),
  ) as KubeObject;
}

function isTimeout(err: unknown): boolean {
  return err instanceof RequestTimeout || (err instanceof Error && err.name === "TimeoutError");
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: string; message?: string } | undefined;
  return cause?.code ?? cause?.message ?? err.message;
}

/** Scheme, host and port only: a server URL may carry credentials in its userinfo. */
function safeOrigin(server: string): string {
  try {
    return new URL(server).origin;
  } catch {
    return "its API server";
  }
}

/**
 * client-node 2.0 builds a new undici Agent (a new connection pool) for every request that has
 * TLS options, so each call pays a TCP and TLS handshake. The options come from one kubeconfig
 * and do not change for the life of this KubeConfig, so one dispatcher serves every request.
 * (A rotated client certificate is picked up by a restart, as with the in-cluster token file.)
 */
function reuseConnections(kc: KubeConfig): void {
  const patched = kc as unknown as { createDispatcher: (...args: unknown[]) => unknown };
  const create = patched.createDispatcher.bind(kc);
  let dispatcher: unknown;
  patched.createDispatcher = (...args: unknown[]) => {
    dispatcher ??= create(...args);
    return dispatcher;
  };
}

/**
 * Why a kubeconfig did not load, without quoting it: YAML parsers put the offending lines into
 * their messages, and those lines can hold a bearer token or a client key.
 */
function kubeconfigProblem(err: unknown): string {
  const e = err as { name?: string; code?: string; mark?: { line?: number; column?: number } };
  if (e?.code === "ENOENT") return "the file does not exist";
  if (e?.code === "EACCES") return "the file is not readable";
  if (e?.mark && typeof e.mark.line === "number") {
    return `not valid YAML at line ${e.mark.line + 1}, column ${(e.mark.column ?? 0) + 1}`;
  }
  if (/yaml/i.test(e?.name ?? "")) return "not valid YAML";
  return `not a usable kubeconfig (${e?.name ?? "error"})`;
}
