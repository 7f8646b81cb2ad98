// In-process reading and writing of a bare Git repository's loose objects and refs, in Git's own
// on-disk formats, so that the git CLI (log, show, fsck) sees exactly what the GitHub fake wrote.
// Everything here is synchronous on purpose: a request handler that never awaits between reading
// a ref and writing it cannot interleave with another request.
import { createHash } from "node:crypto";
import {
  closeSync,
  type Dirent,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { deflateSync, inflateSync } from "node:zlib";

export type ObjectType = "blob" | "tree" | "commit" | "tag";

export interface GitObject {
  type: ObjectType;
  body: Buffer;
}

/** A tree entry as Git stores it: trees have mode `40000` (no leading zero). */
export interface TreeEntry {
  mode: string;
  name: string;
  sha: string;
}

export const TREE_MODE = "40000";
const BLOB_MODES = new Set(["100644", "100755", "120000"]);
const SUBMODULE_MODE = "160000";

export function entryType(mode: string): "blob" | "tree" | "commit" {
  if (mode === TREE_MODE) return "tree";
  return mode === SUBMODULE_MODE ? "commit" : "blob";
}

/** Git's mode for an API mode string (`040000` is how GitHub spells a tree), or undefined. */
export function gitMode(apiMode: string): string | undefined {
  if (apiMode === "040000" || apiMode === TREE_MODE) return TREE_MODE;
  return BLOB_MODES.has(apiMode) || apiMode === SUBMODULE_MODE ? apiMode : undefined;
}

export interface Signature {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  time: number;
  /** Offset as Git writes it, e.g. `+0000`, `-0530`. */
  tz: string;
}

export interface Commit {
  tree: string;
  parents: string[];
  author: Signature;
  committer: Signature;
  message: string;
}

export function hashObject(type: ObjectType, body: Buffer): string {
  return createHash("sha1").update(`${type} ${body.length}\0`).update(body).digest("hex");
}

export class ObjectStore {
  readonly gitDir: string;
  // Objects are immutable, so a cache can never go stale.
  private readonly cache = new Map<string, GitObject>();
  private readonly fanoutDirs = new Set<string>();

  constructor(gitDir: string) {
    this.gitDir = gitDir;
  }

  write(type: ObjectType, body: Buffer): string {
    const sha = hashObject(type, body);
    if (this.cache.has(sha)) return sha;
    const dir = join(this.gitDir, "objects", sha.slice(0, 2));
    if (!this.fanoutDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.fanoutDirs.add(dir);
    }
    const data = deflateSync(Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]));
    try {
      // Exclusive create: an existing file is the same object (content-addressed).
      const fd = openSync(join(dir, sha.slice(2)), "wx", 0o444);
      try {
        writeSync(fd, data);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    this.cache.set(sha, { type, body });
    return sha;
  }

  read(sha: string): GitObject | undefined {
    if (!/^[0-9a-f]{40}$/.test(sha)) return undefined;
    const cached = this.cache.get(sha);
    if (cached) return cached;
    let raw: Buffer;
    try {
      raw = inflateSync(readFileSync(join(this.gitDir, "objects", sha.slice(0, 2), sha.slice(2))));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const nul = raw.indexOf(0);
    const [type] = raw.subarray(0, nul).toString("latin1").split(" ");
    const object = { type: type as ObjectType, body: raw.subarray(nul + 1) };
    this.cache.set(sha, object);
    return object;
  }

  typeOf(sha: string): ObjectType | undefined {
    return this.read(sha)?.type;
  }

  writeBlob(content: Buffer | string): string {
    return this.write("blob", typeof content === "string" ? Buffer.from(content, "utf8") : content);
  }

  readBlob(sha: string): Buffer | undefined {
    const object = this.read(sha);
    return object?.type === "blob" ? object.body : undefined;
  }

  /** Writes a tree; entries are put in Git's order (a tree sorts as if its name ended in `/`). */
  writeTree(entries: readonly TreeEntry[]): string {
    const sorted = [...entries].sort((a, b) => Buffer.compare(sortKey(a), sortKey(b)));
    const parts: Buffer[] = [];
    for (const e of sorted) {
      parts.push(Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.sha, "hex"));
    }
    return this.write("tree", Buffer.concat(parts));
  }

  readTree(sha: string): TreeEntry[] | undefined {
    const object = this.read(sha);
    if (object?.type !== "tree") return undefined;
    const body = object.body;
    const entries: TreeEntry[] = [];
    let at = 0;
    while (at < body.length) {
      const space = body.indexOf(0x20, at);
      const nul = body.indexOf(0, space);
      entries.push({
        mode: body.subarray(at, space).toString("latin1"),
        name: body.subarray(space + 1, nul).toString("utf8"),
        sha: body.subarray(nul + 1, nul + 21).toString("hex"),
      });
      at = nul + 21;
    }
    return entries;
  }

  writeCommit(commit: Commit): string {
    const lines = [`tree ${commit.tree}`, ...commit.parents.map((p) => `parent ${p}`)];
    lines.push(`author ${formatSignature(commit.author)}`, `committer ${formatSignature(commit.committer)}`);
    return this.write("commit", Buffer.from(`${lines.join("\n")}\n\n${commit.message}`, "utf8"));
  }

  readCommit(sha: string): Commit | undefined {
    const object = this.read(sha);
    if (object?.type !== "commit") return undefined;
    const text = object.body.toString("utf8");
    const split = text.indexOf("\n\n");
    const headers = (split < 0 ? text : text.slice(0, split)).split("\n");
    const commit: Commit = {
      tree: "",
      parents: [],
      author: EMPTY_SIGNATURE,
      committer: EMPTY_SIGNATURE,
      message: split < 0 ? "" : text.slice(split + 2),
    };
    for (const line of headers) {
      const space = line.indexOf(" ");
      const key = line.slice(0, space);
      const value = line.slice(space + 1);
      if (key === "tree") commit.tree = value;
      else if (key === "parent") commit.parents.push(value);
      else if (key === "author") commit.author = parseSignature(value);
      else if (key === "committer") commit.committer = parseSignature(value);
    }
    return commit;
  }

  /** Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor). */
  isAncestor(ancestor: string, descendant: string): boolean {
    const seen = new Set<string>();
    const queue = [descendant];
    while (queue.length > 0) {
      const sha = queue.pop() as string;
      if (sha === ancestor) return true;
      if (seen.has(sha)) continue;
      seen.add(sha);
      queue.push(...(this.readCommit(sha)?.parents ?? []));
    }
    return false;
  }

  /** The entry at a slash-separated path below a tree, or undefined. */
  lookup(treeSha: string, path: string): TreeEntry | undefined {
    let entry: TreeEntry | undefined = { mode: TREE_MODE, name: "", sha: treeSha };
    for (const name of path.split("/").filter(Boolean)) {
      if (entry?.mode !== TREE_MODE) return undefined;
      entry = this.readTree(entry.sha)?.find((e) => e.name === name);
    }
    return entry;
  }
}

function sortKey(e: TreeEntry): Buffer {
  return Buffer.from(e.mode === TREE_MODE ? `${e.name}/` : e.name, "utf8");
}

const EMPTY_SIGNATURE: Signature = { name: "", email: "", time: 0, tz: "+0000" };

function formatSignature(s: Signature): string {
  // Git forbids these characters in identities; fsck --strict would reject the commit.
  const clean = (v: string) => v.replace(/[<>\n]/g, "").trim();
  return `${clean(s.name)} <${clean(s.email)}> ${Math.floor(s.time)} ${s.tz}`;
}

function parseSignature(value: string): Signature {
  const m = /^(.*) <(.*)> (\d+) ([+-]\d{4})$/.exec(value);
  if (!m) return EMPTY_SIGNATURE;
  return { name: m[1] ?? "", email: m[2] ?? "", time: Number(m[3]), tz: m[4] ?? "+0000" };
}

export class TreeEditError extends Error {}

/** One change to a tree: put an object at `path`, or remove it when `sha` is null. */
export interface TreeEdit {
  path: string;
  /** Git mode (`100644`, `40000`, …). */
  mode: string;
  sha: string | null;
}

type Node = { kind: "leaf"; mode: string; sha: string } | DirNode;
interface DirNode {
  kind: "dir";
  /** The stored tree this node started from; undefined for a new directory. */
  sha: string | undefined;
  children: Map<string, Node> | undefined;
  dirty: boolean;
}

/**
 * Applies edits in order on top of `baseTree` (or an empty tree) and writes only the trees that
 * changed. Directories left empty disappear, as in Git. Returns the new root tree's id.
 */
export function applyTreeEdits(
  store: ObjectStore,
  baseTree: string | undefined,
  edits: readonly TreeEdit[],
): string {
  const root: DirNode = { kind: "dir", sha: baseTree, children: undefined, dirty: true };
  for (const edit of edits) {
    const names = splitPath(edit.path);
    let dir = root;
    for (const name of names.slice(0, -1)) {
      const children = childrenOf(store, dir);
      let next = children.get(name);
      if (next?.kind !== "dir") {
        if (edit.sha === null) throw new TreeEditError(`path ${edit.path} does not exist`);
        next = { kind: "dir", sha: undefined, children: new Map(), dirty: true };
        children.set(name, next);
      }
      dir.dirty = true;
      dir = next;
    }
    dir.dirty = true;
    const children = childrenOf(store, dir);
    const last = names[names.length - 1] as string;
    if (edit.sha === null) {
      if (!children.delete(last)) throw new TreeEditError(`path ${edit.path} does not exist`);
    } else if (edit.mode === TREE_MODE) {
      children.set(last, { kind: "dir", sha: edit.sha, children: undefined, dirty: false });
    } else {
      children.set(last, { kind: "leaf", mode: edit.mode, sha: edit.sha });
    }
  }
  return writeDir(store, root) ?? store.writeTree([]);
}

function splitPath(path: string): string[] {
  const names = path.split("/");
  for (const name of names) {
    if (
      name === "" ||
      name === "." ||
      name === ".." ||
      name.toLowerCase() === ".git" ||
      name.includes("\0")
    ) {
      throw new TreeEditError(`tree.path contains a malformed path component: ${JSON.stringify(path)}`);
    }
  }
  return names;
}

function childrenOf(store: ObjectStore, dir: DirNode): Map<string, Node> {
  if (!dir.children) {
    dir.children = new Map();
    for (const e of (dir.sha && store.readTree(dir.sha)) || []) {
      dir.children.set(
        e.name,
        e.mode === TREE_MODE
          ? { kind: "dir", sha: e.sha, children: undefined, dirty: false }
          : { kind: "leaf", mode: e.mode, sha: e.sha },
      );
    }
  }
  return dir.children;
}

/** Writes a changed directory bottom-up; undefined when it ended up empty. */
function writeDir(store: ObjectStore, dir: DirNode): string | undefined {
  if (!dir.dirty) return dir.sha;
  const entries: TreeEntry[] = [];
  for (const [name, node] of childrenOf(store, dir)) {
    if (node.kind === "leaf") {
      entries.push({ mode: node.mode, name, sha: node.sha });
      continue;
    }
    const sha = writeDir(store, node);
    if (sha) entries.push({ mode: TREE_MODE, name, sha });
  }
  return entries.length === 0 ? undefined : store.writeTree(entries);
}

/** Loose refs under a bare repository, updated with Git's own lock-file protocol. */
export class RefStore {
  readonly gitDir: string;

  constructor(gitDir: string) {
    this.gitDir = gitDir;
  }

  /** The id a full ref name (`refs/heads/main`) points at, or undefined. */
  read(name: string): string | undefined {
    if (!isRefName(name)) return undefined;
    try {
      return readFileSync(join(this.gitDir, name), "utf8").trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR") return undefined;
      throw err;
    }
  }

  /** Every ref whose full name starts with `prefix`, sorted by name. */
  list(prefix: string): { name: string; sha: string }[] {
    const out: { name: string; sha: string }[] = [];
    const walk = (rel: string) => {
      let entries: Dirent[];
      try {
        entries = readdirSync(join(this.gitDir, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const name = `${rel}/${e.name}`;
        if (e.isDirectory()) walk(name);
        else if (!e.name.endsWith(".lock") && name.startsWith(prefix)) {
          const sha = this.read(name);
          if (sha) out.push({ name, sha });
        }
      }
    };
    walk("refs");
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Compare-and-swap: points `name` at `next` only if it currently points at `expected` (null:
   * must not exist). Takes `<ref>.lock` exclusively as git does, so it is safe even against a
   * concurrent `git update-ref`. Returns false when the ref moved or is locked.
   */
  update(name: string, next: string | null, expected: string | null): boolean {
    if (!isRefName(name)) throw new Error(`invalid ref name ${name}`);
    const file = join(this.gitDir, name);
    mkdirSync(dirname(file), { recursive: true });
    const lock = `${file}.lock`;
    let fd: number;
    try {
      fd = openSync(lock, "wx");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    }
    let committed = false;
    try {
      if ((this.read(name) ?? null) !== expected) return false;
      if (next === null) {
        rmSync(file, { force: true });
      } else {
        writeSync(fd, `${next}\n`);
        closeSync(fd);
        fd = -1;
        renameSync(lock, file);
        committed = true;
      }
      return true;
    } finally {
      if (fd >= 0) closeSync(fd);
      if (!committed) rmSync(lock, { force: true });
    }
  }
}

function isRefName(name: string): boolean {
  return (
    name.startsWith("refs/") &&
    !name.split("/").some((c) => c === "" || c === "." || c === ".." || c.endsWith(".lock")) &&
    !/[\0\s~^:?*[\\]/.test(name)
  );
}
