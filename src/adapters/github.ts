// The GitOps repository on GitHub (or GitHub Enterprise), through Octokit with the retry and
// throttling plugins. Commits go through the Git data API so that any number of files land in one
// commit with one compare-and-swap ref update.

import { setTimeout as sleep } from "node:timers/promises";
import { createAppAuth } from "@octokit/auth-app";
import { retry } from "@octokit/plugin-retry";
import { type ThrottlingOptions, throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import { DrbotError } from "../core/errors.ts";
import type { CommitResult, GitFile, GitPort, GitTreeEntry } from "../core/ports/git.ts";

/** The subset of a pino logger this adapter uses. */
export interface GitLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
}

export interface GitHubRepositoryOptions {
  /** API root: `https://api.github.com`, or `https://ghe.example.com/api/v3`. */
  apiUrl: string;
  owner: string;
  repo: string;
  branch: string;
  /** A token (fine-grained or classic), or a GitHub App installation to authenticate as. */
  auth: string | { appId: string; privateKey: string; installationId: string };
  logger?: GitLogger;
  /** Commit attempts when other writers keep moving the branch. Default 5. */
  maxCommitAttempts?: number;
  /** Retries of one request after a rate limit, a 5xx, a timeout or a reset. Default 3. */
  retries?: number;
  /**
   * Milliseconds waited per second of delay (GitHub's `retry-after`, the rate-limit reset, the
   * retry backoff). Default 1000; tests pass 1 to keep every wait but make it instant.
   */
  retryDelayScaleMs?: number;
  /** Rate-limit waits longer than this are reported as transient errors instead. Default 60 s. */
  maxRateLimitWaitSeconds?: number;
  /** Per-request timeout. Default 30 s. */
  requestTimeoutMs?: number;
  /** Space mutating requests a second apart, as GitHub asks of integrations. Default true. */
  paceWrites?: boolean;
}

const GitHubClient = Octokit.plugin(retry, throttling);
type Client = InstanceType<typeof GitHubClient>;
type BottleneckGroup = NonNullable<ThrottlingOptions["write"]>;

// plugin-throttling only ever calls `group.key(id).schedule(options, job)` on its write group;
// running the job at once drops the one-second spacing and keeps its rate-limit retries.
const UNPACED = {
  key: () => ({ schedule: (_options: unknown, job: () => Promise<unknown>) => job() }),
} as unknown as BottleneckGroup;

const SILENT: GitLogger = { warn: () => {}, debug: () => {} };

export function createGitHubRepository(options: GitHubRepositoryOptions): GitPort {
  return new GitHubRepository(options);
}

class GitHubRepository implements GitPort {
  private readonly octokit: Client;
  private readonly owner: string;
  private readonly repo: string;
  private readonly branch: string;
  private readonly log: GitLogger;
  private readonly maxCommitAttempts: number;
  private readonly delayScaleMs: number;

  constructor(options: GitHubRepositoryOptions) {
    this.owner = options.owner;
    this.repo = options.repo;
    this.branch = options.branch;
    this.log = options.logger ?? SILENT;
    this.maxCommitAttempts = options.maxCommitAttempts ?? 5;
    this.delayScaleMs = options.retryDelayScaleMs ?? 1000;
    const retries = options.retries ?? 3;
    const maxWait = options.maxRateLimitWaitSeconds ?? 60;
    const onLimit =
      (kind: "primary" | "secondary") =>
      (
        retryAfterSeconds: number,
        request: { method?: string; url?: string },
        _octokit: unknown,
        retryCount: number,
      ) => {
        const willRetry = retryCount < retries && retryAfterSeconds <= maxWait;
        // The route template (`/repos/{owner}/{repo}/…`), never headers: they carry the token.
        this.log.warn(
          {
            kind,
            method: request.method,
            route: request.url,
            retryAfterSeconds,
            attempt: retryCount + 1,
            willRetry,
          },
          "GitHub rate limit hit",
        );
        return willRetry;
      };
    this.octokit = new GitHubClient({
      baseUrl: options.apiUrl.replace(/\/+$/, ""),
      // A GitHub App signs a JWT with its key and trades it for short-lived installation tokens,
      // which @octokit/auth-app renews before they expire.
      ...(typeof options.auth === "string"
        ? { auth: options.auth }
        : { authStrategy: createAppAuth, auth: { ...options.auth } }),
      userAgent: "drbot",
      request: { fetch: fetchWithTimeout(options.requestTimeoutMs ?? 30_000) },
      // Octokit's request log passes request options (with the Authorization header) as a second
      // argument; only the one-line message is kept. Failed requests go to debug: a 404 from
      // readFile or a refused ref update is expected, and real failures surface as DrbotErrors.
      log: {
        debug: () => {},
        info: () => {},
        warn: (message: string) => this.log.warn({}, message),
        error: (message: string) => this.log.debug({}, message),
      },
      retry: {
        retries,
        retryAfterBaseValue: this.delayScaleMs,
        // Rate limits (403/429) belong to the throttling plugin; the rest will not get better.
        doNotRetry: [400, 401, 403, 404, 409, 410, 422, 429, 451],
      },
      throttle: {
        retryAfterBaseValue: this.delayScaleMs,
        onRateLimit: onLimit("primary"),
        onSecondaryRateLimit: onLimit("secondary"),
        ...(options.paceWrites === false ? { write: UNPACED, notifications: UNPACED } : {}),
      },
    });
  }

  async probe(): Promise<{ fullName: string; branch: string; headSha: string }> {
    const repo = await this.call("read the repository", () =>
      this.octokit.repos.get({ owner: this.owner, repo: this.repo }),
    );
    return { fullName: repo.data.full_name, branch: this.branch, headSha: await this.headCommit() };
  }

  async readFile(path: string): Promise<string | null> {
    const file = checkPath(path);
    let data: Awaited<ReturnType<Client["repos"]["getContent"]>>["data"];
    try {
      ({ data } = await this.octokit.repos.getContent({
        owner: this.owner,
        repo: this.repo,
        path: file,
        ref: this.branch,
      }));
    } catch (err) {
      if (httpStatus(err) === 404) return null;
      throw this.translate(err, `read ${file}`);
    }
    if (Array.isArray(data) || data.type !== "file") {
      throw new DrbotError("invalid", "git.not_a_file", `${file} in ${this.where()} is not a file.`, {
        hint: "Check the path: it names a directory, symlink or submodule.",
      });
    }
    // Above 1 MB the contents API leaves `content` empty; the blob API has no such limit.
    if (data.encoding !== "base64") return this.readBlob(data.sha);
    return Buffer.from(data.content, "base64").toString("utf8");
  }

  async listFiles(prefix: string): Promise<GitTreeEntry[]> {
    const scope = prefix.replace(/^\/+|\/+$/g, "");
    const branch = await this.call(`read branch ${this.branch}`, () =>
      this.octokit.repos.getBranch({ owner: this.owner, repo: this.repo, branch: this.branch }),
    );
    const files = await this.collectFiles(branch.data.commit.commit.tree.sha, "", scope);
    return files.filter((f) => !scope || f.path.startsWith(`${scope}/`) || f.path === scope);
  }

  async readBlob(sha: string): Promise<string> {
    const blob = await this.call(`read blob ${sha}`, () =>
      this.octokit.git.getBlob({ owner: this.owner, repo: this.repo, file_sha: sha }),
    );
    return Buffer.from(blob.data.content, blob.data.encoding === "base64" ? "base64" : "utf8").toString(
      "utf8",
    );
  }

  async commitFiles(files: readonly GitFile[], message: string): Promise<CommitResult | null> {
    if (files.length === 0) return null;
    const seen = new Set<string>();
    for (const f of files) {
      if (seen.has(checkPath(f.path))) {
        throw new DrbotError(
          "invalid",
          "git.duplicate_path",
          `${f.path} appears twice in one commit to ${this.where()}.`,
        );
      }
      seen.add(f.path);
    }
    const tree = files.map((f) => ({
      path: f.path,
      mode: "100644" as const,
      type: "blob" as const,
      content: f.content,
    }));
    const ref = `heads/${this.branch}`;
    for (let attempt = 1; ; attempt++) {
      const head = await this.headCommit();
      const base = await this.call(`read commit ${head}`, () =>
        this.octokit.git.getCommit({ owner: this.owner, repo: this.repo, commit_sha: head }),
      );
      const created = await this.call(`write a tree of ${files.length} file(s)`, () =>
        this.octokit.git.createTree({
          owner: this.owner,
          repo: this.repo,
          base_tree: base.data.tree.sha,
          tree,
        }),
      );
      // Same tree as the head: these exact contents are already there (an earlier attempt or
      // another writer got them in), so a retried job commits nothing.
      if (created.data.sha === base.data.tree.sha) return null;
      const commit = await this.call("create a commit", () =>
        this.octokit.git.createCommit({
          owner: this.owner,
          repo: this.repo,
          message,
          tree: created.data.sha,
          parents: [head],
        }),
      );
      try {
        await this.octokit.git.updateRef({
          owner: this.owner,
          repo: this.repo,
          ref,
          sha: commit.data.sha,
          force: false,
        });
        return { sha: commit.data.sha, url: commit.data.html_url };
      } catch (err) {
        if (!isNotFastForward(err)) throw this.translate(err, `move branch ${this.branch}`);
        if (attempt >= this.maxCommitAttempts) {
          throw new DrbotError(
            "transient",
            "git.branch_contention",
            `Branch ${this.branch} of ${this.owner}/${this.repo} moved under every one of ${attempt} commit attempts; nothing was committed.`,
            {
              hint: "Other writers are pushing to this branch continuously; the job retries later.",
              cause: err,
            },
          );
        }
        this.log.debug(
          { branch: this.branch, attempt, head },
          "branch moved during commit; rebuilding on the new head",
        );
        await sleep(Math.random() * 0.1 * attempt * this.delayScaleMs);
      }
    }
  }

  private async headCommit(): Promise<string> {
    try {
      const ref = await this.octokit.git.getRef({
        owner: this.owner,
        repo: this.repo,
        ref: `heads/${this.branch}`,
      });
      return ref.data.object.sha;
    } catch (err) {
      if (httpStatus(err) !== 404) throw this.translate(err, `read branch ${this.branch}`);
      throw new DrbotError(
        "not_found",
        "git.branch_not_found",
        `Branch ${this.branch} does not exist in ${this.where()}.`,
        {
          hint: "Check git.branch in the configuration, or create the branch; a 404 can also mean the token cannot see the repository.",
          cause: err,
        },
      );
    }
  }

  /**
   * Every blob below `treeSha` that can lie under `scope`. One recursive read normally; when
   * GitHub truncates it (over 100,000 entries or 7 MB), walks the tree a level at a time.
   */
  private async collectFiles(treeSha: string, base: string, scope: string): Promise<GitTreeEntry[]> {
    const read = (recursive: boolean) =>
      this.call(`list files under ${base || "/"}`, () =>
        this.octokit.git.getTree({
          owner: this.owner,
          repo: this.repo,
          tree_sha: treeSha,
          ...(recursive ? { recursive: "1" } : {}),
        }),
      );
    const join = (path: string | undefined) => (base ? `${base}/${path}` : (path ?? ""));
    const whole = await read(true);
    if (!whole.data.truncated) {
      return whole.data.tree
        .filter((e) => e.type === "blob" && e.sha)
        .map((e) => ({ path: join(e.path), sha: e.sha as string }));
    }
    const level = await read(false);
    const files: GitTreeEntry[] = [];
    for (const e of level.data.tree) {
      const path = join(e.path);
      if (!e.sha || !inScope(path, scope)) continue;
      if (e.type === "blob") files.push({ path, sha: e.sha });
      else if (e.type === "tree") files.push(...(await this.collectFiles(e.sha, path, scope)));
    }
    return files;
  }

  private async call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.translate(err, action);
    }
  }

  private where(): string {
    return `${this.owner}/${this.repo} (branch ${this.branch})`;
  }

  /** An Octokit failure as a DrbotError that says what failed, where, and what to check. */
  private translate(err: unknown, action: string): DrbotError {
    if (err instanceof DrbotError) return err;
    const status = httpStatus(err);
    const said = githubMessage(err);
    const answered = hasResponse(err) ? `GitHub answered ${status}` : "no answer from GitHub";
    const failed = `Could not ${action} in ${this.where()}: ${answered}${said ? ` (${said})` : ""}.`;
    const repo = `${this.owner}/${this.repo}`;
    if (status === 401) {
      return new DrbotError("forbidden", "git.unauthorized", failed, {
        hint: "Check GITHUB_TOKEN (or the GitHub App credentials): it is missing, expired or revoked, or belongs to another GitHub host.",
        cause: err,
      });
    }
    if ((status === 403 || status === 429) && isRateLimited(err)) {
      return new DrbotError("transient", "git.rate_limited", failed, {
        hint: "GitHub's rate limit is exhausted; the job retries later. If this persists, look for other clients sharing the token.",
        cause: err,
      });
    }
    if (status === 403) {
      return new DrbotError("forbidden", "git.forbidden", failed, {
        hint: `Give the token Contents read and write access to ${repo} (the repo scope for a classic token), and check branch protection.`,
        cause: err,
      });
    }
    if (status === 404) {
      return new DrbotError("not_found", "git.not_found", failed, {
        hint: `Check git.owner, git.repo and git.apiUrl; GitHub also answers 404 when the token cannot see ${repo}.`,
        cause: err,
      });
    }
    if (status === 409) {
      return new DrbotError("conflict", "git.conflict", failed, {
        hint: `Check that ${repo} is not empty or archived.`,
        cause: err,
      });
    }
    if (status === 400 || status === 422) {
      return new DrbotError("invalid", "git.rejected", failed, {
        hint: "GitHub refused the request itself: check the file paths and the configured branch.",
        cause: err,
      });
    }
    // Octokit reports connection failures and timeouts as status 500 too.
    if (status === 429 || (status !== undefined && status >= 500)) {
      return new DrbotError("transient", "git.unavailable", failed, {
        hint: "GitHub or the network path to it is failing; the job retries with backoff. Check githubstatus.com or the Enterprise server.",
        cause: err,
      });
    }
    return new DrbotError("internal", "git.unexpected", failed, { cause: err });
  }
}

function fetchWithTimeout(timeoutMs: number): typeof fetch {
  return (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    return fetch(input, {
      ...init,
      signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
    });
  };
}

/** Git paths the API accepts: relative, no empty, `.`, `..` or `.git` components. */
function checkPath(path: string): string {
  const bad = path.split("/").some((c) => c === "" || c === "." || c === ".." || c.toLowerCase() === ".git");
  if (bad || path.includes("\0")) {
    throw new DrbotError(
      "invalid",
      "git.invalid_path",
      `${JSON.stringify(path)} is not a valid repository path.`,
      {
        hint: "Use a relative path such as PV-PVCs/primary/…/pv-pvc_data.yaml, without leading slash or `..`.",
      },
    );
  }
  return path;
}

function inScope(path: string, scope: string): boolean {
  return !scope || path === scope || path.startsWith(`${scope}/`) || scope.startsWith(`${path}/`);
}

function httpStatus(err: unknown): number | undefined {
  const status = typeof err === "object" && err !== null ? (err as { status?: unknown }).status : undefined;
  return typeof status === "number" ? status : undefined;
}

/** GitHub's own message (`Bad credentials`), without Octokit's documentation-URL suffix. */
function githubMessage(err: unknown): string {
  const data = (err as { response?: { data?: unknown } } | undefined)?.response?.data;
  if (
    typeof data === "object" &&
    data !== null &&
    typeof (data as { message?: unknown }).message === "string"
  ) {
    return (data as { message: string }).message.split("\n")[0] ?? "";
  }
  return err instanceof Error ? err.message.replace(/ - https?:\/\/\S+$/, "") : "";
}

function hasResponse(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { response?: unknown }).response !== undefined;
}

function isRateLimited(err: unknown): boolean {
  const headers =
    (err as { response?: { headers?: Record<string, string | undefined> } }).response?.headers ?? {};
  return headers["x-ratelimit-remaining"] === "0" || /rate limit/i.test(githubMessage(err));
}

function isNotFastForward(err: unknown): boolean {
  return httpStatus(err) === 422 && /not a fast.?forward/i.test(githubMessage(err));
}
