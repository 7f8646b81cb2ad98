// The cluster adapter against the kube fake, through kubeconfig files on disk.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { createKubernetesCluster } from "../../src/adapters/kubernetes.ts";
import { DrbotError } from "../../src/core/errors.ts";
import type { ClusterPort, KubeObject } from "../../src/core/ports/cluster.ts";
import { type FakeKube, kubeStatus, startFakeKube } from "../../src/sandbox/stand-ins/kube.ts";
import { documentedClusterRole } from "../support/documented-rbac.ts";

let kube: FakeKube;
let dir: string;
let cluster: ClusterPort;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kube-adapter-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  kube = await startFakeKube({ bindDelayMs: 5 });
  cluster = createKubernetesCluster({ name: "primary", kubeconfig: await kube.writeKubeconfig(dir) });
});
afterEach(async () => {
  await kube.close();
});

async function rejection(call: Promise<unknown>): Promise<DrbotError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DrbotError)) throw new Error(`expected a DrbotError, got ${String(err)}`);
  return err;
}

function pv(
  name: string,
  server = "fs-0aaa1111.efs.us-east-1.amazonaws.com",
  labels?: Record<string, string>,
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name, ...(labels ? { labels } : {}) },
    spec: {
      capacity: { storage: "10Gi" },
      accessModes: ["ReadWriteMany"],
      storageClassName: "",
      persistentVolumeReclaimPolicy: "Retain",
      nfs: { server, path: `/k8s-static-volumes/${name}` },
      claimRef: { namespace: "shipping-dev", name: "data" },
    },
  };
}

function pvc(volumeName: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "data", namespace: "shipping-dev" },
    spec: {
      accessModes: ["ReadWriteMany"],
      storageClassName: "",
      resources: { requests: { storage: "10Gi" } },
      volumeName,
    },
  };
}

const VOLUME = "sales.shipping.shipping-dev.data";

describe("kubernetes adapter: apply", () => {
  it("creates with server-side apply as drbot, and a re-apply changes nothing", async () => {
    const created = await cluster.apply(pv(VOLUME));
    expect(created.metadata.uid).toBeTruthy();
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const [request] = kube.calls("PATCH", `/api/v1/persistentvolumes/${VOLUME}`);
    expect(request?.headers["content-type"]).toBe("application/apply-patch+yaml");
    expect(request?.query.get("fieldManager")).toBe("drbot");

    kube.reconcile(); // let the PV controller settle the new volume first
    const before = kube.object("PersistentVolume", VOLUME)?.metadata.resourceVersion;
    const again = await cluster.apply(pv(VOLUME));
    expect(again.metadata.resourceVersion).toBe(before);
    expect(kube.object("PersistentVolume", VOLUME)?.metadata.resourceVersion).toBe(before);
    expect(kube.applyCount("PersistentVolume", VOLUME)).toBe(2);
  });

  it("does not store anything on a dry run", async () => {
    const result = await cluster.apply(pv(VOLUME), { dryRun: true });
    expect(result.metadata.name).toBe(VOLUME);
    expect(result.metadata.resourceVersion).toBeUndefined();
    expect(kube.object("PersistentVolume", VOLUME)).toBeUndefined();
    expect(kube.calls("PATCH", `/api/v1/persistentvolumes/${VOLUME}`)[0]?.query.get("dryRun")).toBe("All");
  });

  it("reports an immutable field as invalid with the server's message", async () => {
    await cluster.apply(pv(VOLUME));
    const err = await rejection(cluster.apply(pv(VOLUME, "fs-0bbb2222.efs.us-west-2.amazonaws.com")));
    expect(err.kind).toBe("invalid");
    expect(err.code).toBe("kube.invalid");
    expect(err.message).toContain(`PersistentVolume "${VOLUME}"`);
    expect(err.message).toContain(
      "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation",
    );
    expect(err.message).toContain('cluster "primary"');
  });

  it("reports a field owned by someone else as a conflict, and force takes it over", async () => {
    await cluster.apply(pv(VOLUME, undefined, { team: "sales" }));
    const changed = pv(VOLUME, undefined, { team: "ops" });
    // Someone relabels the volume by hand.
    const edited = await fetch(`${kube.url}/api/v1/persistentvolumes/${VOLUME}?fieldManager=kubectl-label`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${kube.token}`, "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ metadata: { labels: { team: "finance" } } }),
    });
    expect(edited.status).toBe(200);
    const err = await rejection(cluster.apply(changed));
    expect(err.kind).toBe("conflict");
    expect(err.code).toBe("kube.apply_conflict");
    expect(err.message).toContain('conflict with "kubectl-label"');

    const forced = await cluster.apply(changed, { force: true });
    expect(forced.metadata.labels).toEqual({ team: "ops" });
  });

  it("reports a namespace that does not exist as not_found", async () => {
    const err = await rejection(cluster.apply(pvc(VOLUME)));
    expect(err.kind).toBe("not_found");
    expect(err.message).toContain('namespaces "shipping-dev" not found');
  });
});

describe("kubernetes adapter: reads and namespaces", () => {
  it("creates a namespace once and then reports that it exists", async () => {
    expect(await cluster.ensureNamespace("shipping-dev", { "drbot.io/business-unit": "sales" })).toBe(
      "created",
    );
    expect(kube.object("Namespace", "shipping-dev")?.metadata.labels).toMatchObject({
      "drbot.io/business-unit": "sales",
    });
    const writes = kube.requests.filter((r) => r.method === "PATCH").length;
    expect(await cluster.ensureNamespace("shipping-dev", { "drbot.io/business-unit": "sales" })).toBe(
      "exists",
    );
    expect(kube.requests.filter((r) => r.method === "PATCH").length).toBe(writes);

    // An existing namespace is left as it is: the labels mark the namespaces drbot creates.
    expect(await cluster.ensureNamespace("default", { "drbot.io/tenant": "sales" })).toBe("exists");
    expect(kube.object("Namespace", "default")?.metadata.labels?.["drbot.io/tenant"]).toBeUndefined();
  });

  it("refuses to use a namespace that is being deleted", async () => {
    kube.seed(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "old" } },
      { status: { phase: "Terminating" } },
    );
    const err = await rejection(cluster.ensureNamespace("old"));
    expect(err.kind).toBe("conflict");
    expect(err.code).toBe("kube.namespace_terminating");
  });

  it("gets objects, null when absent, and sees a claim bind", async () => {
    expect(await cluster.get("PersistentVolume", VOLUME)).toBeNull();
    await cluster.ensureNamespace("shipping-dev");
    await cluster.apply(pv(VOLUME));
    await cluster.apply(pvc(VOLUME));
    let claim: KubeObject | null = null;
    for (let i = 0; i < 200; i++) {
      claim = await cluster.get("PersistentVolumeClaim", "data", "shipping-dev");
      if ((claim?.status as { phase?: string } | undefined)?.phase === "Bound") break;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(claim?.status).toMatchObject({ phase: "Bound", capacity: { storage: "10Gi" } });
    const volume = await cluster.get("PersistentVolume", VOLUME);
    expect(volume?.status).toMatchObject({ phase: "Bound" });
    expect(volume?.spec).toMatchObject({ claimRef: { name: "data", uid: claim?.metadata.uid } });
  });

  it("lists PersistentVolumes by label, page by page, with kind and apiVersion on each", async () => {
    for (let i = 0; i < 501; i++) {
      kube.seed(pv(`vol-${String(i).padStart(3, "0")}`, undefined, { "drbot.io/site": "primary" }));
    }
    kube.seed(pv("elsewhere", undefined, { "drbot.io/site": "secondary" }));
    const listed = await cluster.list("PersistentVolume", "drbot.io/site=primary");
    expect(listed).toHaveLength(501);
    expect(listed[0]).toMatchObject({
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: "vol-000" },
    });
    expect(kube.calls("GET", "/api/v1/persistentvolumes")).toHaveLength(2);
    expect(await cluster.list("PersistentVolume")).toHaveLength(502);
  });

  it("reuses connections instead of opening one per request", async () => {
    await cluster.ensureNamespace("reuse");
    const before = kube.http.connections;
    const pvc = (i: number) => ({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: `c${i}`, namespace: "reuse" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    for (let i = 0; i < 30; i++) await cluster.apply(pvc(i));
    // Sequential calls: client-node 2.0 alone would open 30 connections.
    expect(kube.http.connections - before).toBeLessThanOrEqual(2);
  });

  it("reports the server version", async () => {
    expect(await cluster.version()).toBe("v1.31.2");
  });
});

/** A Deployment or StatefulSet whose pods mount `claims`. */
function workload(
  kind: "Deployment" | "StatefulSet",
  namespace: string,
  name: string,
  replicas: number,
  claims: string[],
) {
  return {
    apiVersion: "apps/v1",
    kind,
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: "app", image: "busybox" }],
          volumes: [
            { name: "scratch", emptyDir: {} },
            ...claims.map((c) => ({ name: c, persistentVolumeClaim: { claimName: c } })),
          ],
        },
      },
    },
  };
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("kubernetes adapter: workloads, pods, scale and deletes", () => {
  beforeEach(() => {
    for (const ns of ["shop", "crm"])
      kube.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    kube.seed(workload("Deployment", "shop", "web", 2, ["data"]));
    kube.seed(workload("StatefulSet", "shop", "db", 1, ["db-data", "data"]));
    kube.seed(workload("Deployment", "crm", "api", 3, []));
  });

  it("lists Deployments and StatefulSets with replicas and the claims they mount, per namespace or everywhere", async () => {
    await until(
      () => cluster.listWorkloads(),
      (w) => w.every((x) => x.statusReplicas === x.replicas),
    );

    expect(await cluster.listWorkloads(["shop"])).toEqual([
      {
        kind: "Deployment",
        namespace: "shop",
        name: "web",
        replicas: 2,
        statusReplicas: 2,
        claims: ["data"],
      },
      {
        kind: "StatefulSet",
        namespace: "shop",
        name: "db",
        replicas: 1,
        statusReplicas: 1,
        claims: ["db-data", "data"],
      },
    ]);
    kube.clearRequests();
    const everywhere = await cluster.listWorkloads();
    expect(everywhere.map((w) => `${w.kind}/${w.namespace}/${w.name}`).sort()).toEqual([
      "Deployment/crm/api",
      "Deployment/shop/web",
      "StatefulSet/shop/db",
    ]);
    expect(kube.calls("GET", "/apis/apps/v1/deployments")).toHaveLength(1);
    expect(await cluster.listWorkloads(["empty-namespace"])).toEqual([]);
  });

  it("scales through the scale subresource; status follows, and 0 reads as 0", async () => {
    await cluster.scale("Deployment", "shop", "web", 0);
    await cluster.scale("StatefulSet", "shop", "db", 0);

    const [patch] = kube.calls("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale");
    expect(patch?.headers["content-type"]).toBe("application/merge-patch+json");
    expect(JSON.parse(patch?.body ?? "{}")).toEqual({ spec: { replicas: 0 } });
    const stopped = await until(
      () => cluster.listWorkloads(["shop"]),
      (w) => w.every((x) => x.statusReplicas === 0),
    );
    expect(stopped.map((w) => [w.name, w.replicas, w.statusReplicas])).toEqual([
      ["web", 0, 0],
      ["db", 0, 0],
    ]);
    expect(await cluster.listPods("shop")).toEqual([]);

    await cluster.scale("StatefulSet", "shop", "db", 1);
    const pods = await until(
      () => cluster.listPods("shop"),
      (p) => p.length === 1,
    );
    expect(pods).toEqual([
      { namespace: "shop", name: "db-0", phase: "Running", claims: ["db-data", "data"], terminating: false },
    ]);
  });

  it("scaling a workload that does not exist is not_found; a negative count is invalid", async () => {
    const missing = await rejection(cluster.scale("Deployment", "shop", "nope", 0));
    expect([missing.kind, missing.code]).toEqual(["not_found", "kube.not_found"]);
    expect(missing.message).toContain('Deployment "shop/nope"');
    const negative = await rejection(cluster.scale("StatefulSet", "shop", "db", -1));
    expect([negative.kind, negative.code]).toEqual(["invalid", "kube.invalid"]);
  });

  it("gets the new kinds", async () => {
    expect((await cluster.get("StatefulSet", "db", "shop"))?.kind).toBe("StatefulSet");
    expect((await cluster.get("Deployment", "web", "shop"))?.apiVersion).toBe("apps/v1");
    await until(
      () => cluster.get("Pod", "db-0", "shop"),
      (p) => p !== null,
    );
    expect(await cluster.get("Pod", "db-9", "shop")).toBeNull();
  });

  it("deletes a claim: Terminating while a pod mounts it, gone after; a second delete finds it absent", async () => {
    await cluster.apply(pv(VOLUME));
    await cluster.ensureNamespace("shipping-dev");
    await cluster.apply(pvc(VOLUME));
    kube.reconcile();
    kube.seed({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "app", namespace: "shipping-dev" },
      spec: {
        containers: [{ name: "app", image: "busybox" }],
        volumes: [{ name: "d", persistentVolumeClaim: { claimName: "data" } }],
      },
    });

    expect(await cluster.ensureDeleted("PersistentVolumeClaim", "data", "shipping-dev")).toBe("deleted");
    expect(await cluster.ensureDeleted("PersistentVolume", VOLUME)).toBe("deleted");
    kube.reconcile();
    const claim = await cluster.get("PersistentVolumeClaim", "data", "shipping-dev");
    expect(claim?.metadata.deletionTimestamp).toEqual(expect.any(String));
    expect(await cluster.listPods("shipping-dev")).toMatchObject([
      { name: "app", claims: ["data"], terminating: false },
    ]);
    // Asking again while it is Terminating is harmless.
    expect(await cluster.ensureDeleted("PersistentVolumeClaim", "data", "shipping-dev")).toBe("deleted");

    await fetch(`${kube.url}/api/v1/namespaces/shipping-dev/pods/app`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${kube.token}` },
    });
    await until(
      () => cluster.get("PersistentVolume", VOLUME),
      (v) => v === null,
    );
    expect(await cluster.get("PersistentVolumeClaim", "data", "shipping-dev")).toBeNull();
    expect(await cluster.ensureDeleted("PersistentVolumeClaim", "data", "shipping-dev")).toBe("absent");
    expect(await cluster.ensureDeleted("PersistentVolume", VOLUME)).toBe("absent");
  });

  it("every call drbot makes works under the ClusterRole docs/operations.md documents", async () => {
    kube.setClusterRole(documentedClusterRole());

    await cluster.ensureNamespace("shipping-dev", { "drbot.io/tenant": "sales" });
    await cluster.ensureNamespace("shop", { "drbot.io/tenant": "sales" });
    await cluster.apply(pv(VOLUME), { dryRun: true });
    await cluster.apply(pv(VOLUME));
    await cluster.apply(pvc(VOLUME));
    expect(await cluster.get("PersistentVolumeClaim", "data", "shipping-dev")).not.toBeNull();
    expect(await cluster.list("PersistentVolume")).toHaveLength(1);
    expect(await cluster.listWorkloads()).toHaveLength(3);
    expect(await cluster.listWorkloads(["shop"])).toHaveLength(2);
    expect((await cluster.get("Deployment", "web", "shop"))?.kind).toBe("Deployment");
    await cluster.listPods("shop");
    await cluster.scale("Deployment", "shop", "web", 0);
    await cluster.scale("StatefulSet", "shop", "db", 0);
    expect(await cluster.ensureDeleted("PersistentVolumeClaim", "data", "shipping-dev")).toBe("deleted");
    expect(await cluster.ensureDeleted("PersistentVolume", VOLUME)).toBe("deleted");
    expect(await cluster.version()).toMatch(/^v1\./);

    // And nothing more: the role does not let drbot delete a namespace or write a Deployment.
    const namespace = await fetch(`${kube.url}/api/v1/namespaces/shop`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${kube.token}` },
    });
    expect(namespace.status).toBe(403);
    const write = await rejection(cluster.apply(workload("Deployment", "shop", "web", 1, [])));
    expect(write.code).toBe("kube.forbidden");
  });

  it("a delete the role does not grant is forbidden and names the verb", async () => {
    kube.setClusterRole({
      rules: [{ apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list"] }],
    });
    const err = await rejection(cluster.ensureDeleted("PersistentVolume", VOLUME));
    expect([err.kind, err.code]).toEqual(["forbidden", "kube.forbidden"]);
    expect(err.message).toContain('cannot delete resource "persistentvolumes"');
  });
});

describe("kubernetes adapter: connection and errors", () => {
  it("calls a rejected token forbidden, pointing at the kubeconfig, without leaking it", async () => {
    const path = await kube.writeKubeconfig(dir, { context: "bad-token", token: "sha256~not-the-token" });
    const bad = createKubernetesCluster({ name: "primary", kubeconfig: path });
    const err = await rejection(bad.version());
    expect(err.kind).toBe("forbidden");
    expect(err.code).toBe("kube.unauthorized");
    expect(err.message).toContain("check the kubeconfig/RBAC for cluster primary");
    expect(err.message).not.toContain("not-the-token");
  });

  it("calls 403 forbidden and quotes the server", async () => {
    kube.injectFault({
      method: "PATCH",
      reply: kubeStatus(
        403,
        "Forbidden",
        'persistentvolumes "x" is forbidden: User "system:serviceaccount:drbot:drbot" cannot patch resource "persistentvolumes"',
      ),
    });
    const err = await rejection(cluster.apply(pv(VOLUME)));
    expect(err.kind).toBe("forbidden");
    expect(err.message).toContain('cannot patch resource "persistentvolumes"');
    expect(err.message).toContain("check the kubeconfig/RBAC for cluster primary");
  });

  it("calls 5xx, throttling, resets and timeouts transient", async () => {
    kube.injectFault({
      method: "GET",
      reply: kubeStatus(500, "InternalError", "etcdserver: leader changed"),
      times: 1,
    });
    const err500 = await rejection(cluster.get("PersistentVolume", VOLUME));
    expect(err500.kind).toBe("transient");
    expect(err500.message).toContain("etcdserver: leader changed");
    expect(await cluster.get("PersistentVolume", VOLUME)).toBeNull();

    kube.injectFault({
      method: "GET",
      reply: kubeStatus(429, "TooManyRequests", "too many requests"),
      times: 1,
    });
    expect(await rejection(cluster.get("PersistentVolume", VOLUME))).toMatchObject({
      kind: "transient",
      code: "kube.throttled",
    });

    kube.injectFault({ method: "GET", reply: "reset", times: 1 });
    expect(await rejection(cluster.get("PersistentVolume", VOLUME))).toMatchObject({
      kind: "transient",
      code: "kube.unreachable",
    });

    const impatient = createKubernetesCluster({
      name: "primary",
      kubeconfig: await kube.writeKubeconfig(dir),
      timeoutMs: 100,
    });
    kube.injectFault({
      method: "GET",
      path: "/version",
      reply: { status: 200, body: {} },
      delayMs: 1000,
      times: 1,
    });
    expect(await rejection(impatient.version())).toMatchObject({ kind: "transient", code: "kube.timeout" });
    // The first object request goes through discovery, where the client rewrites error messages.
    kube.injectFault({ path: "/api/v1", reply: { status: 200, body: {} }, delayMs: 1000, times: 1 });
    expect(await rejection(impatient.get("PersistentVolume", VOLUME))).toMatchObject({
      kind: "transient",
      code: "kube.timeout",
    });
  });

  it("calls an API server that is down transient", async () => {
    await kube.close();
    const err = await rejection(cluster.version());
    expect(err.kind).toBe("transient");
    expect(err.code).toBe("kube.unreachable");
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("uses the configured context of a kubeconfig with several", async () => {
    const secondary = await startFakeKube();
    try {
      const merged = parseYaml(kube.kubeconfig({ context: "rosa-primary" }));
      const other = parseYaml(secondary.kubeconfig({ context: "rosa-secondary" }));
      for (const key of ["clusters", "users", "contexts"]) merged[key].push(...other[key]);
      const path = join(dir, "merged.kubeconfig");
      await writeFile(path, stringifyYaml(merged));

      const chosen = createKubernetesCluster({
        name: "secondary",
        kubeconfig: path,
        context: "rosa-secondary",
      });
      await chosen.apply(pv(VOLUME));
      expect(secondary.object("PersistentVolume", VOLUME)).toBeDefined();
      expect(kube.object("PersistentVolume", VOLUME)).toBeUndefined();

      const current = createKubernetesCluster({ name: "primary", kubeconfig: path });
      await current.apply(pv(VOLUME));
      expect(kube.object("PersistentVolume", VOLUME)).toBeDefined();

      const missing = createKubernetesCluster({ name: "secondary", kubeconfig: path, context: "nope" });
      const err = await rejection(missing.version());
      expect(err.kind).toBe("invalid");
      expect(err.code).toBe("kube.context_not_found");
      expect(err.message).toContain("rosa-primary, rosa-secondary");
    } finally {
      await secondary.close();
    }
  });

  it("falls back to $KUBECONFIG when no kubeconfig is configured", async () => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = await kube.writeKubeconfig(dir, { context: "from-env" });
    try {
      expect(await createKubernetesCluster({ name: "primary" }).version()).toBe("v1.31.2");
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it("explains a kubeconfig that cannot be read", async () => {
    const err = await rejection(
      createKubernetesCluster({ name: "primary", kubeconfig: join(dir, "missing.kubeconfig") }).version(),
    );
    expect(err.kind).toBe("invalid");
    expect(err.code).toBe("kube.kubeconfig_unreadable");
    expect(err.message).toContain("missing.kubeconfig");
  });
});
