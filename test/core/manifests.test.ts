import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  checkVolumePair,
  LABELS,
  parseManifests,
  parseTemplate,
  renderTemplate,
  rewriteForSite,
  serializeManifests,
  type TemplateValues,
} from "../../src/core/manifests.ts";
import type { KubeObject } from "../../src/core/ports/cluster.ts";

const load = (name: string) => {
  const path = new URL(`../../templates/${name}`, import.meta.url);
  return parseTemplate(readFileSync(path, "utf8"), path.pathname);
};
const nfs = load("pv-pvc.nfs.yaml");
const csi = load("pv-pvc.efs-csi.yaml");

const values: TemplateValues = {
  pv_name: "sales.shipping.shipping-dev.data",
  pvc_name: "data",
  namespace: "shipping-dev",
  business_unit: "sales",
  application: "shipping",
  cluster_name: "rosa-primary",
  site: "primary",
  size: "10Gi",
  nfs_server: "fs-0aaa1111.efs.us-east-1.amazonaws.com",
  nfs_path: "/k8s-static-volumes/sales/shipping/shipping-dev/data",
  file_system_id: "fs-0aaa1111",
};
const primary = {
  hostname: values.nfs_server,
  fileSystemId: "fs-0aaa1111",
  clusterName: "rosa-primary",
  site: "primary" as const,
};
const secondary = {
  hostname: "fs-0bbb2222.efs.us-west-2.amazonaws.com",
  fileSystemId: "fs-0bbb2222",
  clusterName: "rosa-secondary",
  site: "secondary" as const,
};

const spec = (o: KubeObject) => o.spec as Record<string, any>;

describe("rendering the NFS template", () => {
  const [pv, pvc] = renderTemplate(nfs, values) as [KubeObject, KubeObject];

  it("produces a statically bound, retained PV and its PVC", () => {
    expect(pv.kind).toBe("PersistentVolume");
    expect(pv.metadata.name).toBe("sales.shipping.shipping-dev.data");
    expect(spec(pv)).toMatchObject({
      capacity: { storage: "10Gi" },
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: "",
      nfs: {
        server: "fs-0aaa1111.efs.us-east-1.amazonaws.com",
        path: "/k8s-static-volumes/sales/shipping/shipping-dev/data",
      },
      claimRef: { name: "data", namespace: "shipping-dev" },
    });
    expect(pvc).toMatchObject({
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: "shipping-dev" },
      spec: {
        storageClassName: "",
        volumeName: "sales.shipping.shipping-dev.data",
        resources: { requests: { storage: "10Gi" } },
      },
    });
    expect(checkVolumePair([pv, pvc]).pv).toBe(pv);
  });

  it("uses the mount options AWS recommends for EFS", () => {
    expect(spec(pv).mountOptions).toEqual([
      "nfsvers=4.1",
      "rsize=1048576",
      "wsize=1048576",
      "hard",
      "timeo=600",
      "retrans=2",
      "noresvport",
    ]);
  });

  it("labels both objects with business unit, application and cluster", () => {
    for (const o of [pv, pvc]) {
      expect(o.metadata.labels).toMatchObject({
        [LABELS.businessUnit]: "sales",
        [LABELS.application]: "shipping",
        [LABELS.cluster]: "rosa-primary",
        [LABELS.managedBy]: "drbot",
      });
    }
  });

  it("keeps a value with YAML syntax a plain string, in the structure and after serializing", () => {
    const hostile = { ...values, application: "x\nkind: Secret\n---\nevil: [1", nfs_path: "/a: b # c" };
    const objects = renderTemplate(nfs, hostile);
    expect(objects[0]?.metadata.labels?.[LABELS.application]).toBe(hostile.application);
    const reparsed = parseManifests(serializeManifests(objects));
    expect(reparsed).toHaveLength(2);
    expect(reparsed.map((o) => o.kind)).toEqual(["PersistentVolume", "PersistentVolumeClaim"]);
    expect(spec(reparsed[0] as KubeObject).nfs.path).toBe("/a: b # c");
  });

  it("does not share state between renders", () => {
    const a = renderTemplate(nfs, values);
    const b = renderTemplate(nfs, { ...values, pvc_name: "other" });
    expect(spec(a[0] as KubeObject).claimRef.name).toBe("data");
    expect(spec(b[0] as KubeObject).claimRef.name).toBe("other");
  });

  it("serializes both documents into one file that parses back to the same objects", () => {
    const text = serializeManifests([pv, pvc]);
    expect(text.startsWith("# Managed by drbot")).toBe(true);
    expect(text.match(/^---$/gm)).toHaveLength(2);
    expect(parseManifests(text)).toEqual([pv, pvc]);
  });
});

describe("rendering the EFS CSI template", () => {
  it("points the CSI volume handle at the file system and directory", () => {
    const [pv] = renderTemplate(csi, values) as [KubeObject];
    expect(spec(pv).csi).toEqual({
      driver: "efs.csi.aws.com",
      volumeHandle: "fs-0aaa1111:/k8s-static-volumes/sales/shipping/shipping-dev/data",
    });
    expect(spec(pv).nfs).toBeUndefined();
  });
});

describe("template checks", () => {
  const text = readFileSync(new URL("../../templates/pv-pvc.nfs.yaml", import.meta.url), "utf8");
  it.each([
    ["a Delete reclaim policy", text.replace("Retain", "Delete"), /Retain/],
    [
      "a storage class",
      text.replace('storageClassName: ""', "storageClassName: gp3"),
      /storageClassName must be ""/,
    ],
    ["a missing claimRef", text.replace(/ {2}claimRef:[\s\S]*?---/, "---"), /claimRef must name the PVC/],
    ["no PVC", text.split("---")[0] as string, /exactly one PersistentVolume and one PersistentVolumeClaim/],
    ["an unknown placeholder", text.replace("{{ size }}", "{{ capacity }}"), /unknown placeholder/],
    ["broken YAML", `${text}\n  - [`, /not valid YAML/],
  ])("refuses %s", (_, broken, expected) => {
    expect(() => parseTemplate(broken, "t.yaml")).toThrow(expected);
  });
});

describe("rewriting for the secondary site", () => {
  // A manifest as the primary cluster returned it, full of fields that cluster owns.
  const recorded = (): KubeObject[] => {
    const [pv, pvc] = renderTemplate(nfs, values) as [KubeObject, KubeObject];
    Object.assign(pv.metadata, {
      uid: "1111",
      resourceVersion: "42",
      creationTimestamp: "2026-01-01T00:00:00Z",
      managedFields: [{ manager: "drbot" }],
      annotations: { "pv.kubernetes.io/bound-by-controller": "yes", "team.example/owner": "ship" },
    });
    pv.status = { phase: "Bound" };
    Object.assign(spec(pv).claimRef, { uid: "2222", resourceVersion: "7" });
    Object.assign(pvc.metadata, {
      uid: "2222",
      resourceVersion: "7",
      annotations: { "pv.kubernetes.io/bind-completed": "yes" },
    });
    pvc.status = { phase: "Bound", capacity: { storage: "10Gi" } };
    return [pv, pvc];
  };

  it("re-points the NFS server and strips what the old cluster owned", () => {
    const [pv, pvc] = rewriteForSite(recorded(), primary, secondary) as [KubeObject, KubeObject];
    expect(spec(pv).nfs).toEqual({ server: secondary.hostname, path: values.nfs_path });
    for (const o of [pv, pvc]) {
      expect(o.status).toBeUndefined();
      for (const f of ["uid", "resourceVersion", "creationTimestamp", "managedFields"])
        expect(o.metadata[f]).toBeUndefined();
      expect(o.metadata.labels?.[LABELS.cluster]).toBe("rosa-secondary");
      expect(o.metadata.labels?.[LABELS.site]).toBe("secondary");
    }
    expect(spec(pv).claimRef).toEqual({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      name: "data",
      namespace: "shipping-dev",
    });
    expect(pv.metadata.annotations).toEqual({ "team.example/owner": "ship" });
    expect(pvc.metadata.annotations).toBeUndefined();
    expect(spec(pvc).volumeName).toBe(values.pv_name);
  });

  it("leaves its input untouched and is idempotent", () => {
    const input = recorded();
    const before = structuredClone(input);
    const once = rewriteForSite(input, primary, secondary);
    expect(input).toEqual(before);
    expect(rewriteForSite(once, primary, secondary)).toEqual(once);
  });

  it("re-points an EFS CSI volume handle, keeping the directory", () => {
    const [pv] = rewriteForSite(renderTemplate(csi, values), primary, secondary) as [KubeObject];
    expect(spec(pv).csi.volumeHandle).toBe(`fs-0bbb2222:${values.nfs_path}`);
  });

  it("refuses a volume that points at neither file system", () => {
    const foreign = renderTemplate(nfs, { ...values, nfs_server: "nas.example.com" });
    expect(() => rewriteForSite(foreign, primary, secondary)).toThrow(
      /points at NFS server nas\.example\.com/,
    );
    const foreignCsi = renderTemplate(csi, { ...values, file_system_id: "fs-0ccc3333" });
    expect(() => rewriteForSite(foreignCsi, primary, secondary)).toThrow(/file system is neither/);
  });

  it("round-trips through the Git file format", () => {
    const text = serializeManifests(
      rewriteForSite(parseManifests(serializeManifests(recorded())), primary, secondary),
    );
    const docs = text
      .split(/^---$/m)
      .slice(1)
      .map((d) => parse(d));
    expect(docs[0].spec.nfs.server).toBe(secondary.hostname);
  });
});
