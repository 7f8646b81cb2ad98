// Makes one directory tree an exact copy of another: new and changed files are copied (with their
// mode and modification time), directories made, and whatever the source no longer has is removed.
// What EFS replication does to a destination file system, done on two local folders.

import type { Dirent } from "node:fs";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
} from "node:fs/promises";
import { join } from "node:path";
import { sameModificationTime } from "../adapters/file-times.ts";

export interface MirrorResult {
  copied: number;
  removed: number;
  directories: number;
}

export async function mirrorTree(source: string, destination: string): Promise<MirrorResult> {
  const result: MirrorResult = { copied: 0, removed: 0, directories: 0 };
  await mirrorDirectory(source, destination, result);
  return result;
}

async function mirrorDirectory(source: string, destination: string, result: MirrorResult): Promise<void> {
  const wanted = await entries(source);
  if (wanted === undefined) return; // the source directory went away meanwhile
  const present = new Map((await entries(destination))?.map((e) => [e.name, e]) ?? []);
  for (const entry of wanted) {
    const from = join(source, entry.name);
    const to = join(destination, entry.name);
    const there = present.get(entry.name);
    present.delete(entry.name);
    try {
      await mirrorEntry(entry, from, to, there, result);
    } catch (err) {
      // A file removed or replaced in the source while we copy: the next pass gets it right.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  for (const gone of present.values()) {
    await rm(join(destination, gone.name), { recursive: true, force: true });
    result.removed++;
  }
}

async function mirrorEntry(
  entry: Dirent,
  from: string,
  to: string,
  there: Dirent | undefined,
  result: MirrorResult,
): Promise<void> {
  const sameKind =
    there !== undefined &&
    there.isDirectory() === entry.isDirectory() &&
    there.isSymbolicLink() === entry.isSymbolicLink();
  if (there && !sameKind) {
    await rm(to, { recursive: true, force: true });
    result.removed++;
  }
  if (entry.isDirectory()) {
    const mode = (await stat(from)).mode & 0o7777;
    if (!sameKind) {
      await mkdir(to, { mode });
      result.directories++;
    }
    // Modes first so a 0770 directory stays enterable by us; then its contents.
    if (((await stat(to)).mode & 0o7777) !== mode) await chmod(to, mode);
    await mirrorDirectory(from, to, result);
    return;
  }
  if (entry.isSymbolicLink()) {
    const target = await readlink(from);
    if (sameKind && (await readlink(to)) === target) return;
    await rm(to, { force: true });
    await symlink(target, to);
    result.copied++;
    return;
  }
  if (!entry.isFile()) return; // sockets, fifos, devices: EFS holds none worth copying here
  const src = await lstat(from);
  if (sameKind) {
    const dst = await lstat(to);
    if (dst.size === src.size && sameModificationTime(dst.mtimeMs, src.mtimeMs)) {
      if ((dst.mode & 0o7777) !== (src.mode & 0o7777)) await chmod(to, src.mode & 0o7777);
      return;
    }
    await rm(to, { force: true }); // a read-only file cannot be copied over
  }
  await copyFile(from, to);
  await chmod(to, src.mode & 0o7777);
  await utimes(to, src.atimeMs / 1000, src.mtimeMs / 1000);
  result.copied++;
}

async function entries(dir: string): Promise<Dirent[] | undefined> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
