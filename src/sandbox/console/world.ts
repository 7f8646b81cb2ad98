// What the console shows beside the channel: both EFS trees, both clusters' PVs and PVCs with
// their phase, the Git log, replication state and lag, the active site and the controls. Read
// from the stand-ins' public methods and the mounted folders, the way an operator would look.

import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { DrState } from "../../core/dr-state.ts";
import type { ControlState } from "../controls.ts";
import { SITE_NAMES, SITES, type SiteName } from "../people.ts";
import type { FakeEfs } from "../stand-ins/efs.ts";
import type { FakeGitHub } from "../stand-ins/github.ts";
import type { FakeKube, FakeObject } from "../stand-ins/kube.ts";

export interface TreeEntry {
  path: string;
  kind: "directory" | "file" | "link";
  size: number;
}

export interface SiteView {
  site: SiteName;
  region: string;
  regionDown: boolean;
  fileSystem: {
    id: string;
    lifeCycleState: string;
    overwriteProtection: string;
    writable: boolean;
  } | null;
  tree: { entries: TreeEntry[]; more: number };
  cluster: {
    name: string;
    answering: boolean;
    pvs: { name: string; phase: string; claim: string; server: string; capacity: string }[];
    pvcs: { namespace: string; name: string; phase: string; volume: string; capacity: string }[];
  };
}

export interface WorldView {
  activeSite: SiteName | "unknown";
  drLock: string | null;
  controls: ControlState;
  replication: {
    source: string;
    destination: string;
    sourceRegion: string;
    destinationRegion: string;
    status: string;
    lastReplicatedAt: number | null;
  } | null;
  sites: SiteView[];
  git: { commits: { sha: string; author: string; at: number; subject: string; body: string }[] };
}

export interface WorldDeps {
  efs: FakeEfs;
  kube: Record<SiteName, FakeKube>;
  github: FakeGitHub;
  mounts: Record<SiteName, string>;
  redis: Redis;
  prefix: string;
  controls(): ControlState;
}

const MAX_TREE_ENTRIES = 400;
const MAX_COMMITS = 40;
const MAX_DIFF_BYTES = 256 * 1024;

export class WorldReader {
  private readonly deps: WorldDeps;
  private readonly dr: DrState;
  private gitCache: { head: string; commits: WorldView["git"]["commits"] } | undefined;

  constructor(deps: WorldDeps) {
    this.deps = deps;
    this.dr = new DrState(deps.redis, deps.prefix);
  }

  async read(): Promise<WorldView> {
    const controls = this.deps.controls();
    const [active, drLock, sites, commits] = await Promise.all([
      this.dr.activeSite().then(
        (a) => a.site,
        () => "unknown" as const,
      ),
      this.dr.drLockHolder().catch(() => null),
      Promise.all(SITE_NAMES.map((s) => this.site(s, controls))),
      this.commits(),
    ]);
    return {
      activeSite: active,
      drLock,
      controls,
      replication: this.replication(),
      sites,
      git: { commits },
    };
  }

  /** One commit as `git show` prints it (header, stat and patch), cut at 256 KiB. */
  async commit(sha: string): Promise<string | undefined> {
    if (!/^[0-9a-f]{40}$/.test(sha)) return undefined;
    try {
      if ((await this.deps.github.git("cat-file", "-t", sha)).trim() !== "commit") return undefined;
    } catch {
      return undefined;
    }
    const text = await this.deps.github.git(
      "show",
      "--no-color",
      "--stat",
      "--patch",
      "--format=commit %H%nAuthor: %an <%ae>%nDate:   %aD%n%n%w(0,4,4)%B",
      sha,
    );
    return text.length > MAX_DIFF_BYTES ? `${text.slice(0, MAX_DIFF_BYTES)}\n… (cut at 256 KiB)\n` : text;
  }

  private replication(): WorldView["replication"] {
    const rep = this.deps.efs.replicationOf(SITES.primary.fileSystemId);
    const dest = rep?.destinations[0];
    if (!rep || !dest) return null;
    return {
      source: rep.sourceFileSystemId,
      destination: dest.fileSystemId,
      sourceRegion: rep.sourceRegion,
      destinationRegion: dest.region,
      status: dest.status,
      lastReplicatedAt: dest.lastReplicatedTimestamp?.getTime() ?? null,
    };
  }

  private async site(site: SiteName, controls: ControlState): Promise<SiteView> {
    const { fileSystemId, region, cluster } = SITES[site];
    const fs = this.deps.efs.fileSystem(fileSystemId);
    const kube = this.deps.kube[site];
    const regionDown = site === "primary" && controls.primaryDown;
    const text = (v: unknown) => (v === undefined || v === null ? "" : String(v));
    const spec = (o: FakeObject) => (o.spec ?? {}) as Record<string, Record<string, unknown> | undefined>;
    return {
      site,
      region,
      regionDown,
      fileSystem: fs
        ? {
            id: fs.fileSystemId,
            lifeCycleState: fs.lifeCycleState,
            overwriteProtection: fs.overwriteProtection,
            writable: fs.writable,
          }
        : null,
      tree: await walk(this.deps.mounts[site]),
      cluster: {
        name: cluster,
        answering: !regionDown,
        pvs: kube
          .objects("PersistentVolume")
          .map((pv) => ({
            name: pv.metadata.name,
            phase: text(pv.status?.phase),
            claim: spec(pv).claimRef
              ? `${text(spec(pv).claimRef?.namespace)}/${text(spec(pv).claimRef?.name)}`
              : "",
            server: text(spec(pv).nfs?.server ?? spec(pv).csi?.volumeHandle),
            capacity: text(spec(pv).capacity?.storage),
          }))
          .sort((a, b) => a.name.localeCompare(b.name)),
        pvcs: kube
          .objects("PersistentVolumeClaim")
          .map((pvc) => ({
            namespace: text(pvc.metadata.namespace),
            name: pvc.metadata.name,
            phase: text(pvc.status?.phase),
            volume: text(pvc.spec?.volumeName),
            capacity: text((spec(pvc).resources?.requests as Record<string, unknown> | undefined)?.storage),
          }))
          .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)),
      },
    };
  }

  /** The newest commits; `git log` runs only when the branch moved. */
  private async commits(): Promise<WorldView["git"]["commits"]> {
    const { github } = this.deps;
    const head = await readFile(join(github.gitDir, "refs", "heads", github.branch), "utf8")
      .then((s) => s.trim())
      .catch(() => "");
    if (this.gitCache && this.gitCache.head === head) return this.gitCache.commits;
    const out = await github.git("log", `-n${MAX_COMMITS}`, "--format=%H%x1f%an%x1f%at%x1f%s%x1f%b%x1e");
    const commits = out
      .split("\x1e")
      .map((r) => r.replace(/^\n/, ""))
      .filter(Boolean)
      .map((r) => {
        const [sha = "", author = "", at = "0", subject = "", body = ""] = r.split("\x1f");
        return { sha, author, at: Number(at) * 1000, subject, body: body.trim() };
      });
    this.gitCache = { head, commits };
    return commits;
  }
}

/** The mount's tree, breadth first so the top levels show even when it is cut. */
async function walk(root: string): Promise<SiteView["tree"]> {
  const entries: TreeEntry[] = [];
  let more = 0;
  const queue = [""];
  while (queue.length > 0) {
    const rel = queue.shift() as string;
    let children: Dirent[];
    try {
      children = await readdir(join(root, rel), { withFileTypes: true });
    } catch {
      continue; // removed meanwhile, or a 0700 folder of someone else
    }
    for (const c of children.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = rel ? `${rel}/${c.name}` : c.name;
      if (entries.length >= MAX_TREE_ENTRIES) {
        more++;
        continue;
      }
      const kind = c.isDirectory() ? "directory" : c.isSymbolicLink() ? "link" : "file";
      const size =
        kind === "file"
          ? await stat(join(root, path)).then(
              (s) => s.size,
              () => 0,
            )
          : 0;
      entries.push({ path, kind, size });
      if (kind === "directory") queue.push(path);
    }
  }
  entries.sort((a, b) => comparePaths(a.path, b.path));
  return { entries, more };
}

/** Segment by segment, so a folder's contents follow it directly. */
function comparePaths(a: string, b: string): number {
  const x = a.split("/");
  const y = b.split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = (x[i] as string).localeCompare(y[i] as string);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}
