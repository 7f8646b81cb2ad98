// Where the sandbox keeps its state: everything under one directory (./.drbot-sandbox by
// default), so `--reset` is one removal and a restart finds what the last run left.

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stopLeftoverRedis } from "./redis.ts";
import { SandboxStartError } from "./start-error.ts";

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

/**
 * One sandbox per state directory. A lock whose process is gone is taken over; `--reset` removes
 * the directory, but only one that looks like a sandbox's (never a folder someone passed by mistake).
 */
export async function claimDirectory(layout: Layout, reset: boolean): Promise<void> {
  const holder = Number((await readFile(layout.lock, "utf8").catch(() => "")).trim());
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder))
    throw new SandboxStartError(
      `another drbot sandbox (pid ${holder}) is using ${layout.root}; stop it first (Ctrl-C in its terminal)`,
    );
  if (reset && existsSync(layout.root)) {
    const names = await readdir(layout.root);
    const ours = ["drbot.yaml", "state.json", "sandbox.pid", "redis", "github", "efs-primary"];
    if (names.length > 0 && !names.some((n) => ours.includes(n)))
      throw new SandboxStartError(`${layout.root} does not look like a sandbox directory; not removing it`);
    // A Redis that a killed sandbox left running would write its files back after the removal.
    await stopLeftoverRedis(layout.redisDir);
    await rm(layout.root, { recursive: true, force: true });
  }
  await ensureLayout(layout);
  await writeFile(layout.lock, `${process.pid}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
