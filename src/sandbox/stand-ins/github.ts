// A local GitHub REST API for one repository, backed by a real bare Git repository in a temp dir.
// The API writes Git objects in-process (see git-objects.ts) and the test helpers read them back
// with the git CLI, so assertions see what `git log` would show on a real clone. Archives are
// made by `git archive` itself and served, as GitHub does, behind a short-lived redirect link.
// Every authenticated request spends one unit of a REST budget reported in x-ratelimit-* headers.
import { execFile, spawn } from "node:child_process";
import { randomBytes, verify } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { promisify } from "node:util";
import { FakeHttpServer, type FakeReply, type FaultRule, type RecordedRequest } from "./fake-http.ts";
import {
  applyTreeEdits,
  type Commit,
  entryType,
  gitMode,
  ObjectStore,
  RefStore,
  type Signature,
  TREE_MODE,
  type TreeEdit,
  TreeEditError,
  type TreeEntry,
} from "./git-objects.ts";

const execFileAsync = promisify(execFile);

export interface FakeGitHubOptions {
  owner: string;
  repo: string;
  /** Default branch, created with an initial commit holding README.md. Default `main`. */
  branch?: string;
  /** The only token accepted, as `Authorization: token …` or `Bearer …`. */
  token: string;
  /** Serve under a prefix, as GitHub Enterprise Server does (`/api/v3`). */
  pathPrefix?: string;
  /**
   * A GitHub App that may also authenticate: installation tokens are issued at
   * POST /app/installations/{id}/access_tokens against a JWT signed (RS256) with its private key.
   */
  app?: { id: string; installationId: string; publicKey: string };
  /** The primary REST budget: requests per window (GitHub: 5,000 an hour for a token). */
  rateLimit?: { limit?: number; windowSeconds?: number };
}

/** The REST budget as the stand-in keeps it; `resetAt` in epoch seconds, as the header says. */
export interface FakeRateLimit {
  limit: number;
  remaining: number;
  resetAt: number;
  /** What an exhausted budget answers: GitHub sends 403 or 429. */
  status: 403 | 429;
}

export interface FakeCommitInfo {
  sha: string;
  message: string;
  parents: string[];
}

/** Runs before a ref update is processed; may move refs to simulate another writer. */
export type RefUpdateHook = (ref: string) => void | Promise<void>;

const DOCS = "https://docs.github.com/rest";
const RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";
/** GitHub stops inlining file content above 1 MB. */
const MAX_INLINE_CONTENT = 1024 * 1024;
const UNSIGNED = { verified: false, reason: "unsigned", signature: null, payload: null, verified_at: null };

/** Thrown inside handlers; becomes GitHub's JSON error body. */
class ApiError extends Error {
  readonly status: number;
  readonly docs: string;
  constructor(status: number, message: string, docs = DOCS) {
    super(message);
    this.status = status;
    this.docs = docs;
  }
}

type Body = Record<string, unknown>;
interface Route {
  method: string;
  pattern: RegExp;
  write?: boolean;
  run: (params: string[], req: RecordedRequest, body: Body) => FakeReply | Promise<FakeReply>;
}

export class FakeGitHub {
  readonly http: FakeHttpServer;
  readonly owner: string;
  readonly repo: string;
  readonly branch: string;
  readonly gitDir: string;
  readonly pathPrefix: string;
  /** The accepted token; change it to simulate a rotated or revoked credential. */
  readonly app: FakeGitHubOptions["app"];
  token: string;
  /** False makes the token read-only: writes answer 403 and `permissions.push` is false. */
  canWrite = true;
  /** Recursive tree listings longer than this are truncated (GitHub: 100,000 entries). */
  maxTreeEntries = 100_000;
  /** How long an archive link from GET /tarball stays valid (GitHub: five minutes). */
  archiveLinkTtlMs = 5 * 60_000;
  /** Archive bytes handed to connections so far (all downloads), to observe streaming. */
  archiveBytesSent = 0;
  /** The REST budget now; see setRateLimit. */
  readonly budget: FakeRateLimit;
  readonly user = {
    login: "drbot-fake",
    id: 1,
    name: "drbot fake",
    email: "drbot-fake@users.noreply.github.com",
  };
  private readonly objects: ObjectStore;
  private readonly refs: RefStore;
  private readonly hooks: { run: RefUpdateHook; times: number }[] = [];
  private readonly routes: Route[];
  private readonly windowSeconds: number;
  private readonly archiveLinks = new Map<string, { sha: string; expiresAt: number }>();

  constructor(options: FakeGitHubOptions & { gitDir: string }) {
    this.owner = options.owner;
    this.repo = options.repo;
    this.branch = options.branch ?? "main";
    this.token = options.token;
    this.app = options.app;
    this.pathPrefix = (options.pathPrefix ?? "").replace(/\/$/, "");
    this.gitDir = options.gitDir;
    this.objects = new ObjectStore(this.gitDir);
    this.refs = new RefStore(this.gitDir);
    this.http = new FakeHttpServer("github", (req) => this.handle(req));
    this.routes = this.buildRoutes();
    this.windowSeconds = options.rateLimit?.windowSeconds ?? 3600;
    const limit = options.rateLimit?.limit ?? 5000;
    this.budget = { limit, remaining: limit, resetAt: epochSeconds() + this.windowSeconds, status: 403 };
  }

  /**
   * Sets the REST budget: `remaining` requests (default: the limit) until a window that ends in
   * `resetInSeconds`; then the full limit again. At 0, requests get GitHub's primary rate-limit
   * answer with `status` (default 403).
   */
  setRateLimit(
    options: { limit?: number; remaining?: number; resetInSeconds?: number; status?: 403 | 429 } = {},
  ): void {
    this.budget.limit = options.limit ?? this.budget.limit;
    this.budget.remaining = options.remaining ?? this.budget.limit;
    this.budget.resetAt = epochSeconds() + (options.resetInSeconds ?? this.windowSeconds);
    this.budget.status = options.status ?? this.budget.status;
  }

  /** Requests that reached the REST API or the archive links, for "how many requests" checks. */
  get requestCount(): number {
    return this.http.requests.length;
  }

  /** Server root, e.g. `http://127.0.0.1:1234`. */
  get url(): string {
    return this.http.url;
  }

  /** What to give Octokit as `baseUrl` (includes the Enterprise prefix when set). */
  get apiUrl(): string {
    return `${this.http.url}${this.pathPrefix}`;
  }

  injectFault(rule: FaultRule): void {
    this.http.injectFault(rule);
  }

  /** One-off primary rate-limit answers: 403 with `x-ratelimit-remaining: 0` and the reset time. */
  rateLimit(
    options: { times?: number; resetInSeconds?: number; method?: string; path?: string | RegExp } = {},
  ): void {
    const reset = Math.floor(Date.now() / 1000) + (options.resetInSeconds ?? 1);
    this.http.injectFault({
      ...matcher(options),
      times: options.times ?? 1,
      reply: {
        status: 403,
        headers: {
          ...this.standardHeaders(),
          "x-ratelimit-remaining": "0",
          "x-ratelimit-used": "5000",
          "x-ratelimit-reset": String(reset),
        },
        body: errorBody(403, `API rate limit exceeded for user ID ${this.user.id}.`, RATE_LIMIT_DOCS),
      },
    });
  }

  /** GitHub's secondary rate limit: 403 (or 429) with `retry-after` and the "secondary rate limit" message. */
  secondaryRateLimit(
    options: {
      times?: number;
      retryAfterSeconds?: number;
      status?: 403 | 429;
      method?: string;
      path?: string | RegExp;
    } = {},
  ): void {
    const status = options.status ?? 403;
    this.http.injectFault({
      ...matcher(options),
      times: options.times ?? 1,
      reply: {
        status,
        headers: { ...this.standardHeaders(), "retry-after": String(options.retryAfterSeconds ?? 1) },
        body: errorBody(
          status,
          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
          `${RATE_LIMIT_DOCS}#about-secondary-rate-limits`,
        ),
      },
    });
  }

  /** Runs `hook` before each of the next `times` ref updates (PATCH /git/refs) is processed. */
  beforeRefUpdate(hook: RefUpdateHook, times = 1): void {
    this.hooks.push({ run: hook, times });
  }

  /**
   * Simulates another pusher: before each of the next `times` ref updates, a commit lands on the
   * branch, so a client that read the head earlier gets "Update is not a fast forward".
   * Returns the ids of the commits it made (filled in as they happen).
   */
  raceRefUpdate(options: { times?: number; path?: string } = {}): string[] {
    const made: string[] = [];
    this.beforeRefUpdate(() => {
      const n = made.length + 1;
      made.push(
        this.commitFile(
          options.path ?? `concurrent/push-${n}.txt`,
          `another writer, push ${n}\n`,
          `Concurrent push ${n}`,
        ),
      );
    }, options.times ?? 1);
    return made;
  }

  /** Seeds one file on the branch in-process; returns the new commit id. */
  commitFile(path: string, content: string, message: string): string {
    return this.commitFiles({ [path]: content }, message);
  }

  /** Seeds several files (null deletes one) in one commit on the branch; returns its id. */
  commitFiles(files: Record<string, string | null>, message: string): string {
    const ref = `refs/heads/${this.branch}`;
    const head = this.refs.read(ref) ?? null;
    const edits: TreeEdit[] = Object.entries(files).map(([path, content]) => ({
      path,
      mode: "100644",
      sha: content === null ? null : this.objects.writeBlob(content),
    }));
    const tree = applyTreeEdits(this.objects, head ? this.objects.readCommit(head)?.tree : undefined, edits);
    const me = this.signature();
    const sha = this.objects.writeCommit({
      tree,
      parents: head ? [head] : [],
      author: me,
      committer: me,
      message,
    });
    if (!this.refs.update(ref, sha, head))
      throw new Error(`${ref} moved while seeding ${Object.keys(files).join(", ")}`);
    return sha;
  }

  /** Runs the git CLI against the bare repository; resolves with stdout. */
  async git(...args: string[]): Promise<string> {
    const { stdout } = await execFileAsync("git", ["--git-dir", this.gitDir, ...args], {
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout;
  }

  /** `git fsck --strict`; rejects with git's report when the repository is not sound. */
  async fsck(): Promise<string> {
    return this.git("fsck", "--strict", "--no-progress");
  }

  /** File content at `ref` (default: the branch) as git sees it, or null when absent. */
  async readFile(path: string, ref = this.branch): Promise<string | null> {
    try {
      return await this.git("cat-file", "blob", `${ref}:${path}`);
    } catch {
      return null;
    }
  }

  /** Paths of all files on the branch (under `prefix` when given), via `git ls-tree`. */
  async listFiles(prefix?: string, ref = this.branch): Promise<string[]> {
    const out = await this.git(
      "ls-tree",
      "-r",
      "--name-only",
      "--full-tree",
      ref,
      ...(prefix ? ["--", prefix] : []),
    );
    return out.split("\n").filter(Boolean);
  }

  /** The branch's history, newest first, via `git log`. */
  async commits(ref = this.branch): Promise<FakeCommitInfo[]> {
    const out = await this.git("log", "--format=%H%x1f%P%x1f%B%x1e", ref);
    return out
      .split("\x1e")
      .map((record) => record.replace(/^\n/, ""))
      .filter(Boolean)
      .map((record) => {
        const [sha = "", parents = "", message = ""] = record.split("\x1f");
        return { sha, parents: parents.split(" ").filter(Boolean), message: message.replace(/\n$/, "") };
      });
  }

  async headSha(ref = this.branch): Promise<string> {
    return (await this.git("rev-parse", "--verify", `${ref}^{commit}`)).trim();
  }

  async close(): Promise<void> {
    await this.http.close();
    await rm(this.gitDir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- protocol

  private async handle(req: RecordedRequest): Promise<FakeReply> {
    try {
      return await this.route(req);
    } catch (err) {
      if (err instanceof ApiError)
        return this.reply(err.status, errorBody(err.status, err.message, err.docs));
      if (err instanceof TreeEditError)
        return this.reply(422, errorBody(422, err.message, `${DOCS}/git/trees`));
      throw err;
    }
  }

  private async route(req: RecordedRequest): Promise<FakeReply> {
    // The archive service sits outside the API (codeload.github.com; /_codeload on Enterprise).
    const archive = /^\/_codeload\/([^/]+)\/([^/]+)\/legacy\.tar\.gz\/([0-9a-f]{40})$/.exec(req.path);
    if (req.method === "GET" && archive) {
      const [, owner = "", repo = "", sha = ""] = archive;
      return this.serveArchive(owner, repo, sha, req.query.get("token") ?? "");
    }
    if (!req.path.startsWith(`${this.pathPrefix}/`)) throw new ApiError(404, "Not Found");
    const path = req.path.slice(this.pathPrefix.length);
    const exchange = /^\/app\/installations\/([^/]+)\/access_tokens$/.exec(path);
    if (req.method === "POST" && exchange)
      return this.issueInstallationToken(exchange[1] as string, req.headers.authorization);
    const caller = this.authenticate(req.headers.authorization);
    const refused = this.spend(caller);
    if (refused) return refused;
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    const [owner = "", repo = ""] = [m?.[1], m?.[2]].map((s) => decodeURIComponent(s ?? "").toLowerCase());
    if (!m || owner !== this.owner.toLowerCase() || repo !== this.repo.toLowerCase()) {
      throw new ApiError(404, "Not Found");
    }
    const rest = (m[3] ?? "").replace(/\/$/, "");
    for (const route of this.routes) {
      const params = route.method === req.method ? route.pattern.exec(rest) : null;
      if (!params) continue;
      if (route.write && !this.canWrite)
        throw new ApiError(403, "Resource not accessible by personal access token");
      return route.run(
        params.slice(1).map((p) => decodeURIComponent(p ?? "")),
        req,
        route.method === "GET" ? {} : parseBody(req.body),
      );
    }
    throw new ApiError(404, "Not Found");
  }

  /** Who the request is from: the token's user or the App installation. */
  private authenticate(header: string | undefined): string {
    if (!header) throw new ApiError(401, "Requires authentication");
    const m = /^(?:token|bearer)\s+(\S+)$/i.exec(header.trim());
    if (m?.[1] === this.token) return `user ID ${this.user.id}`;
    if (m && this.installationTokens.has(m[1] as string))
      return `installation ID ${this.app?.installationId ?? ""}`;
    throw new ApiError(401, "Bad credentials");
  }

  /** Spends one request of the budget, or answers as GitHub does once it is spent. */
  private spend(caller: string): FakeReply | undefined {
    const now = epochSeconds();
    if (now >= this.budget.resetAt) {
      this.budget.remaining = this.budget.limit;
      this.budget.resetAt = now + this.windowSeconds;
    }
    if (this.budget.remaining > 0) {
      this.budget.remaining -= 1;
      return undefined;
    }
    const id = requestId();
    const at = new Date()
      .toISOString()
      .replace("T", " ")
      .replace(/\.\d+Z$/, " UTC");
    const status = this.budget.status;
    return this.reply(
      status,
      errorBody(
        status,
        `API rate limit exceeded for ${caller}. If you reach out to GitHub Support for help, please include the request ID ${id} and timestamp ${at}.`,
        RATE_LIMIT_DOCS,
      ),
      { "x-github-request-id": id },
    );
  }

  /** The redirect GET /tarball answers with: a link to the archive, valid for a few minutes. */
  private archiveLink(refish: string): FakeReply {
    const sha = this.resolveCommit(refish);
    if (!sha)
      throw new ApiError(404, "Not Found", `${DOCS}/repos/contents#download-a-repository-archive-tar`);
    for (const [old, link] of this.archiveLinks)
      if (link.expiresAt <= Date.now()) this.archiveLinks.delete(old);
    const token = randomBytes(20).toString("hex").toUpperCase();
    this.archiveLinks.set(token, { sha, expiresAt: Date.now() + this.archiveLinkTtlMs });
    const location = `${this.http.url}/_codeload/${this.owner}/${this.repo}/legacy.tar.gz/${sha}?token=${token}`;
    return this.reply(302, "", { location, "content-length": "0" });
  }

  /** `git archive` of the commit, streamed as it is made, as GitHub's archive service serves it. */
  private serveArchive(owner: string, repo: string, sha: string, token: string): FakeReply {
    const link = this.archiveLinks.get(token);
    const valid =
      link !== undefined &&
      link.sha === sha &&
      link.expiresAt > Date.now() &&
      owner.toLowerCase() === this.owner.toLowerCase() &&
      repo.toLowerCase() === this.repo.toLowerCase();
    if (!valid) return { status: 404, headers: { "content-type": "text/plain" }, body: "404: Not Found" };
    const top = `${this.owner}-${this.repo}-${sha.slice(0, 7)}`;
    const git = spawn(
      "git",
      ["--git-dir", this.gitDir, "archive", "--format=tar.gz", `--prefix=${top}/`, sha],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const body = new PassThrough();
    const errors: Buffer[] = [];
    git.stderr.on("data", (c: Buffer) => errors.push(c));
    git.stdout.on("data", (c: Buffer) => {
      this.archiveBytesSent += c.length;
    });
    git.stdout.pipe(body, { end: false });
    git.on("close", (code) => {
      if (code === 0) body.end();
      else body.destroy(new Error(`git archive failed (${code}): ${Buffer.concat(errors).toString()}`));
    });
    // A client that goes away stops git: its output pipe closes.
    body.on("close", () => git.stdout.destroy());
    return {
      status: 200,
      headers: {
        "content-type": "application/x-gzip",
        "content-disposition": `attachment; filename=${top}.tar.gz`,
      },
      body: body as Readable,
    };
  }

  /** Installation tokens issued to the app so far. */
  readonly installationTokens = new Set<string>();

  private issueInstallationToken(installationId: string, header: string | undefined): FakeReply {
    const app = this.app;
    if (!app) throw new ApiError(404, "Not Found");
    const jwt = /^bearer\s+(\S+)$/i.exec(header?.trim() ?? "")?.[1];
    const [head, body, signature] = jwt?.split(".") ?? [];
    if (!head || !body || !signature) throw new ApiError(401, "A JSON web token could not be decoded");
    const valid = verify(
      "RSA-SHA256",
      Buffer.from(`${head}.${body}`),
      app.publicKey,
      Buffer.from(signature, "base64url"),
    );
    const claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as {
      iss?: unknown;
      exp?: number;
      iat?: number;
    };
    const now = Math.floor(Date.now() / 1000);
    if (!valid || String(claims.iss) !== app.id)
      throw new ApiError(401, "A JSON web token could not be decoded");
    if (!claims.exp || claims.exp < now || (claims.iat ?? 0) > now + 60)
      throw new ApiError(401, "'Expiration time' claim ('exp') is too far in the future or expired");
    if (installationId !== app.installationId) throw new ApiError(404, "Not Found");
    const token = `ghs_${randomBytes(18).toString("hex")}`;
    this.installationTokens.add(token);
    return this.reply(201, {
      token,
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      permissions: { contents: "write", metadata: "read" },
      repository_selection: "selected",
    });
  }

  private buildRoutes(): Route[] {
    const route = (method: string, pattern: RegExp, run: Route["run"], write = method !== "GET"): Route => ({
      method,
      pattern,
      run,
      write,
    });
    return [
      route("GET", /^$/, () => this.reply(200, this.repoJson())),
      route("GET", /^\/branches\/(.+)$/, ([branch]) => this.getBranch(branch as string)),
      route("GET", /^\/contents(?:\/(.*))?$/, ([path], req) =>
        this.getContents(path ?? "", req.query.get("ref")),
      ),
      route("PUT", /^\/contents\/(.+)$/, ([path], _req, body) => this.putContents(path as string, body)),
      route("GET", /^\/git\/ref\/(.+)$/, ([ref]) => this.getRef(ref as string)),
      route("GET", /^\/git\/matching-refs(?:\/(.*))?$/, ([ref]) => this.matchingRefs(ref ?? "")),
      route("POST", /^\/git\/refs$/, (_p, _req, body) => this.createRef(body)),
      route("PATCH", /^\/git\/refs\/(.+)$/, ([ref], _req, body) => this.updateRef(ref as string, body)),
      route("DELETE", /^\/git\/refs\/(.+)$/, ([ref]) => this.deleteRef(ref as string)),
      route("POST", /^\/git\/blobs$/, (_p, _req, body) => this.createBlob(body)),
      route("GET", /^\/git\/blobs\/([^/]+)$/, ([sha]) => this.getBlob(sha as string)),
      route("POST", /^\/git\/trees$/, (_p, _req, body) => this.createTree(body)),
      route("GET", /^\/git\/trees\/(.+)$/, ([sha], req) =>
        this.getTree(sha as string, req.query.has("recursive")),
      ),
      route("POST", /^\/git\/commits$/, (_p, _req, body) => this.createCommit(body)),
      route("GET", /^\/git\/commits\/([^/]+)$/, ([sha]) => this.getGitCommit(sha as string)),
      route("GET", /^\/commits$/, (_p, req) => this.listCommits(req.query)),
      route("GET", /^\/tarball(?:\/(.+))?$/, ([ref]) => this.archiveLink(ref || this.branch)),
    ];
  }

  private getBranch(name: string): FakeReply {
    const sha = this.refs.read(`refs/heads/${name}`);
    const commit = sha && this.objects.readCommit(sha);
    if (!sha || !commit)
      throw new ApiError(404, "Branch not found", `${DOCS}/branches/branches#get-a-branch`);
    return this.reply(200, {
      name,
      commit: this.commitJson(sha, commit),
      _links: { self: `${this.api}/branches/${encodeURIComponent(name)}`, html: `${this.web}/tree/${name}` },
      protected: false,
      protection: {
        enabled: false,
        required_status_checks: { enforcement_level: "off", contexts: [], checks: [] },
      },
      protection_url: `${this.api}/branches/${encodeURIComponent(name)}/protection`,
    });
  }

  private getContents(path: string, ref: string | null): FakeReply {
    const refName = ref || this.branch;
    const commitSha = this.resolveCommit(refName);
    if (!commitSha)
      throw new ApiError(404, `No commit found for the ref ${refName}`, `${DOCS}/repos/contents`);
    const tree = (this.objects.readCommit(commitSha) as Commit).tree;
    const entry = this.objects.lookup(tree, path);
    if (!entry) throw new ApiError(404, "Not Found", `${DOCS}/repos/contents#get-repository-content`);
    if (entry.mode !== TREE_MODE) return this.reply(200, this.fileJson(path, entry, refName, true));
    const children = this.objects.readTree(entry.sha) ?? [];
    return this.reply(
      200,
      children.map((child) =>
        this.fileJson(path ? `${path}/${child.name}` : child.name, child, refName, false),
      ),
    );
  }

  private putContents(path: string, body: Body): FakeReply {
    const message = requireString(body, "message");
    const content = requireString(body, "content");
    if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(content)) throw new ApiError(422, "content is not valid Base64");
    const branch = optionalString(body, "branch") ?? this.branch;
    const ref = `refs/heads/${branch}`;
    const head = this.refs.read(ref);
    if (!head) throw new ApiError(404, `Branch ${branch} not found`, `${DOCS}/repos/contents`);
    const baseTree = (this.objects.readCommit(head) as Commit).tree;
    const existing = this.objects.lookup(baseTree, path);
    const sha = optionalString(body, "sha");
    if (existing && sha === undefined) throw new ApiError(422, `Invalid request.\n\n"sha" wasn't supplied.`);
    if (existing && sha !== existing.sha) throw new ApiError(409, `${path} does not match ${sha}`);
    const blob = this.objects.writeBlob(Buffer.from(content, "base64"));
    const tree = applyTreeEdits(this.objects, baseTree, [{ path, mode: "100644", sha: blob }]);
    const author = this.signatureFrom(body.author, this.signature());
    const committer = this.signatureFrom(body.committer, author);
    const commit: Commit = { tree, parents: [head], author, committer, message };
    const commitSha = this.objects.writeCommit(commit);
    if (!this.refs.update(ref, commitSha, head))
      throw new ApiError(409, `${ref} is at another commit than ${head}`);
    const file = this.fileJson(path, { mode: "100644", name: basename(path), sha: blob }, branch, false);
    return this.reply(existing ? 200 : 201, { content: file, commit: this.gitCommitJson(commitSha, commit) });
  }

  private getRef(ref: string): FakeReply {
    const name = fullRef(ref);
    const sha = this.refs.read(name);
    if (!sha) throw new ApiError(404, "Not Found", `${DOCS}/git/refs#get-a-reference`);
    return this.reply(200, this.refJson(name, sha));
  }

  private matchingRefs(ref: string): FakeReply {
    const prefix = ref ? fullRef(ref) : "refs/";
    return this.reply(
      200,
      this.refs.list(prefix).map((r) => this.refJson(r.name, r.sha)),
    );
  }

  private createRef(body: Body): FakeReply {
    const name = requireString(body, "ref");
    const sha = requireString(body, "sha");
    if (!name.startsWith("refs/") || name.split("/").length < 3) {
      throw new ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.");
    }
    if (!this.objects.typeOf(sha)) throw new ApiError(422, "Object does not exist");
    if (!this.refs.update(name, sha, null)) throw new ApiError(422, "Reference already exists");
    return this.reply(201, this.refJson(name, sha));
  }

  private async updateRef(ref: string, body: Body): Promise<FakeReply> {
    const name = fullRef(ref);
    const sha = requireString(body, "sha");
    const hook = this.hooks[0];
    if (hook) {
      hook.times -= 1;
      if (hook.times <= 0) this.hooks.shift();
      await hook.run(name);
    }
    // From here on nothing awaits: the check and the write cannot interleave with another request,
    // and the lock file guards against outside writers (git update-ref).
    const current = this.refs.read(name);
    if (!current) throw new ApiError(422, "Reference does not exist");
    if (!this.objects.typeOf(sha)) throw new ApiError(422, "Object does not exist");
    if (body.force !== true && !this.objects.isAncestor(current, sha)) {
      throw new ApiError(422, "Update is not a fast forward", `${DOCS}/git/refs#update-a-reference`);
    }
    if (!this.refs.update(name, sha, current)) throw new ApiError(422, "Reference cannot be updated");
    return this.reply(200, this.refJson(name, sha));
  }

  private deleteRef(ref: string): FakeReply {
    const name = fullRef(ref);
    const current = this.refs.read(name);
    if (!current || !this.refs.update(name, null, current))
      throw new ApiError(422, "Reference does not exist");
    return { status: 204 };
  }

  private createBlob(body: Body): FakeReply {
    const content = requireString(body, "content");
    const encoding = optionalString(body, "encoding") ?? "utf-8";
    if (encoding !== "utf-8" && encoding !== "utf8" && encoding !== "base64") {
      throw new ApiError(422, `encoding must be "utf-8" or "base64", not ${JSON.stringify(encoding)}`);
    }
    const sha = this.objects.writeBlob(Buffer.from(content, encoding === "base64" ? "base64" : "utf8"));
    return this.reply(201, { sha, url: `${this.api}/git/blobs/${sha}` });
  }

  private getBlob(sha: string): FakeReply {
    const blob = this.objects.readBlob(sha);
    if (!blob) throw new ApiError(404, "Not Found", `${DOCS}/git/blobs#get-a-blob`);
    return this.reply(200, {
      sha,
      node_id: nodeId("Blob", sha),
      size: blob.length,
      url: `${this.api}/git/blobs/${sha}`,
      content: wrapBase64(blob),
      encoding: "base64",
    });
  }

  private createTree(body: Body): FakeReply {
    if (!Array.isArray(body.tree)) throw new ApiError(422, `Invalid request.\n\n"tree" wasn't supplied.`);
    const baseTree = optionalString(body, "base_tree");
    if (baseTree !== undefined && this.objects.typeOf(baseTree) !== "tree") {
      throw new ApiError(422, "base_tree is not a valid tree oid");
    }
    const edits = (body.tree as unknown[]).map((raw) => this.treeEdit(raw));
    const sha = applyTreeEdits(this.objects, baseTree, edits);
    return this.reply(201, this.treeJson(sha, false));
  }

  private treeEdit(raw: unknown): TreeEdit {
    if (typeof raw !== "object" || raw === null) throw new ApiError(422, "Invalid tree info");
    const entry = raw as Body;
    const path = requireString(entry, "path");
    const mode = gitMode(String(entry.mode ?? ""));
    if (!mode) throw new ApiError(422, `tree.mode contains an invalid value: ${JSON.stringify(entry.mode)}`);
    const type = entryType(mode);
    if (entry.type !== undefined && entry.type !== type) {
      throw new ApiError(422, `tree.type ${JSON.stringify(entry.type)} does not match mode ${entry.mode}`);
    }
    const hasContent = typeof entry.content === "string";
    if (hasContent && "sha" in entry)
      throw new ApiError(422, "Must supply either tree.sha or tree.content, not both");
    if (hasContent) {
      if (type !== "blob") throw new ApiError(422, "tree.content is only allowed for blobs");
      return { path, mode, sha: this.objects.writeBlob(entry.content as string) };
    }
    if (entry.sha === null) return { path, mode, sha: null };
    if (typeof entry.sha !== "string") throw new ApiError(422, "Must supply either tree.sha or tree.content");
    // Submodule entries point at commits in another repository, which cannot be checked here.
    if (type !== "commit" && this.objects.typeOf(entry.sha) !== type) {
      throw new ApiError(422, `tree.sha ${entry.sha} is not a valid ${type}`);
    }
    return { path, mode, sha: entry.sha };
  }

  private getTree(treeish: string, recursive: boolean): FakeReply {
    let sha = this.objects.typeOf(treeish) === "tree" ? treeish : undefined;
    if (!sha) {
      const commit = this.resolveCommit(treeish);
      sha = commit ? this.objects.readCommit(commit)?.tree : undefined;
    }
    if (!sha) throw new ApiError(404, "Not Found", `${DOCS}/git/trees#get-a-tree`);
    return this.reply(200, this.treeJson(sha, recursive));
  }

  private createCommit(body: Body): FakeReply {
    const message = requireString(body, "message");
    const tree = requireString(body, "tree");
    if (this.objects.typeOf(tree) !== "tree") throw new ApiError(422, "Tree SHA does not exist");
    const parents = body.parents ?? [];
    if (
      !Array.isArray(parents) ||
      parents.some((p) => typeof p !== "string" || this.objects.typeOf(p) !== "commit")
    ) {
      throw new ApiError(422, "Parent SHA does not exist or is not a commit object");
    }
    const author = this.signatureFrom(body.author, this.signature());
    const committer = this.signatureFrom(body.committer, author);
    const commit: Commit = { tree, parents: parents as string[], author, committer, message };
    return this.reply(201, this.gitCommitJson(this.objects.writeCommit(commit), commit));
  }

  private getGitCommit(sha: string): FakeReply {
    const commit = this.objects.readCommit(sha);
    if (!commit) throw new ApiError(404, "Not Found", `${DOCS}/git/commits#get-a-commit-object`);
    return this.reply(200, this.gitCommitJson(sha, commit));
  }

  private listCommits(query: URLSearchParams): FakeReply {
    const start = query.get("sha") || this.branch;
    const head = this.resolveCommit(start);
    if (!head)
      throw new ApiError(404, `No commit found for SHA: ${start}`, `${DOCS}/commits/commits#list-commits`);
    const path = (query.get("path") ?? "").replace(/^\/+|\/+$/g, "");
    const perPage = Math.min(100, Math.max(1, Number(query.get("per_page")) || 30));
    const page = Math.max(1, Number(query.get("page")) || 1);
    const skip = (page - 1) * perPage;
    const items: object[] = [];
    let more = false;
    let index = 0;
    for (const [sha, commit] of this.history(head)) {
      if (path && !this.touches(commit, path)) continue;
      if (index++ < skip) continue;
      if (items.length === perPage) {
        more = true;
        break;
      }
      items.push(this.commitJson(sha, commit));
    }
    const headers: Record<string, string> = {};
    if (more) {
      const next = new URLSearchParams(query);
      next.set("page", String(page + 1));
      next.set("per_page", String(perPage));
      headers.link = `<${this.api}/commits?${next}>; rel="next"`;
    }
    return this.reply(200, items, headers);
  }

  // ---------------------------------------------------------------- helpers

  /** Commits reachable from `head`, newest committer date first (as `git log` orders them). */
  private *history(head: string): Generator<[string, Commit]> {
    const seen = new Set<string>([head]);
    const queue: [string, Commit][] = [[head, this.objects.readCommit(head) as Commit]];
    while (queue.length > 0) {
      let best = 0;
      for (let i = 1; i < queue.length; i++) {
        if (
          (queue[i] as [string, Commit])[1].committer.time >
          (queue[best] as [string, Commit])[1].committer.time
        )
          best = i;
      }
      const [sha, commit] = queue.splice(best, 1)[0] as [string, Commit];
      yield [sha, commit];
      for (const parent of commit.parents) {
        const parentCommit = this.objects.readCommit(parent);
        if (!seen.has(parent) && parentCommit) {
          seen.add(parent);
          queue.push([parent, parentCommit]);
        }
      }
    }
  }

  /** Whether a commit changed `path` compared with every parent (a root commit: it exists). */
  private touches(commit: Commit, path: string): boolean {
    const mine = this.objects.lookup(commit.tree, path)?.sha;
    if (commit.parents.length === 0) return mine !== undefined;
    return commit.parents.every((p) => {
      const parentTree = this.objects.readCommit(p)?.tree;
      return (parentTree ? this.objects.lookup(parentTree, path)?.sha : undefined) !== mine;
    });
  }

  /** A commit id for a 40-hex id, a full ref, a branch name or a tag name. */
  private resolveCommit(refish: string): string | undefined {
    if (this.objects.typeOf(refish) === "commit") return refish;
    const names = refish.startsWith("refs/") ? [refish] : [`refs/heads/${refish}`, `refs/tags/${refish}`];
    for (const name of names) {
      const sha = this.refs.read(name);
      if (sha && this.objects.typeOf(sha) === "commit") return sha;
    }
    return undefined;
  }

  private signature(): Signature {
    return { name: this.user.name, email: this.user.email, time: Math.floor(Date.now() / 1000), tz: "+0000" };
  }

  private signatureFrom(input: unknown, fallback: Signature): Signature {
    if (input === undefined || input === null) return fallback;
    if (typeof input !== "object")
      throw new ApiError(422, "Invalid request.\n\nauthor/committer must be an object.");
    const person = input as Body;
    const name = requireString(person, "name");
    const email = requireString(person, "email");
    const date = optionalString(person, "date");
    if (date === undefined) return { ...fallback, name, email };
    const time = Date.parse(date);
    if (Number.isNaN(time))
      throw new ApiError(422, `Invalid request.\n\n${JSON.stringify(date)} is not a date-time.`);
    const tz = /([+-])(\d{2}):?(\d{2})$/.exec(date);
    return { name, email, time: Math.floor(time / 1000), tz: tz ? `${tz[1]}${tz[2]}${tz[3]}` : "+0000" };
  }

  private get api(): string {
    return `${this.apiUrl}/repos/${this.owner}/${this.repo}`;
  }

  private get web(): string {
    return `${this.http.url}/${this.owner}/${this.repo}`;
  }

  private standardHeaders(): Record<string, string> {
    const { limit, remaining, resetAt } = this.budget;
    return {
      "x-github-request-id": requestId(),
      "x-github-api-version-selected": "2022-11-28",
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(remaining),
      "x-ratelimit-used": String(limit - remaining),
      "x-ratelimit-reset": String(resetAt),
      "x-ratelimit-resource": "core",
    };
  }

  private reply(status: number, body: unknown, headers: Record<string, string> = {}): FakeReply {
    return { status, body, headers: { ...this.standardHeaders(), ...headers } };
  }

  private repoJson(): object {
    return {
      id: 1,
      node_id: nodeId("Repository", this.repo),
      name: this.repo,
      full_name: `${this.owner}/${this.repo}`,
      private: true,
      visibility: "private",
      owner: {
        login: this.owner,
        id: 2,
        type: "Organization",
        url: `${this.apiUrl}/users/${this.owner}`,
        html_url: `${this.http.url}/${this.owner}`,
      },
      html_url: this.web,
      url: this.api,
      description: null,
      fork: false,
      archived: false,
      disabled: false,
      default_branch: this.branch,
      permissions: { admin: false, maintain: false, push: this.canWrite, triage: this.canWrite, pull: true },
    };
  }

  private refJson(name: string, sha: string): object {
    const type = this.objects.typeOf(sha) ?? "commit";
    return {
      ref: name,
      node_id: nodeId("Ref", name),
      url: `${this.api}/git/${name}`,
      object: { type, sha, url: `${this.api}/git/${type}s/${sha}` },
    };
  }

  private treeJson(sha: string, recursive: boolean): object {
    const entries: object[] = [];
    const walk = (treeSha: string, base: string) => {
      for (const e of this.objects.readTree(treeSha) ?? []) {
        const path = base ? `${base}/${e.name}` : e.name;
        entries.push(this.treeEntryJson(path, e));
        if (recursive && e.mode === TREE_MODE) walk(e.sha, path);
      }
    };
    walk(sha, "");
    const truncated = entries.length > this.maxTreeEntries;
    return {
      sha,
      url: `${this.api}/git/trees/${sha}`,
      tree: truncated ? entries.slice(0, this.maxTreeEntries) : entries,
      truncated,
    };
  }

  private treeEntryJson(path: string, e: TreeEntry): object {
    const type = entryType(e.mode);
    const mode = e.mode === TREE_MODE ? "040000" : e.mode;
    if (type === "commit") return { path, mode, type, sha: e.sha };
    if (type === "tree") return { path, mode, type, sha: e.sha, url: `${this.api}/git/trees/${e.sha}` };
    const size = this.objects.readBlob(e.sha)?.length ?? 0;
    return { path, mode, type, sha: e.sha, size, url: `${this.api}/git/blobs/${e.sha}` };
  }

  private fileJson(path: string, e: TreeEntry, ref: string, withContent: boolean): object {
    const type = entryType(e.mode);
    const kind = type === "tree" ? "dir" : e.mode === "120000" ? "symlink" : "file";
    const blob = type === "blob" ? this.objects.readBlob(e.sha) : undefined;
    const url = `${this.api}/contents/${encodePath(path)}?ref=${encodeURIComponent(ref)}`;
    const gitUrl = `${this.api}/git/${type === "tree" ? "trees" : "blobs"}/${e.sha}`;
    const htmlUrl = `${this.web}/${type === "tree" ? "tree" : "blob"}/${ref}/${encodePath(path)}`;
    const json: Record<string, unknown> = {
      type: kind,
      size: blob?.length ?? 0,
      name: basename(path),
      path,
      sha: e.sha,
      url,
      git_url: gitUrl,
      html_url: htmlUrl,
      download_url: blob
        ? `${this.http.url}/raw/${this.owner}/${this.repo}/${ref}/${encodePath(path)}`
        : null,
      _links: { self: url, git: gitUrl, html: htmlUrl },
    };
    if (withContent && blob) {
      const inline = blob.length <= MAX_INLINE_CONTENT;
      json.encoding = inline ? "base64" : "none";
      json.content = inline ? wrapBase64(blob) : "";
    }
    return json;
  }

  private gitCommitJson(sha: string, c: Commit): object {
    return {
      sha,
      node_id: nodeId("Commit", sha),
      url: `${this.api}/git/commits/${sha}`,
      html_url: `${this.web}/commit/${sha}`,
      author: personJson(c.author),
      committer: personJson(c.committer),
      tree: { sha: c.tree, url: `${this.api}/git/trees/${c.tree}` },
      message: c.message,
      parents: c.parents.map((p) => ({
        sha: p,
        url: `${this.api}/git/commits/${p}`,
        html_url: `${this.web}/commit/${p}`,
      })),
      verification: UNSIGNED,
    };
  }

  /** The "commit" shape of /commits and /branches, which wraps the Git commit. */
  private commitJson(sha: string, c: Commit): object {
    return {
      sha,
      node_id: nodeId("Commit", sha),
      commit: {
        author: personJson(c.author),
        committer: personJson(c.committer),
        message: c.message,
        tree: { sha: c.tree, url: `${this.api}/git/trees/${c.tree}` },
        url: `${this.api}/git/commits/${sha}`,
        comment_count: 0,
        verification: UNSIGNED,
      },
      url: `${this.api}/commits/${sha}`,
      html_url: `${this.web}/commit/${sha}`,
      comments_url: `${this.api}/commits/${sha}/comments`,
      author: this.userJson(c.author.email),
      committer: this.userJson(c.committer.email),
      parents: c.parents.map((p) => ({
        sha: p,
        url: `${this.api}/commits/${p}`,
        html_url: `${this.web}/commit/${p}`,
      })),
    };
  }

  /** GitHub links a commit identity to an account only when the email belongs to one. */
  private userJson(email: string): object | null {
    if (email !== this.user.email) return null;
    return {
      login: this.user.login,
      id: this.user.id,
      type: "User",
      site_admin: false,
      url: `${this.apiUrl}/users/${this.user.login}`,
      html_url: `${this.http.url}/${this.user.login}`,
    };
  }
}

/** Starts a fake GitHub for one repository, with the default branch holding an initial commit. */
export async function startFakeGitHub(options: FakeGitHubOptions): Promise<FakeGitHub> {
  const gitDir = await mkdtemp(join(tmpdir(), "drbot-github-"));
  const branch = options.branch ?? "main";
  const git = (...args: string[]) => execFileAsync("git", args, { encoding: "utf8" });
  await git("init", "--bare", "--quiet", `--initial-branch=${branch}`, gitDir);
  // No background gc: every object stays loose, which is what the in-process reader expects.
  await git("--git-dir", gitDir, "config", "gc.auto", "0");
  const fake = new FakeGitHub({ ...options, gitDir });
  fake.commitFile(
    "README.md",
    `# ${options.repo}\n\nGitOps repository managed by drbot.\n`,
    "Initial commit",
  );
  await fake.http.start();
  return fake;
}

function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** GitHub's request ids look like `1C45:12F767:6C7E73:D8C627:6814705C`. */
function requestId(): string {
  return [2, 3, 3, 3, 4].map((n) => randomBytes(n).toString("hex").toUpperCase()).join(":");
}

function errorBody(status: number, message: string, docs = DOCS): object {
  return { message, documentation_url: docs, status: String(status) };
}

function matcher(options: { method?: string; path?: string | RegExp }): Pick<FaultRule, "method" | "path"> {
  return {
    ...(options.method ? { method: options.method } : {}),
    ...(options.path ? { path: options.path } : {}),
  };
}

function parseBody(raw: string): Body {
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as Body;
  } catch {
    // fall through to GitHub's answer for bodies it cannot read
  }
  throw new ApiError(400, "Problems parsing JSON");
}

function requireString(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== "string") throw new ApiError(422, `Invalid request.\n\n"${field}" wasn't supplied.`);
  return value;
}

function optionalString(body: Body, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new ApiError(422, `Invalid request.\n\n"${field}" must be a string.`);
  return value;
}

/** `heads/main` and `refs/heads/main` both name `refs/heads/main`. */
function fullRef(ref: string): string {
  return ref.startsWith("refs/") ? ref : `refs/${ref}`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** Base64 in 60-character lines, as GitHub returns file and blob content. */
function wrapBase64(data: Buffer): string {
  const b64 = data.toString("base64");
  return b64 ? `${b64.match(/.{1,60}/g)?.join("\n")}\n` : "";
}

function nodeId(kind: string, id: string): string {
  return Buffer.from(`${kind}:${id}`).toString("base64url");
}

function personJson(s: Signature): object {
  return {
    name: s.name,
    email: s.email,
    date: new Date(s.time * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
}
