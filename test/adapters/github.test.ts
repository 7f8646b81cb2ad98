// The GitHub adapter against the GitHub fake, through the real Octokit stack (retry and
// throttling plugins included). Results are checked on the bare repository with the git CLI.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGitHubRepository, type GitHubRepositoryOptions } from "../../src/adapters/github.ts";
import { DrbotError } from "../../src/core/errors.ts";
import type { GitFile } from "../../src/core/ports/git.ts";
import { type FakeGitHub, startFakeGitHub } from "../../src/sandbox/stand-ins/github.ts";

const owner = "acme";
const repo = "dr-volumes";
const token = "ghp_adapter_secret_123";

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

    const warnings = logs.filter((l) => l.level === "warn");
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
    const started = Date.now();
    const late = await rejection(adapter({ retryDelayScaleMs: 1000 }).probe());
    expect(late).toMatchObject({ kind: "transient", code: "git.rate_limited" });
    expect(Date.now() - started).toBeLessThan(2000);
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
