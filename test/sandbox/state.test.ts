// The sandbox's saved state: what a restart rebuilds on fresh stand-ins is what was there, bound
// pairs stay Bound (the claims get new uids and the volumes follow them), and a damaged state file
// is refused with a reason instead of half-restored.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeEfs, startFakeEfs } from "../../src/sandbox/stand-ins/efs.ts";
import { type FakeKube, startFakeKube } from "../../src/sandbox/stand-ins/kube.ts";
import { loadState, restoreState, saveState, snapshotState } from "../../src/sandbox/state.ts";

const PRIMARY = "fs-0aaa1111";
const SECONDARY = "fs-0bbb2222";

function volume(kube: FakeKube, ns: string, name: string) {
  if (!kube.object("Namespace", ns))
    kube.seed({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { "drbot.io/tenant": "sales" } },
    });
  kube.seed(
    {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `sales.app.${ns}.${name}` },
      spec: {
        capacity: { storage: "5Gi" },
        accessModes: ["ReadWriteMany"],
        persistentVolumeReclaimPolicy: "Retain",
        storageClassName: "",
        nfs: { server: "fs-0aaa1111.efs.us-east-1.amazonaws.com", path: `/k8s-static-volumes/${name}` },
        claimRef: { kind: "PersistentVolumeClaim", apiVersion: "v1", namespace: ns, name },
      },
    },
    { manager: "drbot" },
  );
  kube.seed(
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name, namespace: ns },
      spec: {
        accessModes: ["ReadWriteMany"],
        storageClassName: "",
        volumeName: `sales.app.${ns}.${name}`,
        resources: { requests: { storage: "5Gi" } },
      },
    },
    { manager: "drbot" },
  );
}

const phases = (kube: FakeKube) =>
  [
    ...kube.objects("PersistentVolume").map((o) => `PV ${o.metadata.name} ${o.status?.phase}`),
    ...kube
      .objects("PersistentVolumeClaim")
      .map((o) => `PVC ${o.metadata.namespace}/${o.metadata.name} ${o.status?.phase}`),
  ].sort();

describe("sandbox state", () => {
  let dir: string;
  const open: Array<{ close(): Promise<void> }> = [];
  let efs: FakeEfs;
  let kube: { primary: FakeKube; secondary: FakeKube };

  const fresh = async () => {
    const e = await startFakeEfs();
    const k = {
      primary: await startFakeKube({ bindDelayMs: 1 }),
      secondary: await startFakeKube({ bindDelayMs: 1 }),
    };
    open.push(e, k.primary, k.secondary);
    return { efs: e, kube: k };
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "drbot-state-"));
    ({ efs, kube } = await fresh());
    efs.addFileSystem({ id: PRIMARY, region: "us-east-1", name: "p", mountTargets: 2 });
    efs.addFileSystem({
      id: SECONDARY,
      region: "us-west-2",
      overwriteProtection: "DISABLED",
      mountTargets: 1,
    });
    efs.addReplication({
      sourceFileSystemId: PRIMARY,
      destinationFileSystemId: SECONDARY,
      lastReplicatedTimestamp: new Date("2026-11-01T10:00:00Z"),
      creationTime: new Date("2026-10-01T00:00:00Z"),
    });
    volume(kube.primary, "shop-prod", "data");
    volume(kube.primary, "shop-prod", "logs");
    volume(kube.secondary, "shop-dev", "cache");
    kube.primary.reconcile();
    kube.secondary.reconcile();
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("rebuilds file systems, replication and both clusters, with bound pairs still Bound", async () => {
    expect(phases(kube.primary)).toEqual([
      "PV sales.app.shop-prod.data Bound",
      "PV sales.app.shop-prod.logs Bound",
      "PVC shop-prod/data Bound",
      "PVC shop-prod/logs Bound",
    ]);
    const path = join(dir, "state.json");
    await saveState(
      path,
      snapshotState({
        efs,
        kube,
        fileSystemIds: [PRIMARY, SECONDARY],
        controls: { primaryDown: true, fallingBehind: false },
      }),
    );
    const loaded = await loadState(path);
    expect(loaded?.controls).toEqual({ primaryDown: true, fallingBehind: false });

    const after = await fresh();
    expect(restoreState(loaded!, after)).toEqual([]);
    after.kube.primary.reconcile();
    after.kube.secondary.reconcile();

    expect(phases(after.kube.primary)).toEqual(phases(kube.primary));
    expect(phases(after.kube.secondary)).toEqual(phases(kube.secondary));
    const pvc = after.kube.primary.object("PersistentVolumeClaim", "data", "shop-prod");
    const pv = after.kube.primary.object("PersistentVolume", "sales.app.shop-prod.data");
    expect((pv?.spec?.claimRef as { uid?: string } | undefined)?.uid).toBe(pvc?.metadata.uid);
    expect(pvc?.metadata.uid).not.toBe(
      kube.primary.object("PersistentVolumeClaim", "data", "shop-prod")?.metadata.uid,
    );
    expect(after.kube.primary.object("Namespace", "shop-prod")?.metadata.labels).toMatchObject({
      "drbot.io/tenant": "sales",
    });

    expect(after.efs.fileSystem(PRIMARY)).toMatchObject({ region: "us-east-1", name: "p", mountTargets: 2 });
    expect(after.efs.fileSystem(SECONDARY)).toMatchObject({
      overwriteProtection: "REPLICATING",
      writable: false,
    });
    const rep = after.efs.replicationOf(PRIMARY);
    expect(rep?.destinations[0]).toMatchObject({
      fileSystemId: SECONDARY,
      status: "ENABLED",
      lastReplicatedTimestamp: new Date("2026-11-01T10:00:00Z"),
    });
    expect(rep?.creationTime).toEqual(new Date("2026-10-01T00:00:00Z"));
  });

  it("takes a deletion under way as finished: no replication, the destination writable", async () => {
    efs.setDeletionBehaviour({ never: true });
    const { DeleteReplicationConfigurationCommand, EFSClient } = await import("@aws-sdk/client-efs");
    const client = new EFSClient({
      region: "us-west-2",
      endpoint: efs.endpointFor("us-west-2"),
      credentials: efs.credentials,
    });
    await client.send(new DeleteReplicationConfigurationCommand({ SourceFileSystemId: SECONDARY }));
    client.destroy();
    const snapshot = snapshotState({
      efs,
      kube,
      fileSystemIds: [PRIMARY, SECONDARY],
      controls: { primaryDown: false, fallingBehind: false },
    });
    expect(snapshot.efs.replications[0]?.deleting).toBe(true);
    const after = await fresh();
    expect(restoreState(JSON.parse(JSON.stringify(snapshot)), after)).toEqual([]);
    expect(after.efs.replicationOf(PRIMARY)).toBeUndefined();
    expect(after.efs.fileSystem(SECONDARY)).toMatchObject({ overwriteProtection: "ENABLED", writable: true });
  });

  it("refuses a damaged state file with the reason, and reads a missing one as no state", async () => {
    const path = join(dir, "state.json");
    expect(await loadState(path)).toBeUndefined();
    await writeFile(path, "{ not json");
    await expect(loadState(path)).rejects.toThrow(/is not valid JSON .*start with --reset/);
    await writeFile(path, JSON.stringify({ version: 1, savedAt: "yesterday" }));
    await expect(loadState(path)).rejects.toThrow(
      /is not a sandbox state file \(savedAt: .*start with --reset/,
    );
  });
});
