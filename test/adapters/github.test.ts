// The GitHub adapter against the GitHub fake, through the real Octokit stack (retry and
// throttling plugins included). Results are checked on the bare repository with the git CLI.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { Octokit } from "@octokit/rest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGitHubRepository, type GitHubRepositoryOptions } from "../../src/adapters/github.ts";
import { DrbotError } from "../../src/core/errors.ts";
import { mapLimit } from "../../src/core/map-limit.ts";
import { createMetrics } from "../../src/core/metrics.ts";
import type { GitFile, GitPort, RecordedFile } from "../../src/core/ports/git.ts";
import { type FakeGitHub, startFakeGitHub } from "../../src/sandbox/stand-ins/github.ts";

const execFileAsync = promisify(execFile);

const owner = "acme";
const repo = "dr-volumes";
const token = "ghp_adapter_secret_123";

const quietLog = { debug() {}, info() {}, warn() {}, error() {} };

let fake: FakeGitHub;
let logs: { level: string; fields: Record<string, unknown>; message: string }[];

beforeEach(async () => {
  fake = await startFakeGitHub({ owner, repo, token });
  logs = [];
});

afterEach(async () => {
  await fake.close();
});

function adapter(overrides: Partial<GitHubRepositoryOptions> = {}) {
  return createGitHubRepository({
    apiUrl: fake.apiUrl,
    owner,
    repo,
    branch: "main",
    auth: token,
    // Waits stay in place but one "second" lasts a millisecond; writes are not spaced out.
    retryDelayScaleMs: 1,
    paceWrites: false,
    logger: {
      warn: (fields, message) => logs.push({ level: "warn", fields, message }),
      debug: (fields, message) => logs.push({ level: "debug", fields, message }),
    },
    ...overrides,
  });
}

function manifests(count: number, tag = "a"): GitFile[] {
  return Array.from({ length: count }, (_, i) => ({
    path: `PV-PVCs/secondary/sales/rosa-primary/app${i % 10}/ns${i % 3}/pv-pvc_${tag}${i}.yaml`,
    content: `apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: sales.app.ns.${tag}${i}\n`,
  }));
}

/** Seeds files in one commit on the fake's branch; returns the commit id. */
function seed(files: readonly GitFile[], message = "seed"): string {
  return fake.commitFiles(Object.fromEntries(files.map((f) => [f.path, f.content])), message);
}

/** readTree into an array, with the number of HTTP requests it took. */
async function readAll(git: GitPort, prefix: string, options?: { ref?: string }) {
  const files: RecordedFile[] = [];
  const before = fake.requestCount;
  const result = await git.readTree(prefix, (f) => void files.push(f), options);
  return { files, result, requests: fake.requestCount - before };
}

/** What listFiles + readBlob (one request per file) say is under `prefix`. */
async function listAndRead(git: GitPort, prefix: string): Promise<RecordedFile[]> {
  const entries = await git.listFiles(prefix);
  const files: RecordedFile[] = [];
  await mapLimit(entries, 8, async (e) => {
    files.push({ path: e.path, sha: e.sha, content: await git.readBlob(e.sha) });
  });
  return byPath(files);
}

function byPath<T extends { path: string }>(files: T[]): T[] {
  return [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function rejection(call: Promise<unknown>): Promise<DrbotError> {
  try {
    await call;
  } catch (err) {
    expect(err).toBeInstanceOf(DrbotError);
    return err as DrbotError;
  }
  throw new Error("expected the call to fail");
}

describe("probe", () => {
  it("reports the repository, branch and head, also under a GitHub Enterprise prefix", async () => {
    await expect(adapter().probe()).resolves.toEqual({
      fullName: "acme/dr-volumes",
      branch: "main",
      headSha: await fake.headSha(),
    });
    const ghe = await startFakeGitHub({ owner, repo, token, branch: "gitops", pathPrefix: "/api/v3" });
    try {
      const probe = await adapter({ apiUrl: `${ghe.url}/api/v3/`, branch: "gitops" }).probe();
      expect(probe.headSha).toBe(await ghe.headSha());
    } finally {
      await ghe.close();
    }
  });

  it("says which branch or repository is missing", async () => {
    const noBranch = await rejection(adapter({ branch: "nope" }).probe());
    expect(noBranch).toMatchObject({ kind: "not_found", code: "git.branch_not_found" });
    expect(noBranch.message).toContain("nope");
    const noRepo = await rejection(adapter({ repo: "missing" }).probe());
    expect(noRepo).toMatchObject({ kind: "not_found", code: "git.not_found" });
    expect(noRepo.message).toContain("acme/missing");
  });
});

describe("commitFiles", () => {
  it("writes many files in one commit with one tree and one ref update", async () => {
    const before = await fake.commits();
    const files = manifests(300);
    const result = await adapter().commitFiles(files, "Failover to secondary\n\nApproved-by: U0APR1");

    const after = await fake.commits();
    expect(after).toHaveLength(before.length + 1);
    expect(after[0]).toEqual({
      sha: result?.sha,
      message: "Failover to secondary\n\nApproved-by: U0APR1",
      parents: [before[0]?.sha],
    });
    expect(result?.url).toBe(`${fake.url}/acme/dr-volumes/commit/${result?.sha}`);
    expect(await fake.listFiles("PV-PVCs/secondary")).toHaveLength(300);
    expect(await fake.readFile(files[42]?.path as string)).toBe(files[42]?.content);
    expect(await fake.readFile("README.md")).not.toBeNull();
    expect(fake.http.calls("POST", /\/git\/trees$/)).toHaveLength(1);
    expect(fake.http.calls("PATCH", /\/git\/refs\//)).toHaveLength(1);
    await expect(fake.fsck()).resolves.toBeDefined();
  });

  it("commits nothing and returns null when the head already holds these contents", async () => {
    const git = adapter();
    const files = manifests(20);
    const first = await git.commitFiles(files, "add volumes");
    expect(first).not.toBeNull();
    const head = await fake.headSha();

    expect(await git.commitFiles(files, "add volumes")).toBeNull();
    expect(await git.commitFiles(files.slice(3, 7), "a subset is there too")).toBeNull();
    expect(await fake.headSha()).toBe(head);
    expect(await git.commitFiles([], "nothing")).toBeNull();

    const changed = [{ path: files[0]?.path as string, content: "changed\n" }];
    const second = await git.commitFiles(changed, "resize");
    expect(second?.sha).toBe(await fake.headSha());
    expect(await fake.readFile(changed[0]?.path as string)).toBe("changed\n");
  });

  it("loses no commit when several writers commit in parallel, and keeps history linear", async () => {
    fake.http.latencyMs = 2;
    const writers = 5;
    const batches = Array.from({ length: writers }, (_, w) => manifests(10, `w${w}-`));
    const results = await Promise.all(batches.map((files, w) => adapter().commitFiles(files, `writer ${w}`)));

    const history = await fake.commits();
    expect(history).toHaveLength(writers + 1);
    for (let i = 0; i < history.length - 1; i++) expect(history[i]?.parents).toEqual([history[i + 1]?.sha]);
    expect(new Set(history.slice(0, writers).map((c) => c.message))).toEqual(
      new Set(batches.map((_, w) => `writer ${w}`)),
    );
    expect(results.map((r) => r?.sha).sort()).toEqual(
      history
        .slice(0, writers)
        .map((c) => c.sha)
        .sort(),
    );
    expect(await fake.listFiles("PV-PVCs")).toHaveLength(writers * 10);
    // They really raced: some ref updates were refused and rebuilt.
    expect(fake.http.calls("PATCH", /\/git\/refs\//).length).toBeGreaterThan(writers);
  });

  it("commits a duplicated job exactly once", async () => {
    const files = manifests(15);
    const results = await Promise.all([
      adapter().commitFiles(files, "job 7"),
      adapter().commitFiles(files, "job 7"),
    ]);
    const history = await fake.commits();
    expect(history.map((c) => c.message)).toEqual(["job 7", "Initial commit"]);
    // The loser either finds the contents there (null) or, within the same second, built the
    // byte-identical commit, whose ref update is then a no-op.
    expect(results.some((r) => r !== null)).toBe(true);
    for (const r of results) if (r) expect(r.sha).toBe(history[0]?.sha);
  });

  it("rebuilds on the new head when another pusher moves the branch mid-commit", async () => {
    const raced = fake.raceRefUpdate({ path: "PV-PVCs/primary/other.yaml" });
    const result = await adapter().commitFiles(manifests(3), "after the race");

    const history = await fake.commits();
    expect(history.map((c) => c.sha)).toEqual([result?.sha, raced[0], history[2]?.sha]);
    expect(history[0]?.parents).toEqual([raced[0]]);
    expect(await fake.readFile("PV-PVCs/primary/other.yaml")).not.toBeNull();
    expect(await fake.listFiles("PV-PVCs/secondary")).toHaveLength(3);
    expect(logs.some((l) => l.message.includes("branch moved"))).toBe(true);
  });

  it("gives up with a transient error when the branch keeps moving", async () => {
    fake.raceRefUpdate({ times: 10 });
    const err = await rejection(adapter({ maxCommitAttempts: 3 }).commitFiles(manifests(2), "never lands"));
    expect(err).toMatchObject({ kind: "transient", code: "git.branch_contention" });
    expect(err.message).toContain("3 commit attempts");
    expect((await fake.commits()).map((c) => c.message)).not.toContain("never lands");
  });

  it("refuses bad or duplicate paths before calling GitHub", async () => {
    const git = adapter();
    for (const path of ["/abs.yaml", "a/../b.yaml", "a//b.yaml", ".git/config", "dir/"]) {
      expect(await rejection(git.commitFiles([{ path, content: "x" }], "bad"))).toMatchObject({
        kind: "invalid",
        code: "git.invalid_path",
      });
    }
    const twice = [
      { path: "a.yaml", content: "1" },
      { path: "a.yaml", content: "2" },
    ];
    expect(await rejection(git.commitFiles(twice, "dup"))).toMatchObject({
      kind: "invalid",
      code: "git.duplicate_path",
    });
    expect(fake.http.requests).toHaveLength(0);
  });

  it("spaces writes a second apart by default, as GitHub asks of integrations", async () => {
    await adapter({ paceWrites: undefined }).commitFiles(manifests(1), "paced");
    const writes = fake.http.requests.filter((r) => r.method !== "GET").map((r) => r.at);
    expect(writes).toHaveLength(3);
    expect((writes[2] as number) - (writes[0] as number)).toBeGreaterThanOrEqual(1900);
  });
});

describe("errors and retries", () => {
  it("waits out primary and secondary rate limits and logs them without the token", async () => {
    fake.rateLimit({ method: "GET", path: /\/git\/ref\// });
    fake.secondaryRateLimit({ method: "POST", path: /\/git\/trees$/, retryAfterSeconds: 2 });
    const result = await adapter().commitFiles(manifests(2), "despite limits");
    expect(result?.sha).toBe(await fake.headSha());

    const warnings = logs.filter((l) => l.message === "GitHub rate limit hit");
    expect(warnings.map((l) => l.fields.kind).sort()).toEqual(["primary", "secondary"]);
    expect(warnings.find((l) => l.fields.kind === "secondary")?.fields).toMatchObject({
      route: "/repos/{owner}/{repo}/git/trees",
      retryAfterSeconds: 2,
      willRetry: true,
    });
    expect(JSON.stringify(logs)).not.toContain(token);
  });

  it("reports a rate limit that outlasts its retries, or resets too late, as transient", async () => {
    fake.rateLimit({ times: 10 });
    const exhausted = await rejection(adapter({ retries: 2 }).probe());
    expect(exhausted).toMatchObject({ kind: "transient", code: "git.rate_limited" });
    expect(fake.http.requests).toHaveLength(3);

    fake.http.clearFaults();
    fake.rateLimit({ resetInSeconds: 3600 });
    const before = fake.http.requests.length;
    const late = await rejection(adapter({ retryDelayScaleMs: 1000 }).probe());
    expect(late).toMatchObject({ kind: "transient", code: "git.rate_limited" });
    // Not waited out: one request, no retry an hour later.
    expect(fake.http.requests.length - before).toBe(1);
  });

  it("retries 5xx answers and dropped connections, then maps what persists to transient", async () => {
    fake.injectFault({
      method: "GET",
      path: /\/git\/ref\//,
      reply: { status: 502, body: "Bad Gateway" },
      times: 2,
    });
    fake.injectFault({ method: "POST", path: /\/git\/commits$/, reply: "reset", times: 1 });
    expect(await adapter().commitFiles(manifests(1), "flaky network")).not.toBeNull();
    expect(fake.http.calls("GET", /\/git\/ref\//)).toHaveLength(3);

    fake.injectFault({ reply: { status: 503, body: { message: "Service Unavailable" } } });
    const down = await rejection(adapter({ retries: 2 }).probe());
    expect(down).toMatchObject({ kind: "transient", code: "git.unavailable" });
    expect(down.message).toContain("503");
  });

  it("times out a request that hangs and retries it", async () => {
    fake.injectFault({ method: "GET", reply: { status: 200, body: {} }, delayMs: 2000, times: 1 });
    const probe = await adapter({ requestTimeoutMs: 150 }).probe();
    expect(probe.headSha).toBe(await fake.headSha());

    fake.injectFault({ method: "GET", reply: { status: 200, body: {} }, delayMs: 2000 });
    const err = await rejection(adapter({ requestTimeoutMs: 100, retries: 1 }).probe());
    expect(err).toMatchObject({ kind: "transient", code: "git.unavailable" });
    expect(err.message).toContain("no answer from GitHub");
  });

  it("maps bad credentials and read-only tokens to forbidden, without echoing the token", async () => {
    const unauthorized = await rejection(adapter({ auth: "ghp_revoked_456" }).listFiles(""));
    expect(unauthorized).toMatchObject({ kind: "forbidden", code: "git.unauthorized" });
    expect(unauthorized.message).toContain("Bad credentials");
    expect(unauthorized.hint).toContain("GITHUB_TOKEN");
    expect(`${unauthorized.message} ${unauthorized.hint}`).not.toContain("ghp_revoked_456");

    fake.canWrite = false;
    const readOnly = await rejection(adapter().commitFiles(manifests(1), "no access"));
    expect(readOnly).toMatchObject({ kind: "forbidden", code: "git.forbidden" });
    expect(readOnly.message).toContain("acme/dr-volumes");
    expect(await fake.commits()).toHaveLength(1);
  });
});

describe("reading", () => {
  beforeEach(() => {
    fake.commitFiles(
      {
        "PV-PVCs/primary/sales/c1/shop/shop-dev/pv-pvc_data.yaml": "primary data\n",
        "PV-PVCs/primary/sales/c1/shop/shop-dev/pv-pvc_logs.yaml": "primary logs\n",
        "PV-PVCs/primary-old/x.yaml": "not under the prefix\n",
        "PV-PVCs/secondary/sales/c1/shop/shop-dev/pv-pvc_data.yaml": "secondary data\n",
      },
      "seed",
    );
  });

  it("lists files under a prefix with blob ids that readBlob reads", async () => {
    const git = adapter();
    const files = await git.listFiles("PV-PVCs/primary/");
    expect(files.map((f) => f.path)).toEqual([
      "PV-PVCs/primary/sales/c1/shop/shop-dev/pv-pvc_data.yaml",
      "PV-PVCs/primary/sales/c1/shop/shop-dev/pv-pvc_logs.yaml",
    ]);
    expect(await git.readBlob(files[1]?.sha as string)).toBe("primary logs\n");
    expect(await git.listFiles("")).toHaveLength(5);
    expect(await git.listFiles("PV-PVCs/nothing")).toEqual([]);
    expect(await rejection(git.readBlob("0".repeat(40)))).toMatchObject({ kind: "not_found" });
  });

  it("walks the tree level by level when GitHub truncates the recursive listing", async () => {
    fake.maxTreeEntries = 3;
    const files = await adapter().listFiles("PV-PVCs/primary");
    expect(files.map((f) => f.path)).toHaveLength(2);
    expect(fake.http.calls("GET", /\/git\/trees\//).length).toBeGreaterThan(1);
  });

  it("reads a file, null when absent, and refuses a directory", async () => {
    const git = adapter();
    expect(await git.readFile("PV-PVCs/secondary/sales/c1/shop/shop-dev/pv-pvc_data.yaml")).toBe(
      "secondary data\n",
    );
    expect(await git.readFile("PV-PVCs/secondary/none.yaml")).toBeNull();
    expect(await rejection(git.readFile("PV-PVCs/primary"))).toMatchObject({
      kind: "invalid",
      code: "git.not_a_file",
    });
  });

  it("reads a file over the contents API's 1 MB inline limit through its blob", async () => {
    const big = `${"x".repeat(1100 * 1024)}\n`;
    fake.commitFile("big.txt", big, "big");
    expect(await adapter().readFile("big.txt")).toBe(big);
    expect(fake.http.calls("GET", /\/git\/blobs\//)).toHaveLength(1);
  });
});

describe("GitHub App authentication", () => {
  it("trades a signed JWT for an installation token, and refuses a wrong key", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const pair = () => generateKeyPairSync("rsa", { modulusLength: 2048 });
    const { privateKey, publicKey } = pair();
    const app = await startFakeGitHub({
      owner: "acme",
      repo: "dr-volumes",
      token: "unused-token-0000",
      app: {
        id: "12345",
        installationId: "678",
        publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
      },
    });
    try {
      const repoAs = (key: string) =>
        createGitHubRepository({
          apiUrl: app.apiUrl,
          owner: "acme",
          repo: "dr-volumes",
          branch: "main",
          auth: { appId: "12345", privateKey: key, installationId: "678" },
          paceWrites: false,
          retryDelayScaleMs: 1,
        });
      const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
      const git = repoAs(pem);
      expect((await git.probe()).fullName).toBe("acme/dr-volumes");
      expect(
        await git.commitFiles([{ path: "PV-PVCs/x.yaml", content: "a: 1\n" }], "via the app"),
      ).not.toBeNull();
      expect(app.installationTokens.size).toBe(1);
      expect((await app.commits())[0]?.message).toBe("via the app");
      const read: RecordedFile[] = [];
      expect(await git.readTree("PV-PVCs", (f) => void read.push(f))).toEqual({
        commit: await app.headSha(),
        files: 1,
      });
      expect(read.map((f) => [f.path, f.content])).toEqual([["PV-PVCs/x.yaml", "a: 1\n"]]);

      const wrong = pair().privateKey.export({ type: "pkcs8", format: "pem" }).toString();
      const err = await repoAs(wrong)
        .probe()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DrbotError);
      expect((err as DrbotError).kind).toBe("forbidden");
      expect((err as DrbotError).message).not.toContain("PRIVATE KEY");
    } finally {
      await app.close();
    }
  });
});

describe("readTree", () => {
  it.each([0, 1, 2000])(
    "reads %i file(s) exactly as listFiles and readBlob do, in two requests",
    async (count) => {
      seed(manifests(count, "r"));
      seed([
        { path: "PV-PVCs/secondary-old/x.yaml", content: "beside the prefix\n" },
        { path: "PV-PVCs/primary/y.yaml", content: "another site\n" },
      ]);
      const git = adapter();
      const { files, result, requests } = await readAll(git, "PV-PVCs/secondary");

      expect(requests).toBe(2);
      expect(fake.http.calls("GET", /\/tarball\//)).toHaveLength(1);
      expect(fake.http.calls("GET", /^\/_codeload\//)).toHaveLength(1);
      expect(result).toEqual({ commit: await fake.headSha(), files: count });
      expect(byPath(files)).toEqual(await listAndRead(git, "PV-PVCs/secondary"));
      expect(files).toHaveLength(count);
    },
  );

  it("reads an older commit when pinned, whatever the branch holds now", async () => {
    const v1 = manifests(3, "p");
    const pinned = seed(v1, "v1");
    seed([{ path: v1[0]?.path as string, content: "changed\n" }], "v2");
    fake.commitFiles({ [v1[1]?.path as string]: null, "PV-PVCs/secondary/new.yaml": "new\n" }, "v3");

    const git = adapter();
    const old = await readAll(git, "PV-PVCs/secondary", { ref: pinned });
    expect(old.result).toEqual({ commit: pinned, files: 3 });
    expect(old.requests).toBe(2);
    expect(byPath(old.files).map((f) => [f.path, f.content])).toEqual(
      byPath(v1).map((f) => [f.path, f.content]),
    );
    for (const f of old.files) {
      expect(f.sha).toBe((await fake.git("rev-parse", `${pinned}:${f.path}`)).trim());
    }
    const now = await readAll(git, "PV-PVCs/secondary");
    expect(now.result.commit).toBe(await fake.headSha());
    expect(now.files.map((f) => f.content).sort()).toEqual(["changed\n", v1[2]?.content, "new\n"].sort());
  });

  it("keeps to the prefix, skips symlinks and reads long and non-ASCII paths", async () => {
    const long = `PV-PVCs/secondary/${"d".repeat(120)}/${"f".repeat(150)}.yaml`;
    seed([
      { path: "PV-PVCs/secondary/a.yaml", content: "a\n" },
      { path: "PV-PVCs/secondary/é/ü.yaml", content: "ünïcode: ✓\n" },
      { path: long, content: "long\n" },
      { path: "PV-PVCs/secondaryX/b.yaml", content: "not under the prefix\n" },
    ]);
    // A symlink, as another tool could commit it: it is not a manifest.
    const gh = new Octokit({ baseUrl: fake.apiUrl, auth: token, log: quietLog });
    const head = await fake.headSha();
    const base = await gh.git.getCommit({ owner, repo, commit_sha: head });
    const tree = await gh.git.createTree({
      owner,
      repo,
      base_tree: base.data.tree.sha,
      tree: [{ path: "PV-PVCs/secondary/link.yaml", mode: "120000", type: "blob", content: "a.yaml" }],
    });
    const commit = await gh.git.createCommit({
      owner,
      repo,
      message: "link",
      tree: tree.data.sha,
      parents: [head],
    });
    await gh.git.updateRef({ owner, repo, ref: "heads/main", sha: commit.data.sha });

    const git = adapter();
    const scoped = await readAll(git, "/PV-PVCs/secondary/");
    expect(scoped.files.map((f) => f.path).sort()).toEqual(
      ["PV-PVCs/secondary/a.yaml", "PV-PVCs/secondary/é/ü.yaml", long].sort(),
    );
    expect(scoped.files.find((f) => f.path.endsWith("ü.yaml"))?.content).toBe("ünïcode: ✓\n");
    const blobs = await listAndRead(git, "PV-PVCs/secondary");
    expect(byPath(scoped.files)).toEqual(blobs.filter((b) => !b.path.endsWith("link.yaml")));

    const everything = await readAll(git, "");
    expect(everything.files.map((f) => f.path)).toContain("README.md");
    expect(everything.result.files).toBe(5);
    expect((await readAll(git, "PV-PVCs/secondary/a.yaml")).result.files).toBe(1);
    expect((await readAll(git, "PV-PVCs/nothing")).result.files).toBe(0);
  });

  it("streams: the archive arrives in chunks while onFile holds it back", async () => {
    // 40 MB in files that do not compress away: the archive (30 MB) is far larger than what
    // sockets and stream buffers hold (up to about 5 MB here), so reading it whole before handing
    // files on would show. (bench/github-read-tree.ts measures memory for 10,000 files.)
    const count = 2000;
    const files = Array.from({ length: count }, (_, i) => ({
      path: `PV-PVCs/secondary/bu${i % 7}/c/app${i % 50}/ns/pv-pvc_${i}.yaml`,
      content: `# ${randomBytes(15_000).toString("base64")}\n`,
    }));
    seed(files);
    const unpacked = files.reduce((n, f) => n + Buffer.byteLength(f.content), 0);
    const sentBefore = fake.archiveBytesSent;
    let sentWhileHeld = 0;
    let seen = 0;
    const sample = new Map<string, string>();
    const result = await adapter().readTree("PV-PVCs/secondary", async (file) => {
      seen++;
      if (seen % 500 === 1) sample.set(file.path, file.sha);
      if (seen !== 2) return;
      // Hold the second file until the server has stopped sending: backpressure reached it.
      let last = -1;
      while (last !== fake.archiveBytesSent) {
        last = fake.archiveBytesSent;
        await new Promise((r) => setTimeout(r, 50));
      }
      sentWhileHeld = fake.archiveBytesSent - sentBefore;
    });
    const archive = fake.archiveBytesSent - sentBefore;

    expect(result.files).toBe(count);
    expect(archive).toBeGreaterThan(unpacked / 2);
    expect(sentWhileHeld).toBeGreaterThan(0);
    expect(sentWhileHeld).toBeLessThan(archive / 3);
    for (const [path, sha] of sample) expect(sha).toBe((await fake.git("rev-parse", `main:${path}`)).trim());
  }, 30_000);

  it("refuses a ref that is not a commit id, and says when the commit does not exist", async () => {
    const git = adapter();
    const bad = await rejection(git.readTree("PV-PVCs", () => {}, { ref: "main" }));
    expect(bad).toMatchObject({ kind: "invalid", code: "git.invalid_ref" });
    expect(fake.requestCount).toBe(0);
    const missing = await rejection(git.readTree("PV-PVCs", () => {}, { ref: "e".repeat(40) }));
    expect(missing).toMatchObject({ kind: "not_found" });
    expect(missing.message).toContain("e".repeat(40));
    expect(await rejection(git.readTree("../x", () => {}))).toMatchObject({ code: "git.invalid_path" });
  });

  it("passes an onFile error through unchanged and frees the download", async () => {
    seed(manifests(50));
    const git = adapter();
    const stop = new Error("caller stops");
    let calls = 0;
    await expect(
      git.readTree("PV-PVCs", () => {
        if (++calls === 3) throw stop;
      }),
    ).rejects.toBe(stop);
    expect(calls).toBe(3);
    expect((await readAll(git, "PV-PVCs")).result.files).toBe(50);
  });

  it("reports an unreachable, expired, cut or oversized archive as a clear error", async () => {
    seed(manifests(20));
    const git = adapter();
    fake.injectFault({ path: /^\/_codeload\//, reply: "reset", times: 1 });
    const reset = await rejection(git.readTree("PV-PVCs", () => {}));
    expect(reset).toMatchObject({ kind: "transient", code: "git.archive_unavailable" });
    expect(reset.message).not.toContain("token=");

    fake.archiveLinkTtlMs = 0;
    const expired = await rejection(git.readTree("PV-PVCs", () => {}));
    expect(expired).toMatchObject({ kind: "transient", code: "git.archive_unavailable" });
    expect(expired.message).toContain("answered 404");
    fake.archiveLinkTtlMs = 60_000;

    const whole = (
      await execFileAsync("git", ["--git-dir", fake.gitDir, "archive", "--format=tar.gz", "main"], {
        encoding: "buffer",
      })
    ).stdout;
    fake.injectFault({
      path: /^\/_codeload\//,
      reply: { status: 200, body: whole.subarray(0, Math.floor(whole.length / 2)) },
      times: 1,
    });
    const cut = await rejection(git.readTree("PV-PVCs", () => {}));
    expect(cut).toMatchObject({ kind: "transient", code: "git.archive_interrupted" });

    const big = await rejection(adapter({ maxArchiveFileBytes: 10 }).readTree("PV-PVCs", () => {}));
    expect(big).toMatchObject({ kind: "invalid", code: "git.file_too_large" });
    expect((await readAll(git, "PV-PVCs")).result.files).toBe(20);
  });
});

describe("commitFiles with deletions", () => {
  it("writes and deletes in one commit; deleting what is not there changes nothing", async () => {
    const [a, b, c] = manifests(3, "d");
    seed([a, b, c] as GitFile[]);
    const before = await fake.commits();
    const git = adapter();
    const result = await git.commitFiles(
      [
        { path: a?.path as string, delete: true },
        { path: "PV-PVCs/secondary/never/there.yaml", delete: true },
        { path: "PV-PVCs/secondary/new.yaml", content: "new\n" },
      ],
      "Remove a, add new",
    );

    const after = await fake.commits();
    expect(after).toHaveLength(before.length + 1);
    expect(after[0]).toMatchObject({
      sha: result?.sha,
      message: "Remove a, add new",
      parents: [before[0]?.sha],
    });
    expect(await fake.readFile(a?.path as string)).toBeNull();
    expect(await fake.readFile(b?.path as string)).toBe(b?.content);
    expect(await fake.readFile("PV-PVCs/secondary/new.yaml")).toBe("new\n");
    expect(fake.http.calls("POST", /\/git\/trees$/)).toHaveLength(1);
    expect(fake.http.calls("POST", /\/git\/commits$/)).toHaveLength(1);
    expect(fake.http.calls("PATCH", /\/git\/refs\//)).toHaveLength(1);
    await expect(fake.fsck()).resolves.toBeDefined();

    // Again: a is gone and new.yaml is there, so nothing is committed.
    expect(
      await git.commitFiles(
        [
          { path: a?.path as string, delete: true },
          { path: "PV-PVCs/secondary/new.yaml", content: "new\n" },
        ],
        "again",
      ),
    ).toBeNull();
    expect(await git.commitFiles([{ path: "nowhere.yaml", delete: true }], "only no-ops")).toBeNull();
    expect(await fake.headSha()).toBe(result?.sha);

    // The last files of a directory go, and the directory with them, as in Git.
    await git.commitFiles(
      [
        { path: b?.path as string, delete: true },
        { path: c?.path as string, delete: true },
        { path: "PV-PVCs/secondary/new.yaml", delete: true },
      ],
      "empty the site",
    );
    expect(await fake.listFiles("PV-PVCs")).toEqual([]);
    expect(await fake.listFiles()).toEqual(["README.md"]);
    await expect(fake.fsck()).resolves.toBeDefined();
  });

  it("refuses a path both written and deleted", async () => {
    const err = await rejection(
      adapter().commitFiles(
        [
          { path: "a.yaml", content: "1" },
          { path: "a.yaml", delete: true },
        ],
        "both",
      ),
    );
    expect(err).toMatchObject({ kind: "invalid", code: "git.duplicate_path" });
    expect(fake.requestCount).toBe(0);
  });

  it("rebuilds deletions on the new head when the branch moved, and finds them done", async () => {
    const [a, b] = manifests(2, "m");
    seed([a, b] as GitFile[]);
    const raced = fake.raceRefUpdate({ path: "PV-PVCs/primary/other.yaml" });
    const result = await adapter().commitFiles([{ path: a?.path as string, delete: true }], "remove a");
    expect((await fake.commits())[0]).toMatchObject({ sha: result?.sha, parents: [raced[0]] });
    expect(await fake.readFile(a?.path as string)).toBeNull();
    expect(await fake.readFile("PV-PVCs/primary/other.yaml")).not.toBeNull();

    // Another writer deletes b first: on the retry there is nothing left to do.
    fake.beforeRefUpdate(() => void fake.commitFiles({ [b?.path as string]: null }, "someone removed b"));
    expect(await adapter().commitFiles([{ path: b?.path as string, delete: true }], "remove b")).toBeNull();
    expect((await fake.commits())[0]?.message).toBe("someone removed b");
  });
});

describe("rate-limit budget", () => {
  it("remembers GitHub's last budget headers and keeps the gauge current", async () => {
    const metrics = createMetrics();
    const git = adapter({ metrics });
    expect(git.rateLimit()).toBeUndefined();
    fake.setRateLimit({ limit: 100, remaining: 50, resetInSeconds: 600 });

    await git.headSha();
    expect(git.rateLimit()).toEqual({
      remaining: 49,
      limit: 100,
      resetAt: new Date(fake.budget.resetAt * 1000),
    });
    expect(await metrics.registry.getSingleMetricAsString("drbot_github_rate_limit_remaining")).toContain(
      "drbot_github_rate_limit_remaining 49",
    );
    // The archive link spends one request; the download itself none.
    await git.readTree("PV-PVCs", () => {});
    expect(git.rateLimit()?.remaining).toBe(48);
    expect((await metrics.githubRateLimitRemaining.get()).values[0]?.value).toBe(48);
    expect(logs.filter((l) => l.message === "GitHub REST budget running low")).toEqual([]);

    fake.setRateLimit({ limit: 100, remaining: 9, resetInSeconds: 600 });
    await git.headSha();
    await git.headSha();
    const low = logs.filter((l) => l.message === "GitHub REST budget running low");
    expect(low).toHaveLength(1);
    expect(low[0]?.fields).toMatchObject({ remaining: 8, limit: 100 });
  });

  it("fails fast when the budget is spent, saying when it resets", async () => {
    for (const status of [403, 429] as const) {
      const metrics = createMetrics();
      const git = adapter({ metrics });
      fake.setRateLimit({ limit: 5000, remaining: 0, resetInSeconds: 1800, status });
      const before = fake.requestCount;
      const err = await rejection(git.readTree("PV-PVCs", () => {}));
      const resetAt = new Date(fake.budget.resetAt * 1000);

      expect(err).toMatchObject({ kind: "transient", code: "git.rate_limited" });
      expect(err.message).toContain(`answered ${status}`);
      expect(err.message).toContain("API rate limit exceeded for user ID 1.");
      expect(err.message).toContain(`budget of 5000 requests for these credentials is spent`);
      expect(err.message).toContain(`resets at ${resetAt.toISOString()} (in 30m`);
      expect(err.retryAfterMs).toBeGreaterThan(1790_000);
      expect(`${err.message} ${err.hint}`).not.toContain(token);
      // Not waited out: the reset is further away than the adapter waits.
      expect(fake.requestCount - before).toBe(1);
      expect(git.rateLimit()).toEqual({ remaining: 0, limit: 5000, resetAt });
      expect((await metrics.githubRateLimitRemaining.get()).values[0]?.value).toBe(0);
    }
  });
});
