// The kube fake, driven by the real @kubernetes/client-node through a kubeconfig on disk.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
} from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  ANN_BIND_COMPLETED,
  ANN_BOUND_BY_CONTROLLER,
  type FakeKube,
  kubeStatus,
  PV_PROTECTION,
  PVC_PROTECTION,
  startFakeKube,
} from "../../src/sandbox/stand-ins/kube.ts";

let kube: FakeKube;
let dir: string;
let objects: KubernetesObjectApi;
let core: CoreV1Api;
let apps: AppsV1Api;

async function client(options: { token?: string } = {}): Promise<KubeConfig> {
  const kc = new KubeConfig();
  kc.loadFromFile(await kube.writeKubeconfig(dir, { context: `ctx-${Math.random()}`, ...options }));
  return kc;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kube-fake-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  kube = await startFakeKube({ bindDelayMs: 5 });
  const kc = await client();
  objects = KubernetesObjectApi.makeApiClient(kc);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});
afterEach(async () => {
  await kube.close();
});

/** The Status object of a failed call. */
async function failure(call: Promise<unknown>): Promise<{ code: number; status: Record<string, any> }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiException)) throw new Error(`expected an ApiException, got ${String(err)}`);
  return { code: err.code, status: typeof err.body === "string" ? JSON.parse(err.body) : err.body };
}

async function eventually<T>(
  read: () => T | Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 2000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
}

function pv(
  name: string,
  extra: { server?: string; claim?: [string, string]; labels?: Record<string, string> } = {},
) {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      capacity: { storage: "10Gi" },
      accessModes: ["ReadWriteMany"],
      storageClassName: "",
      persistentVolumeReclaimPolicy: "Retain",
      nfs: { server: extra.server ?? "fs-1.efs.us-east-1.amazonaws.com", path: `/k8s/${name}` },
      ...(extra.claim ? { claimRef: { namespace: extra.claim[0], name: extra.claim[1] } } : {}),
    },
  };
}

function pvc(namespace: string, name: string, volumeName?: string, storage = "10Gi") {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name, namespace },
    spec: {
      accessModes: ["ReadWriteMany"],
      storageClassName: "",
      resources: { requests: { storage } },
      ...(volumeName ? { volumeName } : {}),
    },
  };
}

const apply = (
  obj: KubernetesObject,
  options: { manager?: string; force?: boolean; dryRun?: boolean } = {},
) =>
  objects.patch(
    obj,
    undefined,
    options.dryRun ? "All" : undefined,
    options.manager ?? "drbot",
    options.force,
    PatchStrategy.ServerSideApply,
  );

describe("kube fake: connection", () => {
  it("serves version and discovery to a kubeconfig-configured client", async () => {
    const yaml = parseYaml(kube.kubeconfig({ context: "primary" }));
    expect(yaml["current-context"]).toBe("primary");
    expect(yaml.clusters[0].cluster.server).toBe(kube.url);
    expect(yaml.users[0].user.token).toBe(kube.token);

    const kc = await client();
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe("v1.31.2");
    expect(version.minor).toBe("31");
    // Discovery is what lets KubernetesObjectApi find apps/v1 Deployments.
    const created = await objects.create({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "default" },
      spec: {
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "web", image: "nginx" }] },
        },
      },
    } as KubernetesObject);
    expect(created.metadata?.generation).toBe(1);
    expect(kube.calls("GET", "/apis/apps/v1")).toHaveLength(1);
  });

  it("answers 401 Unauthorized to a wrong bearer token", async () => {
    const kc = await client({ token: "stolen" });
    const { code, status } = await failure(KubernetesObjectApi.makeApiClient(kc).read(pv("x")));
    expect(code).toBe(401);
    expect(status).toMatchObject({ kind: "Status", status: "Failure", reason: "Unauthorized", code: 401 });
  });

  it("lets tests inject faults with Status bodies", async () => {
    kube.injectFault({
      method: "GET",
      path: "/api/v1/persistentvolumes",
      reply: kubeStatus(500, "InternalError", "etcdserver: request timed out"),
      times: 1,
    });
    const { code, status } = await failure(core.listPersistentVolume());
    expect(code).toBe(500);
    expect(status.message).toBe("etcdserver: request timed out");
    expect((await core.listPersistentVolume()).items).toEqual([]);
  });
});

describe("kube fake: server-side apply", () => {
  it("creates, fills server fields, and leaves a no-op re-apply alone", async () => {
    const created = await apply(pv("vol-a"));
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(created.metadata?.managedFields).toMatchObject([{ manager: "drbot", operation: "Apply" }]);
    expect((created as any).status.phase).toBe("Pending");
    kube.reconcile(); // the PV controller makes it Available, which is a write of its own
    const stored = kube.object("PersistentVolume", "vol-a");
    expect(stored?.spec?.volumeMode).toBe("Filesystem");
    const rv = stored?.metadata.resourceVersion;

    const again = await apply(pv("vol-a"));
    expect(again.metadata?.resourceVersion).toBe(rv);
    expect(kube.object("PersistentVolume", "vol-a")?.metadata.managedFields).toEqual(
      stored?.metadata.managedFields,
    );
    expect(kube.applyCount("PersistentVolume", "vol-a")).toBe(2);
  });

  it("merges changes and removes the fields a manager stops applying", async () => {
    await apply(pv("vol-a", { labels: { team: "sales", tier: "gold" } }));
    await apply(pv("vol-a", { labels: { team: "sales" } }));
    const stored = kube.object("PersistentVolume", "vol-a");
    expect(stored?.metadata.labels).toEqual({ team: "sales" });
    expect(stored?.metadata.managedFields?.[0]?.fieldsV1).toMatchObject({
      "f:metadata": { "f:labels": { "f:team": {} } },
      "f:spec": { "f:capacity": { "f:storage": {} }, "f:nfs": { "f:path": {}, "f:server": {} } },
    });
  });

  it("reports field-manager conflicts and takes ownership with force", async () => {
    await objects.create(pv("vol-a"), undefined, undefined, "kubectl-create");
    const changed = pv("vol-a");
    changed.spec.capacity.storage = "20Gi";
    const { code, status } = await failure(apply(changed));
    expect(code).toBe(409);
    expect(status.reason).toBe("Conflict");
    expect(status.message).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .spec.capacity.storage',
    );
    expect(status.details.causes).toEqual([
      {
        reason: "FieldManagerConflict",
        message: 'conflict with "kubectl-create" using v1',
        field: ".spec.capacity.storage",
      },
    ]);

    const forced = await apply(changed, { force: true });
    expect((forced as any).spec.capacity.storage).toBe("20Gi");
    const managers = (kube.object("PersistentVolume", "vol-a")?.metadata.managedFields ?? []).filter(
      (m) => !m.subresource,
    );
    expect(managers.map((m) => `${m.manager}/${m.operation}`)).toEqual([
      "kubectl-create/Update",
      "drbot/Apply",
    ]);
    expect(managers[0]?.fieldsV1).not.toHaveProperty(["f:spec", "f:capacity"]);
    expect(managers[1]?.fieldsV1).toHaveProperty(["f:spec", "f:capacity", "f:storage"]);
  });

  it("stores nothing on dry run, for a create or an update", async () => {
    const dry = await apply(pv("vol-a"), { dryRun: true });
    expect(dry.metadata?.uid).toBeTruthy();
    expect(dry.metadata?.resourceVersion).toBeUndefined();
    expect(kube.object("PersistentVolume", "vol-a")).toBeUndefined();

    await apply(pv("vol-a"));
    kube.reconcile();
    const before = kube.object("PersistentVolume", "vol-a");
    const dryUpdate = await apply(pv("vol-a", { labels: { x: "y" } }), { dryRun: true });
    expect(dryUpdate.metadata?.labels).toEqual({ x: "y" });
    expect(kube.object("PersistentVolume", "vol-a")).toEqual(before);
    expect(kube.applyCount("PersistentVolume", "vol-a")).toBe(1);
  });

  it("requires a field manager for apply", async () => {
    const { code, status } = await failure(
      objects.patch(pv("vol-a"), undefined, undefined, undefined, undefined, PatchStrategy.ServerSideApply),
    );
    expect(code).toBe(422);
    expect(status.message).toBe(
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
  });

  it("refuses namespaced objects in a namespace that does not exist", async () => {
    const { code, status } = await failure(apply(pvc("nowhere", "data")));
    expect(code).toBe(404);
    expect(status).toMatchObject({ reason: "NotFound", message: 'namespaces "nowhere" not found' });
    expect(kube.object("PersistentVolumeClaim", "data", "nowhere")).toBeUndefined();
  });
});

describe("kube fake: validation", () => {
  it("rejects names that are not DNS-1123 with 422 Invalid", async () => {
    const { code, status } = await failure(
      core.createNamespace({ body: { metadata: { name: "sales_team" } } }),
    );
    expect(code).toBe(422);
    expect(status.message).toBe(
      `Namespace "sales_team" is invalid: metadata.name: Invalid value: "sales_team": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    );
    expect(status.details).toMatchObject({ name: "sales_team", kind: "Namespace" });
    expect(status.details.causes[0]).toMatchObject({ reason: "FieldValueInvalid", field: "metadata.name" });
  });

  it("keeps a PersistentVolume's source immutable", async () => {
    await apply(pv("vol-a"));
    const { code, status } = await failure(
      apply(pv("vol-a", { server: "fs-2.efs.us-west-2.amazonaws.com" })),
    );
    expect(code).toBe(422);
    expect(status.message).toBe(
      'PersistentVolume "vol-a" is invalid: spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation',
    );
    expect(kube.object("PersistentVolume", "vol-a")?.spec?.nfs).toMatchObject({
      server: "fs-1.efs.us-east-1.amazonaws.com",
    });
  });

  it("answers 409 AlreadyExists to a second create and Conflict to a stale update", async () => {
    const created = await objects.create(pv("vol-a"));
    const again = await failure(objects.create(pv("vol-a")));
    expect(again.code).toBe(409);
    expect(again.status).toMatchObject({
      reason: "AlreadyExists",
      message: 'persistentvolumes "vol-a" already exists',
    });

    await apply(pv("vol-a", { labels: { a: "b" } }));
    const staleVersion = (created as KubernetesObject).metadata?.resourceVersion;
    expect(kube.object("PersistentVolume", "vol-a")?.metadata.resourceVersion).not.toBe(staleVersion);
    const stale = { ...pv("vol-a"), metadata: { name: "vol-a", resourceVersion: staleVersion } };
    const { code, status } = await failure(objects.replace(stale));
    expect(code).toBe(409);
    expect(status.reason).toBe("Conflict");

    const current = kube.object("PersistentVolume", "vol-a");
    const replaced: KubernetesObject = await objects.replace(
      {
        ...pv("vol-a", { labels: { a: "c" } }),
        metadata: { name: "vol-a", resourceVersion: current?.metadata.resourceVersion, labels: { a: "c" } },
      },
      undefined,
      undefined,
      "kubectl-replace",
    );
    expect(replaced.metadata?.labels).toEqual({ a: "c" });
    expect(replaced.metadata?.uid).toBe(current?.metadata.uid);
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(
      Number(current?.metadata.resourceVersion),
    );
    expect(kube.requestsFor("PersistentVolume", "vol-a").map((r) => r.method)).toEqual([
      "POST",
      "POST",
      "PATCH",
      "PUT",
      "PUT",
    ]);
  });
});

describe("kube fake: PV controller", () => {
  it("binds a statically pre-bound claim after the bind delay", async () => {
    await core.createNamespace({ body: { metadata: { name: "shop" } } });
    await apply(pv("vol-a", { claim: ["shop", "data"] }));
    const available = await eventually(
      () => kube.object("PersistentVolume", "vol-a"),
      (o) => o?.status?.phase === "Available",
    );
    expect(available?.status?.phase).toBe("Available");

    const claim = await apply(pvc("shop", "data", "vol-a"));
    expect((claim as any).status.phase).toBe("Pending");
    const bound = await eventually(
      () => core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: "shop" }),
      (c) => c.status?.phase === "Bound",
    );
    expect(bound.status).toMatchObject({
      phase: "Bound",
      capacity: { storage: "10Gi" },
      accessModes: ["ReadWriteMany"],
    });
    expect(bound.metadata?.annotations).toEqual({ [ANN_BIND_COMPLETED]: "yes" });

    const volume = await core.readPersistentVolume({ name: "vol-a" });
    expect(volume.status?.phase).toBe("Bound");
    expect(volume.spec?.claimRef).toMatchObject({
      name: "data",
      namespace: "shop",
      uid: bound.metadata?.uid,
    });
    expect(volume.spec?.claimRef?.resourceVersion).toBeTruthy();
    // The user set both halves of the binding, so the controller does not claim it.
    expect(volume.metadata?.annotations?.[ANN_BOUND_BY_CONTROLLER]).toBeUndefined();

    // Re-applying drbot's manifests changes nothing the controller filled in.
    const rv = volume.metadata?.resourceVersion;
    await apply(pv("vol-a", { claim: ["shop", "data"] }));
    expect(kube.object("PersistentVolume", "vol-a")?.metadata.resourceVersion).toBe(rv);
  });

  it("marks the volume bound-by-controller when it fills in the claimRef", async () => {
    await apply(pv("vol-a"));
    await apply(pvc("default", "data", "vol-a"));
    const volume = await eventually(
      () => kube.object("PersistentVolume", "vol-a"),
      (o) => o?.status?.phase === "Bound",
    );
    expect(volume?.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER]).toBe("yes");
    expect(volume?.metadata.managedFields?.map((m) => `${m.manager}/${m.subresource ?? ""}`).sort()).toEqual([
      "drbot/",
      "kube-controller-manager/",
      "kube-controller-manager/status",
    ]);
  });

  it("matches a claim without volumeName to the smallest fitting volume, and releases it on delete", async () => {
    await apply(pv("vol-big"));
    const small = pv("vol-small");
    small.spec.capacity.storage = "5Gi";
    await apply(small);
    const tiny = pv("vol-tiny");
    tiny.spec.capacity.storage = "1Gi";
    await apply(tiny);
    kube.reconcile();
    await apply(pvc("default", "data", undefined, "4Gi"));
    const claim = await eventually(
      () => kube.object("PersistentVolumeClaim", "data", "default"),
      (o) => o?.status?.phase === "Bound",
    );
    expect(claim?.spec?.volumeName).toBe("vol-small");
    expect(claim?.status?.capacity).toEqual({ storage: "5Gi" });
    expect(claim?.metadata.annotations).toEqual({
      [ANN_BIND_COMPLETED]: "yes",
      [ANN_BOUND_BY_CONTROLLER]: "yes",
    });

    await objects.delete(pvc("default", "data"));
    const released = await eventually(
      () => kube.object("PersistentVolume", "vol-small"),
      (o) => o?.status?.phase === "Released",
    );
    expect(released?.status?.phase).toBe("Released");
    expect(kube.object("PersistentVolume", "vol-big")?.status?.phase).toBe("Available");
  });

  it("keeps claims Pending while binding is held, globally or per claim", async () => {
    kube.holdBinding("data");
    await apply(pv("vol-a"));
    await apply(pv("vol-b"));
    await apply(pvc("default", "data", "vol-a"));
    await apply(pvc("default", "logs", "vol-b"));
    await eventually(
      () => kube.object("PersistentVolumeClaim", "logs", "default"),
      (o) => o?.status?.phase === "Bound",
    );
    kube.reconcile();
    expect(kube.object("PersistentVolumeClaim", "data", "default")?.status?.phase).toBe("Pending");

    kube.releaseBinding("data");
    const data = await eventually(
      () => kube.object("PersistentVolumeClaim", "data", "default"),
      (o) => o?.status?.phase === "Bound",
    );
    expect(data?.status?.phase).toBe("Bound");
  });

  it("refuses to change a bound claim's spec", async () => {
    kube.holdBinding();
    await apply(pv("vol-a"));
    await apply(pvc("default", "data", "vol-a"));
    kube.releaseBinding();
    kube.reconcile();
    // Growing it: the resize admission refuses a claim without an expandable StorageClass.
    const grow = await failure(apply(pvc("default", "data", "vol-a", "20Gi")));
    expect(grow.code).toBe(403);
    expect(grow.status).toMatchObject({
      reason: "Forbidden",
      message:
        'persistentvolumeclaims "data" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize',
    });
    // Shrinking it: never valid.
    const shrink = await failure(apply(pvc("default", "data", "vol-a", "5Gi")));
    expect(shrink.code).toBe(422);
    expect(shrink.status.message).toBe(
      'PersistentVolumeClaim "data" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value',
    );
    expect(kube.object("PersistentVolumeClaim", "data", "default")?.spec?.resources).toEqual({
      requests: { storage: "10Gi" },
    });
    // The volume's capacity may change.
    const bigger = pv("vol-a");
    bigger.spec.capacity.storage = "20Gi";
    await apply(bigger);
    expect(kube.object("PersistentVolume", "vol-a")?.spec?.capacity).toEqual({ storage: "20Gi" });
    const changedModes = pvc("default", "data", "vol-a");
    changedModes.spec.accessModes = ["ReadWriteOnce"];
    const second = await failure(apply(changedModes));
    expect(second.status.message).toBe(
      'PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
    );
  });
});

describe("kube fake: reads, merge patch and delete", () => {
  it("lists with label selectors and pages with limit/continue", async () => {
    await apply(pv("vol-a", { labels: { site: "primary", team: "a" } }));
    await apply(pv("vol-b", { labels: { site: "primary", team: "b" } }));
    await apply(pv("vol-c", { labels: { site: "secondary" } }));
    const names = async (labelSelector: string) =>
      (await core.listPersistentVolume({ labelSelector })).items.map((i) => i.metadata?.name);
    expect(await names("site=primary")).toEqual(["vol-a", "vol-b"]);
    expect(await names("site==primary,team!=a")).toEqual(["vol-b"]);
    expect(await names("!team")).toEqual(["vol-c"]);
    expect(await names("team in (a, b)")).toEqual(["vol-a", "vol-b"]);

    const first = await core.listPersistentVolume({ limit: 2 });
    expect(first.items.map((i) => i.metadata?.name)).toEqual(["vol-a", "vol-b"]);
    expect(first.metadata?.remainingItemCount).toBe(1);
    const rest = await core.listPersistentVolume({ limit: 2, _continue: first.metadata?._continue });
    expect(rest.items.map((i) => i.metadata?.name)).toEqual(["vol-c"]);
    expect(rest.metadata?._continue).toBeUndefined();

    const raw = await fetch(`${kube.url}/api/v1/persistentvolumes`, {
      headers: { authorization: `Bearer ${kube.token}` },
    }).then((r) => r.json() as Promise<{ kind: string; items: { kind?: string }[] }>);
    expect(raw.kind).toBe("PersistentVolumeList");
    expect(raw.items).toHaveLength(3);
    expect(raw.items[0]).not.toHaveProperty("kind");
  });

  it("applies JSON merge patches and records the Update manager", async () => {
    await apply(pv("vol-a", { labels: { team: "a" } }));
    await objects.patch(
      { apiVersion: "v1", kind: "PersistentVolume", metadata: { name: "vol-a", labels: { team: "b" } } },
      undefined,
      undefined,
      "kubectl-label",
      undefined,
      PatchStrategy.MergePatch,
    );
    const stored = kube.object("PersistentVolume", "vol-a");
    expect(stored?.metadata.labels).toEqual({ team: "b" });
    expect(
      stored?.metadata.managedFields?.filter((m) => !m.subresource).map((m) => `${m.manager}/${m.operation}`),
    ).toEqual(["drbot/Apply", "kubectl-label/Update"]);
    // drbot no longer owns the label, so its next apply conflicts on it.
    const { status } = await failure(apply(pv("vol-a", { labels: { team: "a" } })));
    expect(status.message).toContain('conflict with "kubectl-label" using v1: .metadata.labels.team');
  });

  it("deletes objects, and a namespace's contents with it", async () => {
    await core.createNamespace({ body: { metadata: { name: "shop" } } });
    await apply(pvc("shop", "data"));
    const status = await objects.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } });
    expect(status.status).toBe("Success");
    expect(kube.object("Namespace", "shop")).toBeUndefined();
    expect(kube.objects("PersistentVolumeClaim")).toEqual([]);
    const { code } = await failure(core.readNamespace({ name: "shop" }));
    expect(code).toBe(404);
  });
});

/** A Deployment or StatefulSet whose pods mount the claim `data`. */
function workload(kind: "Deployment" | "StatefulSet", name: string, replicas: number, namespace = "default") {
  return {
    apiVersion: "apps/v1",
    kind,
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      ...(kind === "StatefulSet" ? { serviceName: name } : {}),
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: "app", image: "busybox", volumeMounts: [{ name: "data", mountPath: "/data" }] },
          ],
          volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
        },
      },
    },
  };
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

describe("kube fake: workloads and the scale subresource", () => {
  it("serves Deployments, StatefulSets and their scale subresource in discovery", async () => {
    const list = await apps.getAPIResources();
    const names = list.resources.map((r) => r.name);
    expect(names).toEqual(
      expect.arrayContaining(["deployments", "deployments/scale", "statefulsets", "statefulsets/scale"]),
    );
    expect(list.resources.find((r) => r.name === "statefulsets/scale")).toMatchObject({
      kind: "Scale",
      group: "autoscaling",
      version: "v1",
      verbs: ["get", "patch", "update"],
    });
  });

  it("a StatefulSet gets one Running pod per replica, and scaling to 0 through the subresource removes them", async () => {
    await apply(workload("StatefulSet", "db", 2));

    const ready = await eventually(
      () => apps.readNamespacedStatefulSet({ name: "db", namespace: "default" }),
      (s) => s.status?.readyReplicas === 2,
    );
    expect(ready.status).toMatchObject({ replicas: 2, readyReplicas: 2, observedGeneration: 1 });
    const pods = (await core.listNamespacedPod({ namespace: "default" })).items;
    expect(pods.map((p) => p.metadata?.name)).toEqual(["db-0", "db-1"]);
    expect(pods[0]?.status?.phase).toBe("Running");
    expect(pods[0]?.spec?.volumes).toEqual([{ name: "data", persistentVolumeClaim: { claimName: "data" } }]);
    expect(pods[0]?.metadata?.ownerReferences).toEqual([
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        name: "db",
        uid: ready.metadata?.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(pods[1]?.metadata?.labels).toMatchObject({
      app: "db",
      "statefulset.kubernetes.io/pod-name": "db-1",
    });

    const scale = await apps.readNamespacedStatefulSetScale({ name: "db", namespace: "default" });
    expect(scale).toMatchObject({
      kind: "Scale",
      spec: { replicas: 2 },
      status: { replicas: 2, selector: "app=db" },
    });
    kube.reconcile();
    kube.workloadDelayMs = 60_000; // the controller waits: status has not followed yet
    const patched = await apps.patchNamespacedStatefulSetScale(
      { name: "db", namespace: "default", body: { spec: { replicas: 0 } }, fieldManager: "drbot" },
      mergePatch,
    );
    expect(patched.spec?.replicas).toBe(0);
    const pending = await apps.readNamespacedStatefulSet({ name: "db", namespace: "default" });
    expect([pending.spec?.replicas, pending.status?.replicas]).toEqual([0, 2]);
    expect(kube.podsOf("StatefulSet", "db", "default")).toHaveLength(2);
    kube.reconcile();
    const stopped = await apps.readNamespacedStatefulSet({ name: "db", namespace: "default" });
    expect(stopped.status?.replicas).toBe(0);
    expect(stopped.spec?.replicas).toBe(0);
    expect(stopped.status?.readyReplicas).toBeUndefined();
    expect(stopped.metadata?.generation).toBe(2);
    expect((await core.listNamespacedPod({ namespace: "default" })).items).toEqual([]);
  });

  it("a Deployment scaled by PUT gets pods named after its ReplicaSet; at 0 its status has no counts", async () => {
    await apply(workload("Deployment", "web", 1));
    kube.reconcile(); // the controller's status write would make the scale read below stale
    const scale = await apps.readNamespacedDeploymentScale({ name: "web", namespace: "default" });
    await apps.replaceNamespacedDeploymentScale({
      name: "web",
      namespace: "default",
      body: { ...scale, spec: { replicas: 3 } },
    });

    await eventually(
      () => apps.readNamespacedDeployment({ name: "web", namespace: "default" }),
      (d) => d.status?.readyReplicas === 3,
    );
    const pods = kube.podsOf("Deployment", "web", "default");
    expect(pods).toHaveLength(3);
    const hash = pods[0]?.metadata.labels?.["pod-template-hash"] ?? "";
    for (const p of pods) expect(p.metadata.name).toMatch(new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
    expect(pods[0]?.metadata.ownerReferences).toMatchObject([{ kind: "ReplicaSet", controller: true }]);

    // A stale resourceVersion on PUT is a conflict, a negative count is invalid.
    const stale = await failure(
      apps.replaceNamespacedDeploymentScale({
        name: "web",
        namespace: "default",
        body: { ...scale, spec: { replicas: 1 } },
      }),
    );
    expect(stale.code).toBe(409);
    const negative = await failure(
      apps.patchNamespacedDeploymentScale(
        { name: "web", namespace: "default", body: { spec: { replicas: -1 } } },
        mergePatch,
      ),
    );
    expect(negative.code).toBe(422);
    expect(negative.status.message).toContain(
      "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    );

    await apps.patchNamespacedDeploymentScale(
      { name: "web", namespace: "default", body: { spec: { replicas: 0 } } },
      mergePatch,
    );
    const stopped = await eventually(
      () => apps.readNamespacedDeployment({ name: "web", namespace: "default" }),
      (d) =>
        d.status?.observedGeneration === d.metadata?.generation &&
        kube.podsOf("Deployment", "web", "default").length === 0,
    );
    expect(stopped.status).toEqual({ observedGeneration: stopped.metadata?.generation });
  });

  it("deleting a workload garbage-collects its pods; seeded pods are left alone", async () => {
    kube.seed({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "debug", namespace: "default" },
      spec: { containers: [{ name: "sh", image: "busybox" }] },
    });
    await apply(workload("StatefulSet", "db", 1));
    await eventually(
      () => kube.podsOf("StatefulSet", "db", "default"),
      (p) => p.length === 1,
    );
    await apps.deleteNamespacedStatefulSet({ name: "db", namespace: "default" });
    const left = await eventually(
      async () => (await core.listNamespacedPod({ namespace: "default" })).items.map((p) => p.metadata?.name),
      (names) => names.length === 1,
    );
    expect(left).toEqual(["debug"]);
  });
});

describe("kube fake: storage object in use protection", () => {
  async function boundPair() {
    await apply(pv("vol-a", { claim: ["default", "data"] }));
    await apply(pvc("default", "data", "vol-a"));
    kube.reconcile();
    expect(kube.object("PersistentVolumeClaim", "data", "default")?.status?.phase).toBe("Bound");
  }

  it("adds the protection finalizers on create", async () => {
    await boundPair();
    expect(kube.object("PersistentVolumeClaim", "data", "default")?.metadata.finalizers).toEqual([
      PVC_PROTECTION,
    ]);
    expect(kube.object("PersistentVolume", "vol-a")?.metadata.finalizers).toEqual([PV_PROTECTION]);
  });

  it("a claim a pod mounts stays Terminating until the pod is gone; then its volume goes too", async () => {
    await boundPair();
    kube.seed({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "app", namespace: "default" },
      spec: {
        containers: [{ name: "app", image: "busybox" }],
        volumes: [{ name: "d", persistentVolumeClaim: { claimName: "data" } }],
      },
    });

    const deletedPv = await core.deletePersistentVolume({ name: "vol-a" });
    expect(deletedPv.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    const deleted = await core.deleteNamespacedPersistentVolumeClaim({ name: "data", namespace: "default" });
    // 200 with the object, marked for deletion, still there.
    expect(deleted.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(deleted.metadata?.finalizers).toEqual([PVC_PROTECTION]);
    kube.reconcile();
    const terminating = await core.readNamespacedPersistentVolumeClaim({
      name: "data",
      namespace: "default",
    });
    expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(terminating.status?.phase).toBe("Bound");
    expect(kube.object("PersistentVolume", "vol-a")?.metadata.deletionTimestamp).toBeDefined();

    await core.deleteNamespacedPod({ name: "app", namespace: "default" });
    await eventually(
      () => kube.object("PersistentVolumeClaim", "data", "default"),
      (c) => c === undefined,
    );
    const gone = await eventually(
      () => kube.object("PersistentVolume", "vol-a"),
      (v) => v === undefined,
    );
    expect(gone).toBeUndefined();
    expect((await failure(core.readPersistentVolume({ name: "vol-a" }))).code).toBe(404);
  });

  it("a claim no pod mounts goes right after the controller's pass; a pod of a workload keeps it", async () => {
    await boundPair();
    await apply(workload("Deployment", "web", 1));
    await eventually(
      () => kube.podsOf("Deployment", "web", "default"),
      (p) => p.length === 1,
    );
    await core.deleteNamespacedPersistentVolumeClaim({ name: "data", namespace: "default" });
    kube.reconcile();
    expect(kube.object("PersistentVolumeClaim", "data", "default")?.metadata.deletionTimestamp).toBeDefined();

    await apps.patchNamespacedDeploymentScale(
      { name: "web", namespace: "default", body: { spec: { replicas: 0 } } },
      mergePatch,
    );
    await eventually(
      () => kube.object("PersistentVolumeClaim", "data", "default"),
      (c) => c === undefined,
    );
    // The volume is Released now, no longer protected, and deleted at once by its next delete.
    await eventually(
      () => kube.object("PersistentVolume", "vol-a")?.status?.phase,
      (p) => p === "Released",
    );
    await core.deletePersistentVolume({ name: "vol-a" });
    await eventually(
      () => kube.object("PersistentVolume", "vol-a"),
      (v) => v === undefined,
    );
  });

  it("a claim whose StorageClass allows expansion may grow", async () => {
    kube.seed({
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: { name: "expandable" },
      provisioner: "efs.csi.aws.com",
      allowVolumeExpansion: true,
    });
    const volume = pv("vol-a", { claim: ["default", "data"] });
    volume.spec.storageClassName = "expandable";
    await apply(volume);
    const claim = pvc("default", "data", "vol-a");
    claim.spec.storageClassName = "expandable";
    await apply(claim);
    kube.reconcile();

    claim.spec.resources.requests.storage = "20Gi";
    await apply(claim);
    expect(kube.object("PersistentVolumeClaim", "data", "default")?.spec?.resources).toEqual({
      requests: { storage: "20Gi" },
    });
  });
});

describe("kube fake: RBAC", () => {
  const rules = [
    { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "patch"] },
    { apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["get"] },
  ];

  it("answers 403 Forbidden, worded as the apiserver, to what the role does not grant", async () => {
    kube.setClusterRole({ rules });
    await core.listPersistentVolume();
    // Discovery stays open to every authenticated user.
    expect((await apps.getAPIResources()).groupVersion).toBe("apps/v1");

    const deletion = await failure(core.deletePersistentVolume({ name: "vol-a" }));
    expect(deletion.code).toBe(403);
    expect(deletion.status).toMatchObject({
      kind: "Status",
      reason: "Forbidden",
      message:
        'persistentvolumes "vol-a" is forbidden: User "system:serviceaccount:drbot-access:drbot" cannot delete resource "persistentvolumes" in API group "" at the cluster scope',
      details: { name: "vol-a", kind: "persistentvolumes" },
    });
    const pods = await failure(core.listNamespacedPod({ namespace: "shop" }));
    expect(pods.status.message).toBe(
      'pods is forbidden: User "system:serviceaccount:drbot-access:drbot" cannot list resource "pods" in API group "" in the namespace "shop"',
    );
    const scale = await failure(
      apps.patchNamespacedDeploymentScale(
        { name: "web", namespace: "shop", body: { spec: { replicas: 0 } } },
        mergePatch,
      ),
    );
    expect(scale.status.message).toBe(
      'deployments.apps "web" is forbidden: User "system:serviceaccount:drbot-access:drbot" cannot patch resource "deployments/scale" in API group "apps" in the namespace "shop"',
    );
    // An apply that would create needs create too.
    const create = await failure(apply(pv("vol-a")));
    expect(create.status.message).toContain('cannot create resource "persistentvolumes"');
    expect(kube.objects("PersistentVolume")).toEqual([]);

    kube.setClusterRole(undefined);
    await apply(pv("vol-a"));
    kube.setClusterRole({ rules, user: "alice" });
    await apply(pv("vol-a", { labels: { team: "a" } }));
    const named = await failure(core.deletePersistentVolume({ name: "vol-a" }));
    expect(named.status.message).toContain('User "alice" cannot delete');
  });
});
