import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Config, parseConfig } from "../../src/core/config.ts";
import { parseTemplate } from "../../src/core/manifests.ts";
import type { VolumeId } from "../../src/core/paths.ts";
import type { ClusterPort, KubeKind, KubeObject } from "../../src/core/ports/cluster.ts";
import type { GitPort } from "../../src/core/ports/git.ts";
import {
  describeExisting,
  findExistingVolume,
  renderVolume,
  renderVolumeObjects,
  siteTarget,
  volumeGitPath,
} from "../../src/core/volumes.ts";

const example = readFileSync(new URL("../../drbot.example.yaml", import.meta.url), "utf8");
const config: Config = parseConfig(example, join(process.cwd(), "drbot.yaml"));
const id = {
  businessUnit: "sales",
  application: "shipping",
  namespace: "shipping-dev",
  pvcName: "data",
} as VolumeId;

const spec = (o: KubeObject | undefined) => o?.spec as Record<string, any>;

describe("a volume's places", () => {
  it("targets each site's file system and cluster", () => {
    expect(siteTarget(config, "primary")).toEqual({
      hostname: "fs-0aaa1111.efs.us-east-1.amazonaws.com",
      fileSystemId: "fs-0aaa1111",
      clusterName: "rosa-primary",
      site: "primary",
    });
    expect(siteTarget(config, "secondary")).toEqual({
      hostname: "fs-0bbb2222.efs.us-west-2.amazonaws.com",
      fileSystemId: "fs-0bbb2222",
      clusterName: "rosa-secondary",
      site: "secondary",
    });
  });

  it("keeps the primary cluster's name in both sites' Git paths", () => {
    expect(volumeGitPath(config, "primary", id)).toBe(
      "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml",
    );
    expect(volumeGitPath(config, "secondary", id)).toBe(
      "PV-PVCs/secondary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml",
    );
  });
});

describe("rendering a new volume", () => {
  it("fills the template with the site's file system, cluster and the volume's names", () => {
    const [pv, pvc] = renderVolumeObjects(config, "secondary", id, 25);
    expect(pv?.metadata.name).toBe("sales.shipping.shipping-dev.data");
    expect(pv?.metadata.labels).toMatchObject({
      "drbot.io/business-unit": "sales",
      "drbot.io/application": "shipping",
      "drbot.io/cluster": "rosa-secondary",
      "drbot.io/site": "secondary",
    });
    expect(spec(pv).capacity).toEqual({ storage: "25Gi" });
    expect(spec(pv).nfs).toEqual({
      server: "fs-0bbb2222.efs.us-west-2.amazonaws.com",
      path: "/k8s-static-volumes/sales/shipping/shipping-dev/data",
    });
    expect(spec(pv).claimRef).toMatchObject({ name: "data", namespace: "shipping-dev" });
    expect(pvc?.metadata).toMatchObject({ name: "data", namespace: "shipping-dev" });
    expect(spec(pvc).volumeName).toBe("sales.shipping.shipping-dev.data");
    expect(spec(pvc).resources).toEqual({ requests: { storage: "25Gi" } });
  });

  it("fills the CSI template's file system id", () => {
    const csi = parseTemplate(
      readFileSync(new URL("../../templates/pv-pvc.efs-csi.yaml", import.meta.url), "utf8"),
      "pv-pvc.efs-csi.yaml",
    );
    const [pv] = renderVolumeObjects({ ...config, template: csi }, "primary", id, 1);
    expect(JSON.stringify(spec(pv).csi)).toContain("fs-0aaa1111");
    expect(JSON.stringify(pv)).not.toContain("{{");
  });

  it("writes the Git file as the two rendered documents under drbot's header", () => {
    const text = renderVolume(config, "primary", id, 10);
    expect(text.startsWith("# Managed by drbot.")).toBe(true);
    const docs = text
      .split(/^---\n/m)
      .slice(1)
      .map((d) => parse(d));
    expect(docs).toEqual(renderVolumeObjects(config, "primary", id, 10));
    expect(docs[0].spec.nfs.server).toBe("fs-0aaa1111.efs.us-east-1.amazonaws.com");
  });

  it("refuses a rendering that is not a valid pair for this volume", () => {
    // Passes the start-up check (its sample claim is named "pvc") but binds any other claim wrongly.
    const text = readFileSync(new URL("../../templates/pv-pvc.nfs.yaml", import.meta.url), "utf8").replace(
      /claimRef:\n(\s+)apiVersion: v1\n\s+kind: PersistentVolumeClaim\n\s+name: "\{\{ pvc_name \}\}"/,
      'claimRef:\n$1apiVersion: v1\n$1kind: PersistentVolumeClaim\n$1name: "pvc"',
    );
    const template = parseTemplate(text, "fixed-claim.yaml");
    expect(() => renderVolumeObjects({ ...config, template }, "primary", id, 10)).toThrow(
      /claimRef must name the PVC/,
    );
    expect(() => renderVolume({ ...config, template }, "primary", id, 10)).toThrow(/claimRef/);
  });
});

describe("finding an existing volume", () => {
  function ports(files: Record<string, string>, objects: string[]) {
    const asked: string[] = [];
    const git = {
      async readFile(path: string) {
        asked.push(`git ${path}`);
        return files[path] ?? null;
      },
    } as unknown as GitPort;
    const cluster = {
      name: "rosa-secondary",
      async get(kind: KubeKind, name: string, namespace?: string) {
        const key = `${kind} ${namespace ? `${namespace}/` : ""}${name}`;
        asked.push(key);
        return objects.includes(key)
          ? ({ apiVersion: "v1", kind, metadata: { name, namespace } } as KubeObject)
          : null;
      },
    } as unknown as ClusterPort;
    return { git, cluster, asked };
  }
  const path = "PV-PVCs/secondary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml";
  const pv = "PersistentVolume sales.shipping.shipping-dev.data";
  const pvc = "PersistentVolumeClaim shipping-dev/data";

  it("finds nothing when neither Git nor the cluster has it, having looked in all three places", async () => {
    const p = ports({ "PV-PVCs/primary/sales/rosa-primary/shipping/shipping-dev/pv-pvc_data.yaml": "x" }, []);
    expect(await findExistingVolume(config, p, "secondary", id)).toBeNull();
    expect(p.asked.sort()).toEqual([pvc, pv, `git ${path}`].sort());
  });

  it("reports the Git record first, with its path", async () => {
    const found = await findExistingVolume(config, ports({ [path]: "" }, [pv, pvc]), "secondary", id);
    expect(found).toEqual({ where: "git", path });
    expect(describeExisting(found as NonNullable<typeof found>)).toBe(
      `it is already recorded in Git at ${path}`,
    );
  });

  it("reports a PV on the site's cluster", async () => {
    const found = await findExistingVolume(config, ports({}, [pv, pvc]), "secondary", id);
    expect(found).toEqual({ where: "cluster", cluster: "rosa-secondary", name: pv });
    expect(describeExisting(found as NonNullable<typeof found>)).toBe(
      `${pv} already exists on cluster rosa-secondary`,
    );
  });

  it("reports a PVC in its namespace on the site's cluster", async () => {
    const found = await findExistingVolume(config, ports({}, [pvc]), "secondary", id);
    expect(found).toEqual({ where: "cluster", cluster: "rosa-secondary", name: pvc });
    expect(describeExisting(found as NonNullable<typeof found>)).toBe(
      "PersistentVolumeClaim shipping-dev/data already exists on cluster rosa-secondary",
    );
  });
});
