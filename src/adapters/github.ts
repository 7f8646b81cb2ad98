// The GitOps repository on GitHub (or GitHub Enterprise), through Octokit with the retry and
// throttling plugins. Commits go through the Git data API so that any number of files land in one
// commit with one compare-and-swap ref update; whole directories are read from one archive
// download, so neither costs more requests as the fleet grows.

import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { createAppAuth } from "@octokit/auth-app";
import { retry } from "@octokit/plugin-retry";
import { type ThrottlingOptions, throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import { formatDuration } from "../core/duration.ts";
import { DrbotError } from "../core/errors.ts";
import { isNetworkFailure, kindOfHttpStatus } from "../core/http-errors.ts";
import type { Metrics } from "../core/metrics.ts";
import type {
  CommitResult,
  GitChange,
  GitDeletion,
  GitPort,
  GitTreeEntry,
  RateLimit,
  RecordedFile,
} from "../core/ports/git.ts";
import { readArchive } from "./github-archive.ts";
import { RateLimitTracker } from "./github-rate-limit.ts";

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
  /** Keeps `drbot_github_rate_limit_remaining` current. */
  metrics?: Pick<Metrics, "githubRateLimitRemaining">;
  /** readTree refuses a file larger than this instead of holding it. Default 10 MiB. */
  maxArchiveFileBytes?: number;
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
  private readonly requestTimeoutMs: number;
  private readonly maxArchiveFileBytes: number;
  private readonly budget: RateLimitTracker;

  constructor(options: GitHubRepositoryOptions) {
    this.owner = options.owner;
    this.repo = options.repo;
    this.branch = options.branch;
    this.log = options.logger ?? SILENT;
    this.maxCommitAttempts = options.maxCommitAttempts ?? 5;
    this.delayScaleMs = options.retryDelayScaleMs ?? 1000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxArchiveFileBytes = options.maxArchiveFileBytes ?? 10 * 1024 * 1024;
    const gauge = options.metrics?.githubRateLimitRemaining;
    this.budget = new RateLimitTracker({
      onReading: (budget) => gauge?.set(budget.remaining),
      onLow: (budget) =>
        this.log.warn(
          { remaining: budget.remaining, limit: budget.limit, resetAt: budget.resetAt.toISOString() },
          "GitHub REST budget running low",
        ),
    });
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
      // Every answer, retries included, updates the remembered budget.
      request: { fetch: fetchWithTimeout(this.requestTimeoutMs, (headers) => this.budget.observe(headers)) },
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
    return { fullName: repo.data.full_name, branch: this.branch, headSha: await this.headSha() };
  }

  rateLimit(): RateLimit | undefined {
    return this.budget.current();
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

  async readTree(
    prefix: string,
    onFile: (file: RecordedFile) => void | Promise<void>,
    options: { ref?: string } = {},
  ): Promise<{ commit: string; files: number }> {
    const scope = prefix.replace(/^\/+|\/+$/g, "");
    if (scope) checkPath(scope);
    const pinned = options.ref;
    if (pinned !== undefined && !COMMIT_ID.test(pinned)) {
      throw new DrbotError(
        "invalid",
        "git.invalid_ref",
        `${JSON.stringify(pinned)} is not a commit id; readTree reads a commit of ${this.where()}.`,
        { hint: "Pass the 40-hex-digit id that headSha() returned, or no ref for the branch head." },
      );
    }
    const ref = pinned ?? this.branch;
    // GitHub answers with a short-lived link to its archive service (codeload), which streams
    // `git archive` of the commit; only this first request counts against the REST budget.
    // (`git archive` honours .gitattributes export-ignore/export-subst: the GitOps repository must
    // not set them on manifests, or the archive would not hold the committed bytes.)
    const link = await this.call(`request the archive of ${ref}`, () =>
      this.octokit.repos.downloadTarballArchive({
        owner: this.owner,
        repo: this.repo,
        ref,
        request: { redirect: "manual" },
      }),
    );
    const location = link.headers.location;
    if (!location) {
      throw new DrbotError(
        "internal",
        "git.unexpected",
        `GitHub answered ${link.status} without a download link for the archive of ${ref} of ${this.where()}.`,
      );
    }
    const what = `the archive of ${ref} of ${this.owner}/${this.repo}`;
    const read = await readArchive(await this.download(new URL(location, this.apiBase()), what), {
      scope,
      onFile,
      maxFileBytes: this.maxArchiveFileBytes,
      what,
    });
    const commit = read.commit ?? pinned;
    if (!commit || (pinned !== undefined && commit !== pinned)) {
      throw new DrbotError(
        "internal",
        "git.archive_mismatch",
        `${what} ${read.commit ? `is of commit ${read.commit}` : "does not name its commit"}; expected ${pinned ?? "a commit id"}.`,
      );
    }
    return { commit, files: read.files };
  }

  async commitFiles(changes: readonly GitChange[], message: string): Promise<CommitResult | null> {
    if (changes.length === 0) return null;
    const seen = new Set<string>();
    for (const c of changes) {
      if (seen.has(checkPath(c.path))) {
        throw new DrbotError(
          "invalid",
          "git.duplicate_path",
          `${c.path} appears twice in one commit to ${this.where()}.`,
        );
      }
      seen.add(c.path);
    }
    const deletions = changes.filter(isDeletion).map((d) => d.path);
    const writes = changes.flatMap((c) =>
      isDeletion(c)
        ? []
        : [{ path: c.path, mode: "100644" as const, type: "blob" as const, content: c.content }],
    );
    const ref = `heads/${this.branch}`;
    for (let attempt = 1; ; attempt++) {
      const head = await this.headSha();
      const base = await this.call(`read commit ${head}`, () =>
        this.octokit.git.getCommit({ owner: this.owner, repo: this.repo, commit_sha: head }),
      );
      // GitHub refuses to delete a path the tree does not have; not being there is what a
      // deletion asks for, so such paths are left out (a retried job finds them gone).
      const present = deletions.length > 0 ? await this.presentPaths(base.data.tree.sha, deletions) : [];
      const removals = present.map((path) => ({
        path,
        mode: "100644" as const,
        type: "blob" as const,
        sha: null,
      }));
      if (writes.length === 0 && removals.length === 0) return null;
      const tree = [...writes, ...removals];
      const created = await this.call(
        `write a tree of ${writes.length} file(s) and ${removals.length} deletion(s)`,
        () =>
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

  async headSha(): Promise<string> {
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

  /** Those of `paths` that are files in the tree `treeSha`. */
  private async presentPaths(treeSha: string, paths: readonly string[]): Promise<string[]> {
    const files = await this.collectFiles(treeSha, "", commonDirectory(paths));
    const there = new Set(files.map((f) => f.path));
    return paths.filter((p) => there.has(p));
  }

  /** Opens the archive link GitHub redirected to; the link itself authorizes the download. */
  private async download(url: URL, what: string): Promise<Readable> {
    const failed = (answer: string) => `Could not download ${what}: ${answer}.`;
    const hint = "The archive link expires within minutes; the read starts over with a new one when retried.";
    // Only until the answer starts: a large archive may take longer to stream, and undici's
    // body timeout covers a stalled one.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.requestTimeoutMs);
    let response: Response;
    try {
      // No Authorization header: the link carries its own short-lived token (never logged).
      response = await fetch(url, { signal: controller.signal, headers: { "user-agent": "drbot" } });
    } catch (err) {
      throw new DrbotError("transient", "git.archive_unavailable", failed(`no answer from ${url.host}`), {
        hint,
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
    if (response.status !== 200 || !response.body) {
      await response.body?.cancel();
      throw new DrbotError(
        "transient",
        "git.archive_unavailable",
        failed(`${url.host} answered ${response.status}`),
        { hint },
      );
    }
    return Readable.fromWeb(response.body);
  }

  private apiBase(): string {
    return `${this.octokit.request.endpoint.DEFAULTS.baseUrl}/`;
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
      const wait = rateLimitWait(err);
      return new DrbotError("transient", "git.rate_limited", `${failed} ${wait.text}`, {
        hint: "The job retries later. If this persists, look for other clients sharing the token, or use a GitHub App installation (a larger budget).",
        cause: err,
        ...(wait.ms === undefined ? {} : { retryAfterMs: wait.ms }),
      });
    }
    // Octokit reports connection failures and timeouts as status 500 too.
    const kind =
      status !== undefined ? kindOfHttpStatus(status) : isNetworkFailure(err) ? "transient" : "internal";
    switch (kind) {
      case "forbidden":
        return new DrbotError("forbidden", "git.forbidden", failed, {
          hint: `Give the token Contents read and write access to ${repo} (the repo scope for a classic token), and check branch protection.`,
          cause: err,
        });
      case "not_found":
        return new DrbotError("not_found", "git.not_found", failed, {
          hint: `Check git.owner, git.repo and git.apiUrl; GitHub also answers 404 when the token cannot see ${repo}.`,
          cause: err,
        });
      case "conflict":
        return new DrbotError("conflict", "git.conflict", failed, {
          hint: `Check that ${repo} is not empty or archived.`,
          cause: err,
        });
      case "invalid":
        return new DrbotError("invalid", "git.rejected", failed, {
          hint: "GitHub refused the request itself: check the file paths and the configured branch.",
          cause: err,
        });
      case "transient":
        return new DrbotError("transient", "git.unavailable", failed, {
          hint: "GitHub or the network path to it is failing; the job retries with backoff. Check githubstatus.com or the Enterprise server.",
          cause: err,
        });
      default:
        return new DrbotError("internal", "git.unexpected", failed, { cause: err });
    }
  }
}

function fetchWithTimeout(timeoutMs: number, onAnswer: (headers: Headers) => void): typeof fetch {
  return async (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const response = await fetch(input, {
      ...init,
      signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
    });
    onAnswer(response.headers);
    return response;
  };
}

const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

function isDeletion(change: GitChange): change is GitDeletion {
  return "delete" in change && change.delete === true;
}

/** The deepest directory holding every one of `paths` ("" for the root). */
function commonDirectory(paths: readonly string[]): string {
  let common: string[] | undefined;
  for (const path of paths) {
    const dirs = path.split("/").slice(0, -1);
    if (!common) common = dirs;
    let n = 0;
    while (n < common.length && n < dirs.length && common[n] === dirs[n]) n++;
    common = common.slice(0, n);
  }
  return (common ?? []).join("/");
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

/** When a rate-limited request may be made again, from GitHub's headers, for people and retries. */
function rateLimitWait(err: unknown): { text: string; ms?: number } {
  const headers =
    (err as { response?: { headers?: Record<string, string | undefined> } }).response?.headers ?? {};
  const reset = Number(headers["x-ratelimit-reset"]);
  if (headers["x-ratelimit-remaining"] === "0" && Number.isFinite(reset) && reset > 0) {
    const ms = Math.max(0, reset * 1000 - Date.now());
    // Whole minutes read better in Slack; under a minute, seconds.
    const wait = ms >= 60_000 ? Math.ceil(ms / 60_000) * 60_000 : Math.ceil(ms / 1000) * 1000;
    const limit = headers["x-ratelimit-limit"] ? ` of ${headers["x-ratelimit-limit"]} requests` : "";
    return {
      text: `GitHub's REST budget${limit} for these credentials is spent; it resets at ${new Date(reset * 1000).toISOString()} (in ${formatDuration(wait)}).`,
      ms,
    };
  }
  const after = Number(headers["retry-after"]);
  if (Number.isFinite(after) && after >= 0) {
    return {
      text: `GitHub's secondary rate limit asks to wait ${formatDuration(after * 1000)}.`,
      ms: after * 1000,
    };
  }
  return { text: "GitHub's rate limit is exhausted." };
}

function isNotFastForward(err: unknown): boolean {
  return httpStatus(err) === 422 && /not a fast.?forward/i.test(githubMessage(err));
}
