// The sandbox's drbot.yaml: the two sites pointing at the stand-ins (kubeconfigs, mounts, the
// GitHub stand-in's URL), the tenant `sales` and the sandbox's people in their roles. Written at
// every start because the stand-ins' ports change; loaded and validated by drbot like any other.

import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import { CHANNEL, PEOPLE, ROOT_DIRECTORY, SITES, TENANT } from "./people.ts";

export interface ConfigParts {
  kubeconfigs: { primary: string; secondary: string };
  mounts: { primary: string; secondary: string };
  githubApiUrl: string;
}

export function sandboxConfig(parts: ConfigParts): Record<string, unknown> {
  const site = (name: "primary" | "secondary") => ({
    cluster: { name: SITES[name].cluster, kubeconfig: parts.kubeconfigs[name] },
    efs: {
      fileSystemId: SITES[name].fileSystemId,
      region: SITES[name].region,
      hostname: `${SITES[name].fileSystemId}.efs.${SITES[name].region}.amazonaws.com`,
      mountPath: parts.mounts[name],
    },
  });
  return {
    sites: { primary: site("primary"), secondary: site("secondary") },
    volumes: {
      rootDirectory: ROOT_DIRECTORY,
      template: "templates/pv-pvc.nfs.yaml",
      maxSizeGi: 1024,
      // Directories are made by this process, as this user.
      directory: { mode: "0770", uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      tenants: { [TENANT]: { requesters: { users: [PEOPLE.requester.id], groups: [] } } },
    },
    git: {
      apiUrl: parts.githubApiUrl,
      owner: "acme",
      repo: "dr-volumes",
      branch: "main",
      directory: "PV-PVCs",
    },
    approvals: {
      failover: {
        required: 2,
        approvers: { users: [PEOPLE.approver1.id, PEOPLE.approver2.id], groups: [] },
        requesters: { users: [PEOPLE.requester.id], groups: [] },
        expiresAfter: "30m",
      },
      volumeCreate: { required: 0 },
    },
    channels: [CHANNEL.id],
  };
}

export async function writeSandboxConfig(path: string, parts: ConfigParts): Promise<void> {
  const header =
    "# Written by `drbot sandbox` at every start: the stand-ins' ports change. Edits are overwritten.\n";
  await writeFile(path, header + stringify(sandboxConfig(parts)), { mode: 0o600 });
}
