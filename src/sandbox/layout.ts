// Where the sandbox keeps its state: everything under one directory (./.drbot-sandbox by
// default), so `--reset` is one removal and a restart finds what the last run left.

import { createHash } from "node:crypto";
import { lstat, mkdir, readlink, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export interface Layout {
  root: string;
  config: string;
  kubeconfigs: string;
  /** The EFS roots as workers see them mounted; always a path drbot's config accepts. */
  mounts: { primary: string; secondary: string };
  /** The bare repository behind the GitHub stand-in. */
  gitDir: string;
  redisDir: string;
  state: string;
  log: string;
  lock: string;
}

export function layoutOf(dir: string): Layout {
  const root = resolve(dir);
  return {
    root,
    config: join(root, "drbot.yaml"),
    kubeconfigs: root,
    mounts: { primary: join(root, "efs-primary"), secondary: join(root, "efs-secondary") },
    gitDir: join(root, "github", "dr-volumes.git"),
    redisDir: join(root, "redis"),
    state: join(root, "state.json"),
    log: join(root, "drbot.log"),
    lock: join(root, "sandbox.pid"),
  };
}

// drbot's configuration takes mount paths of letters, digits, '.', '_', '-' and '/' only.
const CONFIG_SAFE_PATH = /^[A-Za-z0-9._/-]+$/;

/**
 * A path to `dir` that drbot's configuration accepts: the directory itself, or (when its path has
 * spaces or other characters the config refuses, e.g. a home folder "Jane Doe") a symlink to it
 * in the temp folder, named after the real path so restarts reuse it.
 */
export async function configSafePath(dir: string): Promise<string> {
  if (CONFIG_SAFE_PATH.test(dir)) return dir;
  const link = join(tmpdir(), `drbot-sandbox-${createHash("sha256").update(dir).digest("hex").slice(0, 12)}`);
  if (!CONFIG_SAFE_PATH.test(link))
    throw new Error(
      `neither ${dir} nor the temp folder ${tmpdir()} has a path drbot's configuration accepts`,
    );
  const existing = await lstat(link).catch(() => undefined);
  if (existing?.isSymbolicLink() && (await readlink(link)) === dir) return link;
  if (existing) await rm(link, { recursive: true, force: true });
  await symlink(dir, link, "dir");
  return link;
}

export async function ensureLayout(layout: Layout): Promise<void> {
  for (const d of [
    layout.root,
    layout.mounts.primary,
    layout.mounts.secondary,
    layout.redisDir,
    join(layout.gitDir, ".."),
  ])
    await mkdir(d, { recursive: true });
}
