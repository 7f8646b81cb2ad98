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
}
