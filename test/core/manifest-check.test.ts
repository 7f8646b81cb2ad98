// What runs is what was shown: a recorded manifest is applied only when it is exactly what drbot
// would have written for the volume its path names; every other one is listed with its
// differences. And tenants own their namespaces.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/core/config.ts";
import { checkRecordedManifest, sizeGi } from "../../src/core/manifest-check.ts";
import { parseManifests, serializeManifests } from "../../src/core/manifests.ts";
import type { VolumeId } from "../../src/core/paths.ts";
import type { KubeObject } from "../../src/core/ports/cluster.ts";
import {
  inNamespaceList,
  isSystemNamespace,
  namespaceOwnerProblem,
  namespaceRuleProblem,
  TENANT_LABEL,
} from "../../src/core/tenancy.ts";
import { renderVolume } from "../../src/core/volumes.ts";

const config = parseConfig(
  readFileSync(new URL("../../drbot.example.yaml", import.meta.url), "utf8"),
  join(process.cwd(), "drbot.yaml"),
);
const id = { businessUnit: "sales", application: "shop", namespace: "shop-dev", pvcName: "data" } as VolumeId;

/** drbot's own manifest for `id`, edited by `edit`. */
function recorded(edit: (pv: KubeObject, pvc: KubeObject) => void = () => {}, size = 10): string {
  const objects = parseManifests(renderVolume(config, "primary", id, size));
  const pv = objects.find((o) => o.kind === "PersistentVolume") as KubeObject;
  const pvc = objects.find((o) => o.kind === "PersistentVolumeClaim") as KubeObject;
  edit(pv, pvc);
  return serializeManifests(objects);
}
const spec = (o: KubeObject) => o.spec as Record<string, any>;

describe("checkRecordedManifest", () => {
  it("accepts exactly what drbot writes, with its objects and size", () => {
    const check = checkRecordedManifest(config, "primary", id, recorded(undefined, 25));
    expect(check).toMatchObject({ ok: true, sizeGi: 25 });
    expect(check.ok && check.objects.map((o) => o.kind)).toEqual([
      "PersistentVolume",
      "PersistentVolumeClaim",
    ]);
  });

  const cases: Array<[string, (pv: KubeObject, pvc: KubeObject) => void, string]> = [
    [
      "the NFS path moved to another volume's directory",
      (pv) => {
        spec(pv).nfs.path = "/k8s-static-volumes/other/app/ns/pvc";
      },
      'PV spec.nfs.path is "/k8s-static-volumes/other/app/ns/pvc" (drbot wrote "/k8s-static-volumes/sales/shop/shop-dev/data")',
    ],
    [
      "the NFS path at the root of the file system",
      (pv) => {
        spec(pv).nfs.path = "/";
      },
      'PV spec.nfs.path is "/"',
    ],
    [
      "another NFS server",
      (pv) => {
        spec(pv).nfs.server = "evil.example.com";
      },
      'PV spec.nfs.server is "evil.example.com"',
    ],
    [
      "a claim moved to another namespace",
      (pv, pvc) => {
        spec(pv).claimRef.namespace = "kube-system";
        pvc.metadata.namespace = "kube-system";
      },
      'PV spec.claimRef.namespace is "kube-system" (drbot wrote "shop-dev")',
    ],
    [
      "another PV name",
      (pv, pvc) => {
        pv.metadata.name = "sales.shop.shop-dev.other";
        spec(pvc).volumeName = "sales.shop.shop-dev.other";
      },
      'PV metadata.name is "sales.shop.shop-dev.other"',
    ],
    [
      "the PV's capacity unlike the claim's",
      (pv) => {
        spec(pv).capacity.storage = "20Gi";
      },
      'PV spec.capacity.storage is "20Gi" (drbot wrote "10Gi")',
    ],
    [
      "Delete instead of Retain",
      (pv) => {
        spec(pv).persistentVolumeReclaimPolicy = "Delete";
      },
      "the PV's persistentVolumeReclaimPolicy must be Retain",
    ],
    [
      "a storage class",
      (_pv, pvc) => {
        spec(pvc).storageClassName = "gp3";
      },
      `the PVC's storageClassName must be ""`,
    ],
    [
      "a PV bound to another claim",
      (_pv, pvc) => {
        spec(pvc).volumeName = "someone.elses";
      },
      "the PVC's volumeName must name the PV",
    ],
  ];
  it.each(cases)("lists %s as a difference", (_, edit, difference) => {
    const check = checkRecordedManifest(config, "primary", id, recorded(edit));
    expect(check.ok).toBe(false);
    expect(!check.ok && check.differences.join("\n")).toContain(difference);
  });

  it("names every differing field, not only the first", () => {
    const check = checkRecordedManifest(
      config,
      "primary",
      id,
      recorded((pv, pvc) => {
        spec(pv).nfs.path = "/";
        spec(pv).claimRef.namespace = "other";
        pvc.metadata.namespace = "other";
      }),
    );
    expect(!check.ok && check.differences.map((d) => d.split(" is ")[0])).toEqual([
      "PV spec.nfs.path",
      "PV spec.claimRef.namespace",
      "PVC metadata.namespace",
    ]);
  });

  it("is checked against the site's own server: the primary's manifest is not the secondary's", () => {
    const check = checkRecordedManifest(config, "secondary", id, recorded());
    expect(!check.ok && check.differences.join("\n")).toMatch(/PV spec\.nfs\.server is "fs-0aaa1111/);
  });

  it("refuses a size beyond the limit, or not in whole Gi, and text that is not a PV/PVC pair", () => {
    const huge = checkRecordedManifest(
      config,
      "primary",
      id,
      recorded((pv, pvc) => {
        spec(pv).capacity.storage = `${config.volumes.maxSizeGi + 1}Gi`;
        spec(pvc).resources.requests.storage = `${config.volumes.maxSizeGi + 1}Gi`;
      }),
    );
    expect(!huge.ok && huge.differences[0]).toMatch(
      new RegExp(
        `^PVC size "${config.volumes.maxSizeGi + 1}Gi" is not a whole number of Gi up to ${config.volumes.maxSizeGi}Gi$`,
      ),
    );
    expect(
      checkRecordedManifest(config, "primary", id, recorded(undefined, config.volumes.maxSizeGi)).ok,
    ).toBe(true);
    const fraction = checkRecordedManifest(
      config,
      "primary",
      id,
      recorded((_pv, pvc) => {
        spec(pvc).resources.requests.storage = "1.5Gi";
      }),
    );
    expect(fraction.ok).toBe(false);
    const lonely = checkRecordedManifest(
      config,
      "primary",
      id,
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n",
    );
    expect(!lonely.ok && lonely.differences[0]).toMatch(/^not a PV\/PVC pair drbot writes: /);
    expect(checkRecordedManifest(config, "primary", id, ": not yaml :").ok).toBe(false);
  });

  it("reads sizes only as whole Gi", () => {
    expect(["1Gi", "10Gi", "9999999Gi"].map(sizeGi)).toEqual([1, 10, 9_999_999]);
    expect(["0Gi", "01Gi", "10G", "10Mi", " 10Gi", "10Gi ", "10000000Gi", undefined, 10].map(sizeGi)).toEqual(
      Array(9).fill(undefined),
    );
  });
});

describe("tenancy", () => {
  it("reserves the platform's namespaces", () => {
    for (const ns of [
      "default",
      "kube-system",
      "kube-public",
      "openshift",
      "openshift-monitoring",
      "cert-manager-system",
    ])
      expect(isSystemNamespace(ns), ns).toBe(true);
    for (const ns of ["shop-dev", "kube", "defaults", "my-openshift", "system-a", "systems"])
      expect(isSystemNamespace(ns), ns).toBe(false);
  });

  it("matches a tenant's namespace list by name or by prefix-*", () => {
    expect(inNamespaceList(["shop-prod", "shop-*"], "shop-prod")).toBe(true);
    expect(inNamespaceList(["shop-*"], "shop-dev")).toBe(true);
    expect(inNamespaceList(["shop-*"], "shop")).toBe(false);
    expect(inNamespaceList(["shop-*"], "shopping-dev")).toBe(false);
    expect(inNamespaceList(["shop-prod"], "shop-prod2")).toBe(false);
    expect(inNamespaceList([], "shop-prod")).toBe(false);
  });

  it("says why a namespace is not the tenant's by configuration", () => {
    expect(namespaceRuleProblem("sales", undefined, "kube-system")).toMatch(
      /^namespace "kube-system" is reserved/,
    );
    expect(namespaceRuleProblem("sales", { namespaces: ["shop-*"] } as never, "billing")).toBe(
      `namespace "billing" is not one of business unit sales's namespaces (shop-*); ask the platform team to add it.`,
    );
    expect(namespaceRuleProblem("sales", { namespaces: ["shop-*"] } as never, "shop-dev")).toBeUndefined();
    expect(namespaceRuleProblem("sales", {} as never, "anything")).toBeUndefined();
  });

  it("says when an existing namespace belongs to another tenant", () => {
    const ns = (owner?: string): KubeObject => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "shop-dev", ...(owner ? { labels: { [TENANT_LABEL]: owner } } : {}) },
    });
    expect(namespaceOwnerProblem("sales", ns("billing"))).toBe(
      `namespace "shop-dev" belongs to business unit billing (label ${TENANT_LABEL}); use one of sales's namespaces.`,
    );
    expect(namespaceOwnerProblem("sales", ns("sales"))).toBeUndefined();
    expect(namespaceOwnerProblem("sales", ns())).toBeUndefined();
    expect(namespaceOwnerProblem("sales", null)).toBeUndefined();
  });
});
