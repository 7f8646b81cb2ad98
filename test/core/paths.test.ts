import { posix } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Label } from "../../src/core/names.ts";
import {
  directorySegments,
  efsDirectory,
  gitPath,
  gitSiteDirectory,
  nfsPath,
  parseGitPath,
  pvName,
  type VolumeId,
} from "../../src/core/paths.ts";

const id = {
  businessUnit: "sales",
  application: "shipping",
  namespace: "shipping-dev",
  pvcName: "data",
} as VolumeId;

describe("path builders", () => {
  it("build the contract's names and paths", () => {
    expect(pvName(id)).toBe("sales.shipping.shipping-dev.data");
    expect(nfsPath("/k8s-static-volumes", id)).toBe("/k8s-static-volumes/sales/shipping/shipping-dev/data");
    expect(efsDirectory("/mnt/efs/primary", "/k8s-static-volumes", id)).toBe(
      "/mnt/efs/primary/k8s-static-volumes/sales/shipping/shipping-dev/data",
    );
    expect(directorySegments("/k8s-static-volumes", id)).toEqual([
      "k8s-static-volumes",
      "sales",
      "shipping",
      "shipping-dev",
      "data",
    ]);
    expect(gitPath("PV-PVCs", "primary", "rosa-primary", id)).toBe(
      "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml",
    );
    expect(gitPath("PV-PVCs", "secondary", "rosa-primary", id)).toBe(
      "PV-PVCs/secondary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml",
    );
    expect(gitSiteDirectory("dr/PV-PVCs", "secondary")).toBe("dr/PV-PVCs/secondary");
  });

  it("accept nested roots and trailing slashes", () => {
    expect(nfsPath("/a/b/", id)).toBe("/a/b/sales/shipping/shipping-dev/data");
    expect(efsDirectory("/", "/v", id)).toBe("/v/sales/shipping/shipping-dev/data");
  });

  it("parse a Git path back into the volume it records", () => {
    const path = gitPath("PV-PVCs", "secondary", "rosa-primary", id);
    expect(parseGitPath("PV-PVCs", path)).toEqual({
      ...id,
      site: "secondary",
      primaryCluster: "rosa-primary",
    });
    for (const other of [
      "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/README.md",
      "PV-PVCs/tertiary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml",
      "PV-PVCs/primary/sales/rosa-primary/shipping/pv-pvc_data.yaml",
      "other/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml",
      "PV-PVCs/primary/Sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml",
      "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_..yaml",
    ]) {
      expect(parseGitPath("PV-PVCs", other), other).toBeNull();
    }
  });

  it("refuse unsafe roots", () => {
    expect(() => nfsPath("/a/../b", id)).toThrow(/unsafe path component "\.\."/);
    expect(() => gitPath("a/./b", "primary", "c", id)).toThrow(/unsafe/);
  });

  it("make traversal and absolute components impossible, whatever the input (property)", () => {
    const anyName = fc.oneof(
      fc.string({ maxLength: 70 }),
      fc.constantFrom("..", ".", "/", "/etc", "a/../../b", "a\\b", "%2e%2e", "a\u0000b", "~", "data"),
    );
    fc.assert(
      fc.property(anyName, anyName, anyName, anyName, (bu, app, ns, pvc) => {
        const candidate = {
          businessUnit: bu,
          application: app,
          namespace: ns,
          pvcName: pvc,
        } as unknown as VolumeId;
        let dir: string;
        let git: string;
        try {
          dir = efsDirectory("/mnt/efs/primary", "/k8s-static-volumes", candidate);
          git = gitPath("PV-PVCs", "primary", "rosa-primary", candidate);
        } catch {
          return; // refused: nothing was built
        }
        // Built: every segment is a plain label, and the path is exactly where it should be.
        for (const part of [bu, app, ns, pvc]) expect(part).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        expect(posix.normalize(dir)).toBe(dir);
        expect(dir.startsWith("/mnt/efs/primary/k8s-static-volumes/")).toBe(true);
        expect(dir.split("/")).toHaveLength(9);
        expect(posix.normalize(git)).toBe(git);
        expect(git.startsWith("PV-PVCs/primary/")).toBe(true);
        expect(git.split("/")).toHaveLength(7);
      }),
      { numRuns: 3000 },
    );
  });

  it("refuse a value that is not a label even when cast past the type system", () => {
    const hostile = { ...id, application: "../../etc" as Label };
    expect(() => efsDirectory("/mnt", "/v", hostile)).toThrow(/application/);
    expect(() => gitPath("PV-PVCs", "primary", "c", hostile)).toThrow(/application/);
    expect(() => pvName({ ...id, pvcName: "a.b" as Label })).toThrow(/PVC name/);
    expect(() => gitPath("PV-PVCs", "primary", "../x", id)).toThrow(/cluster name/);
  });
});
