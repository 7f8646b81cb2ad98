// The GitOps repository that records every PV/PVC manifest. One branch, paths relative to the
// repository root.

export interface GitFile {
  path: string;
  content: string;
}

/** Removes `path` in a commit; a path that is not there is no change. */
export interface GitDeletion {
  path: string;
  delete: true;
}

export type GitChange = GitFile | GitDeletion;

export interface GitTreeEntry {
  path: string;
  /** Blob id, for readBlob. */
  sha: string;
}

/** A file as readTree delivers it. */
export interface RecordedFile {
  path: string;
  /** Git's blob id, computed locally from the content: equal to GitTreeEntry.sha. */
  sha: string;
  content: string;
}

export interface CommitResult {
  sha: string;
  url: string;
}

/** The REST request budget GitHub reported last (x-ratelimit-* headers). */
export interface RateLimit {
  remaining: number;
  limit: number;
  resetAt: Date;
}

export interface GitPort {
  /** Repository and branch exist and the credentials can read them. */
  probe(): Promise<{ fullName: string; branch: string; headSha: string }>;
  /** The branch head's commit id. */
  headSha(): Promise<string>;
  readFile(path: string): Promise<string | null>;
  /** Every file under `prefix` (recursively) on the branch head. */
  listFiles(prefix: string): Promise<GitTreeEntry[]>;
  readBlob(sha: string): Promise<string>;
  /**
   * Every file under `prefix` at `ref` (a commit id; default the branch head), read from one
   * archive download of that commit whatever the number of files, as a stream: `onFile` gets
   * one file at a time (the next is read once it resolves) and nothing else is held. Returns
   * the commit that was read and how many files matched. When it throws, `onFile` may already
   * have seen some of the files.
   */
  readTree(
    prefix: string,
    onFile: (file: RecordedFile) => void | Promise<void>,
    options?: { ref?: string },
  ): Promise<{ commit: string; files: number }>;
  /**
   * Writes and deletes files in one commit on top of the branch head (Git data API: one tree,
   * one commit, one ref update), re-based and retried when another writer moved the branch.
   * Idempotent: when the head already holds exactly these contents (and none of the deleted
   * paths) nothing is committed and null is returned.
   */
  commitFiles(changes: readonly GitChange[], message: string): Promise<CommitResult | null>;
  /** The REST budget as of the last answer from GitHub; undefined before the first one. */
  rateLimit(): RateLimit | undefined;
}
