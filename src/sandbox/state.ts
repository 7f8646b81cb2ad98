// The stand-ins keep their state in memory; the sandbox saves it from the outside, through their
// public methods, to one JSON file, and rebuilds it at the next start: the EFS file systems and
// their replication, both clusters' Namespaces, PersistentVolumes and PersistentVolumeClaims (with
// their phases and bindings), and the console's controls. Git is already on disk (a bare
// repository) and Redis has its append-only file.
//
// Restoring goes through the same public methods, so what cannot be said through them is
// simplified: a replication deletion that was under way is taken as finished, and the half of a
// configuration that a LOCAL_CONFIGURATION_ONLY deletion left in the other region is dropped.

import { readFile, rename, writeFile } from "node:fs/promises";
import { z } from "zod";
import type { ControlState } from "./controls.ts";
import type { FakeEfs, Protection } from "./stand-ins/efs.ts";
import type { FakeKind, FakeKube, FakeObject } from "./stand-ins/kube.ts";

const KINDS = ["Namespace", "PersistentVolumeClaim", "PersistentVolume"] as const satisfies FakeKind[];
// Namespaces every cluster starts with; the stand-in makes them itself.
const BUILT_IN_NAMESPACES = new Set(["default", "kube-system", "kube-public", "kube-node-lease"]);

const protection = z.enum(["ENABLED", "DISABLED", "REPLICATING"]);
const isoDate = z.iso.datetime({ offset: true });

const kubeObject = z.looseObject({
  apiVersion: z.string(),
  kind: z.enum(KINDS),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional() }),
  spec: z.record(z.string(), z.unknown()).optional(),
  status: z.record(z.string(), z.unknown()).optional(),
});

const stateSchema = z.strictObject({
  version: z.literal(1),
  savedAt: isoDate,
  controls: z.strictObject({ primaryDown: z.boolean(), fallingBehind: z.boolean() }),
  efs: z.strictObject({
    fileSystems: z.array(
      z.strictObject({
        fileSystemId: z.string(),
        region: z.string(),
        name: z.string().optional(),
        lifeCycleState: z.string(),
        overwriteProtection: protection,
        mountTargets: z.number().int().min(0).max(100),
      }),
    ),
    replications: z.array(
      z.strictObject({
        sourceFileSystemId: z.string(),
        destinationFileSystemId: z.string(),
        status: z.string(),
        lastReplicatedTimestamp: isoDate.optional(),
        creationTime: isoDate,
        /** False when only one region still holds its half of the configuration. */
        bothSides: z.boolean(),
        deleting: z.boolean(),
      }),
    ),
  }),
  kube: z.strictObject({ primary: z.array(kubeObject), secondary: z.array(kubeObject) }),
});

export type SandboxState = z.output<typeof stateSchema>;

export interface StateParts {
  efs: FakeEfs;
  kube: { primary: FakeKube; secondary: FakeKube };
  fileSystemIds: readonly string[];
  controls: ControlState;
}

export function snapshotState(parts: StateParts): SandboxState {
  const fileSystems: SandboxState["efs"]["fileSystems"] = [];
  const replications: SandboxState["efs"]["replications"] = [];
  for (const id of parts.fileSystemIds) {
    const fs = parts.efs.fileSystem(id);
    if (!fs) continue;
    fileSystems.push({
      fileSystemId: fs.fileSystemId,
      region: fs.region,
      ...(fs.name ? { name: fs.name } : {}),
      lifeCycleState: fs.lifeCycleState,
      overwriteProtection: fs.overwriteProtection,
      mountTargets: fs.mountTargets,
    });
    const rep = parts.efs.replicationOf(id);
    const dest = rep?.destinations[0];
    if (!rep || !dest || rep.sourceFileSystemId !== id) continue;
    replications.push({
      sourceFileSystemId: rep.sourceFileSystemId,
      destinationFileSystemId: dest.fileSystemId,
      status: dest.status,
      ...(dest.lastReplicatedTimestamp
        ? { lastReplicatedTimestamp: dest.lastReplicatedTimestamp.toISOString() }
        : {}),
      creationTime: rep.creationTime.toISOString(),
      bothSides: rep.regions.length > 1,
      deleting: rep.deleting,
    });
  }
  const objects = (k: FakeKube) =>
    KINDS.flatMap((kind) => k.objects(kind)).filter(
      (o) => !(o.kind === "Namespace" && BUILT_IN_NAMESPACES.has(o.metadata.name)),
    ) as SandboxState["kube"]["primary"];
  return {
    version: 1,
    savedAt: new Date().toISOString(),
    controls: { ...parts.controls },
    efs: { fileSystems, replications },
    kube: { primary: objects(parts.kube.primary), secondary: objects(parts.kube.secondary) },
  };
}

/** Rebuilds EFS and both clusters on fresh stand-ins; returns what could not be restored. */
export function restoreState(
  state: SandboxState,
  parts: Omit<StateParts, "controls" | "fileSystemIds">,
): string[] {
  const problems: string[] = [];
  const carried = state.efs.replications.filter((r) => r.bothSides && !r.deleting);
  for (const fs of state.efs.fileSystems) {
    // A destination whose replication is not carried over is writable again, as after a deletion.
    const stillDestination = carried.some((r) => r.destinationFileSystemId === fs.fileSystemId);
    const overwriteProtection: Protection =
      fs.overwriteProtection === "REPLICATING" && !stillDestination ? "ENABLED" : fs.overwriteProtection;
    try {
      parts.efs.addFileSystem({
        id: fs.fileSystemId,
        region: fs.region,
        ...(fs.name ? { name: fs.name } : {}),
        lifeCycleState: fs.lifeCycleState,
        overwriteProtection,
        mountTargets: fs.mountTargets,
      });
    } catch (err) {
      problems.push(`EFS file system ${fs.fileSystemId}: ${(err as Error).message}`);
    }
  }
  for (const r of carried) {
    try {
      parts.efs.addReplication({
        sourceFileSystemId: r.sourceFileSystemId,
        destinationFileSystemId: r.destinationFileSystemId,
        status: r.status,
        creationTime: new Date(r.creationTime),
        ...(r.lastReplicatedTimestamp
          ? { lastReplicatedTimestamp: new Date(r.lastReplicatedTimestamp) }
          : {}),
      });
    } catch (err) {
      problems.push(`EFS replication ${r.sourceFileSystemId}: ${(err as Error).message}`);
    }
  }
  for (const site of ["primary", "secondary"] as const)
    problems.push(...restoreCluster(state.kube[site] as FakeObject[], parts.kube[site], site));
  return problems;
}

/**
 * Namespaces first, then claims (which get new uids), then volumes with their claimRef pointing at
 * the new uids, so bound pairs stay Bound.
 */
function restoreCluster(objects: FakeObject[], kube: FakeKube, site: string): string[] {
  const problems: string[] = [];
  const newUid = new Map<string, { uid: string; resourceVersion: string }>();
  const seed = (o: FakeObject) => {
    const manager = o.metadata.managedFields?.[0]?.manager ?? "drbot";
    const { status, ...rest } = o;
    try {
      return kube.seed(rest as FakeObject, { manager, ...(status ? { status } : {}) });
    } catch (err) {
      const where = o.metadata.namespace ? `${o.metadata.namespace}/` : "";
      problems.push(`${site} cluster ${o.kind} ${where}${o.metadata.name}: ${(err as Error).message}`);
      return undefined;
    }
  };
  for (const kind of KINDS) {
    for (const o of objects.filter((x) => x.kind === kind)) {
      if (kind === "Namespace" && kube.object("Namespace", o.metadata.name)) continue;
      if (kind === "PersistentVolume") {
        const ref = o.spec?.claimRef as { name?: string; namespace?: string; uid?: string } | undefined;
        const bound = ref?.uid ? newUid.get(`${ref.namespace}/${ref.name}/${ref.uid}`) : undefined;
        if (ref && bound) o.spec = { ...o.spec, claimRef: { ...ref, ...bound } };
      }
      const created = seed(o);
      if (kind === "PersistentVolumeClaim" && created && o.metadata.uid)
        newUid.set(`${o.metadata.namespace}/${o.metadata.name}/${o.metadata.uid}`, {
          uid: String(created.metadata.uid),
          resourceVersion: String(created.metadata.resourceVersion),
        });
    }
  }
  return problems;
}

export async function saveState(path: string, state: SandboxState): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 1)}\n`, { mode: 0o600 });
  await rename(temp, path);
}

export class StateFileError extends Error {
  override readonly name = "StateFileError";
}

/** The saved state, or undefined when there is none; a damaged file is refused with what is wrong. */
export async function loadState(path: string): Promise<SandboxState | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(`${path} is not valid JSON (${(err as Error).message}); start with --reset`);
  }
  const parsed = stateSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new StateFileError(
      `${path} is not a sandbox state file (${first?.path.join(".") || "top level"}: ${first?.message}); start with --reset`,
    );
  }
  return parsed.data;
}

/** Saves when something changed (the time of saving aside), every `everyMs`, and once more at stop. */
export function startStateSaver(
  path: string,
  snapshot: () => SandboxState,
  everyMs: number,
): { stop(): Promise<void> } {
  let last = "";
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    saving = saving.then(async () => {
      const state = snapshot();
      const key = JSON.stringify({ ...state, savedAt: "" });
      if (key === last) return;
      await saveState(path, state);
      last = key;
    });
    return saving;
  };
  const timer = setInterval(() => void save().catch(() => {}), everyMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await save();
    },
  };
}
