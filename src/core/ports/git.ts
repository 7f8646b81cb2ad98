// The GitOps repository that records every PV/PVC manifest. One branch, paths relative to the
// repository root.

export interface GitFile {
  path: string;
  content: string;
}

export interface GitTreeEntry {
  path: string;
  /** Blob id, for readBlob. */
  sha: string;
}

export interface CommitResult {
  sha: string;
  url: string;
}

export interface GitPort {
  /** Repository and branch exist and the credentials can read them. */
  probe(): Promise<{ fullName: string; branch: string; headSha: string }>;
  readFile(path: string): Promise<string | null>;
  /** Every file under `prefix` (recursively) on the branch head. */
  listFiles(prefix: string): Promise<GitTreeEntry[]>;
  readBlob(sha: string): Promise<string>;
  /**
   * Writes all files in one commit on top of the branch head (Git data API: one tree, one
   * commit, one ref update), re-based and retried when another writer moved the branch.
   * Idempotent: when the head already holds exactly these contents nothing is committed and
   * null is returned.
   */
  commitFiles(files: readonly GitFile[], message: string): Promise<CommitResult | null>;
}
