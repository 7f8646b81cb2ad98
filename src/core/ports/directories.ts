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
}
