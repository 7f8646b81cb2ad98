// Volume directories live on the EFS file systems, which workers see mounted under each site's
// `mountPath`. Kept behind a port so jobs never touch node:fs directly.

export interface DirectoryPermissions {
  /** Numeric mode, e.g. 0o770. */
  mode: number;
  uid: number;
  gid: number;
}

export interface DirectoryStore {
  /**
   * Creates the missing directories of `root/segments…` one level at a time with the given
   * permissions. Directories that already exist are left exactly as they are (never chmod or
   * chown data that is there). Returns the absolute paths it created.
   */
  ensureDirectory(root: string, segments: readonly string[], perms: DirectoryPermissions): Promise<string[]>;
  /** Throws unless `root` is an existing directory (the mount is there). */
  probe(root: string): Promise<void>;
  /**
   * Regular files under `root/segments…` changed after `sinceMs`, walked as a stream (symlinks
   * not followed, top-level names in `skip` left out): totals and the first `keep` paths,
   * relative to `root/segments…`.
   */
  findChangedSince(
    root: string,
    segments: readonly string[],
    sinceMs: number,
    options: { skip: readonly string[]; keep: number },
  ): Promise<{ files: number; bytes: number; paths: string[] }>;
  /**
   * Copies those files to `toRoot/toSegments…/<same relative path>`, mode and mtime kept, at most
   * `limitBytes` in all (the rest is counted as beyond the limit). A file already copied (same
   * size and mtime) is skipped, so running it again copies nothing twice. The source is only read.
   */
  copyChangedSince(
    root: string,
    segments: readonly string[],
    sinceMs: number,
    to: { root: string; segments: readonly string[] },
    options: { skip: readonly string[]; limitBytes: number },
  ): Promise<{ files: number; bytes: number; skipped: number; beyondLimit: number }>;
  /**
   * Renames `root/from…` to `root/to…`: one rename on the same file system, so no data is copied
   * or deleted. The missing parents of `to` are created with `perms`. Safe to repeat: "already"
   * when `from` is gone and `to` is there, "missing" when neither is; refuses when both are.
   */
  moveDirectory(
    root: string,
    from: readonly string[],
    to: readonly string[],
    perms: DirectoryPermissions,
  ): Promise<"moved" | "already" | "missing">;
  /** Writes a small file `root/segments…` unless it exists (atomically); false when it was there. */
  writeFileOnce(root: string, segments: readonly string[], content: string): Promise<boolean>;
  /** A small file's text (at most `maxBytes`), or null when there is none. */
  readSmallFile(root: string, segments: readonly string[], maxBytes?: number): Promise<string | null>;
  /** What `root/segments…` holds (not followed into); [] when it does not exist. */
  listEntries(root: string, segments: readonly string[]): Promise<DirectoryEntry[]>;
  /**
   * Renames the entry `from` to `to` inside `root/segments…`, as a claim several processes may
   * race for: true for the one that renamed it, false when `from` was gone already.
   */
  claimEntry(root: string, segments: readonly string[], from: string, to: string): Promise<boolean>;
  /** Removes `root/segments…` and everything below it (symbolic links removed, never followed). */
  removeTree(root: string, segments: readonly string[]): Promise<void>;
  /**
   * Bytes and regular files under `root/segments…` (symbolic links not followed), walked until
   * `deadline` (ms since the epoch): `complete` is false when it was cut short. Null when the
   * directory does not exist.
   */
  measure(
    root: string,
    segments: readonly string[],
    options: { deadline: number },
  ): Promise<{ bytes: number; files: number; complete: boolean } | null>;
}

export interface DirectoryEntry {
  name: string;
  directory: boolean;
  mtimeMs: number;
}
