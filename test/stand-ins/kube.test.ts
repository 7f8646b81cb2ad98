// The kube fake, driven by the real @kubernetes/client-node through a kubeconfig on disk.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  VersionApi,
} from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  ANN_BIND_COMPLETED,
  ANN_BOUND_BY_CONTROLLER,
  type FakeKube,
  kubeStatus,
  startFakeKube,
} from "../../src/sandbox/stand-ins/kube.ts";

let kube: FakeKube;
let dir: string;
let objects: KubernetesObjectApi;
let core: CoreV1Api;

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
    const { code, status } = await failure(apply(pvc("default", "data", "vol-a", "20Gi")));
    expect(code).toBe(422);
    expect(status.message).toContain('PersistentVolumeClaim "data" is invalid');
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
