// The GitHub fake, exercised with the real Octokit client; what it wrote is checked with the git
// CLI on the bare repository behind it.
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { Octokit } from "@octokit/rest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeGitHub, startFakeGitHub } from "../../src/sandbox/stand-ins/github.ts";

const owner = "acme";
const repo = "dr-volumes";
const token = "ghp_test_token";
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** Runs a git command that reads a tar archive on standard input. */
function gitWithInput(args: string[], input: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("git", args, { encoding: "utf8" }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

let fake: FakeGitHub;
let gh: Octokit;

beforeEach(async () => {
  fake = await startFakeGitHub({ owner, repo, token });
  gh = new Octokit({ baseUrl: fake.apiUrl, auth: token, log: quiet });
});

afterEach(async () => {
  await fake.close();
});

/** Resolves with the HTTP status and GitHub message of a failed call. */
async function failure(
  call: Promise<unknown>,
): Promise<{ status: number; message: string; headers: Record<string, string> }> {
  try {
    await call;
  } catch (err) {
    const e = err as {
      status: number;
      response: { data: { message: string }; headers: Record<string, string> };
    };
    return { status: e.status, message: e.response.data.message, headers: e.response.headers };
  }
  throw new Error("expected the call to fail");
}

describe("authentication", () => {
  it("accepts the token as `token` and as `Bearer`, and refuses anything else with 401", async () => {
    expect((await gh.repos.get({ owner, repo })).status).toBe(200);
    const bearer = await gh.request("GET /repos/{owner}/{repo}", {
      owner,
      repo,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(bearer.data.full_name).toBe("acme/dr-volumes");

    const wrong = new Octokit({ baseUrl: fake.apiUrl, auth: "ghp_wrong", log: quiet });
    const denied = await failure(wrong.repos.get({ owner, repo }));
    expect(denied).toMatchObject({ status: 401, message: "Bad credentials" });
    const anonymous = new Octokit({ baseUrl: fake.apiUrl, log: quiet });
    expect(await failure(anonymous.repos.get({ owner, repo }))).toMatchObject({ status: 401 });
  });

  it("answers 404 for another repository and 403 on writes with a read-only token", async () => {
    expect((await failure(gh.repos.get({ owner, repo: "other" }))).status).toBe(404);
    fake.canWrite = false;
    expect((await gh.repos.get({ owner, repo })).data.permissions).toMatchObject({ pull: true, push: false });
    const refused = await failure(gh.git.createBlob({ owner, repo, content: "x" }));
    expect(refused).toMatchObject({
      status: 403,
      message: "Resource not accessible by personal access token",
    });
  });

  it("serves under a GitHub Enterprise prefix", async () => {
    const ghe = await startFakeGitHub({ owner, repo, token, branch: "prod", pathPrefix: "/api/v3" });
    try {
      const client = new Octokit({ baseUrl: `${ghe.url}/api/v3`, auth: token, log: quiet });
      const repository = await client.repos.get({ owner, repo });
      expect(repository.data).toMatchObject({ default_branch: "prod", full_name: "acme/dr-volumes" });
      const bare = new Octokit({ baseUrl: ghe.url, auth: token, log: quiet });
      expect((await failure(bare.repos.get({ owner, repo }))).status).toBe(404);
    } finally {
      await ghe.close();
    }
  });
});

describe("repository, branches and contents", () => {
  it("describes the repository and its default branch head", async () => {
    const repository = await gh.repos.get({ owner, repo });
    expect(repository.data).toMatchObject({ default_branch: "main", full_name: "acme/dr-volumes" });
    const branch = await gh.repos.getBranch({ owner, repo, branch: "main" });
    expect(branch.data.commit.sha).toBe(await fake.headSha());
    expect(branch.data.commit.commit.message).toBe("Initial commit");
    expect((await failure(gh.repos.getBranch({ owner, repo, branch: "nope" }))).status).toBe(404);
  });

  it("returns files base64-encoded with their blob sha, directories as arrays, 404 otherwise", async () => {
    fake.commitFile("PV-PVCs/primary/sales/pv-pvc_data.yaml", "kind: PersistentVolume\n", "seed");
    const file = await gh.repos.getContent({ owner, repo, path: "PV-PVCs/primary/sales/pv-pvc_data.yaml" });
    if (Array.isArray(file.data) || file.data.type !== "file") throw new Error("expected a file");
    expect(Buffer.from(file.data.content, "base64").toString()).toBe("kind: PersistentVolume\n");
    expect(file.data.sha).toBe(
      (await fake.git("rev-parse", "main:PV-PVCs/primary/sales/pv-pvc_data.yaml")).trim(),
    );

    const dir = await gh.repos.getContent({ owner, repo, path: "PV-PVCs/primary" });
    expect(Array.isArray(dir.data) && dir.data.map((e) => [e.name, e.type])).toEqual([["sales", "dir"]]);
    const root = await gh.repos.getContent({ owner, repo, path: "" });
    expect(Array.isArray(root.data) && root.data.map((e) => e.name)).toEqual(["PV-PVCs", "README.md"]);

    expect((await failure(gh.repos.getContent({ owner, repo, path: "missing.yaml" }))).status).toBe(404);
    const first = (await fake.commits()).at(-1)?.sha as string;
    const old = await failure(gh.repos.getContent({ owner, repo, path: "PV-PVCs", ref: first }));
    expect(old.status).toBe(404);
  });

  it("creates and updates files with a sha precondition, like GitHub", async () => {
    const content = (s: string) => Buffer.from(s).toString("base64");
    const created = await gh.repos.createOrUpdateFileContents({
      owner,
      repo,
      path: "a/b.yaml",
      message: "add b",
      content: content("one\n"),
    });
    expect(created.status).toBe(201);
    expect(await fake.readFile("a/b.yaml")).toBe("one\n");

    const noSha = await failure(
      gh.repos.createOrUpdateFileContents({
        owner,
        repo,
        path: "a/b.yaml",
        message: "x",
        content: content("two\n"),
      }),
    );
    expect(noSha).toMatchObject({ status: 422, message: 'Invalid request.\n\n"sha" wasn\'t supplied.' });
    const stale = await failure(
      gh.repos.createOrUpdateFileContents({
        owner,
        repo,
        path: "a/b.yaml",
        message: "x",
        content: content("two\n"),
        sha: "0".repeat(40),
      }),
    );
    expect(stale.status).toBe(409);

    const updated = await gh.repos.createOrUpdateFileContents({
      owner,
      repo,
      path: "a/b.yaml",
      message: "update b",
      content: content("two\n"),
      sha: created.data.content?.sha as string,
    });
    expect(updated.status).toBe(200);
    expect(await fake.readFile("a/b.yaml")).toBe("two\n");
    expect((await fake.commits()).map((c) => c.message)).toEqual(["update b", "add b", "Initial commit"]);
    expect(updated.data.commit.sha).toBe(await fake.headSha());
  });
});

describe("Git data API", () => {
  it("builds one commit from nested paths, inline content, blob shas and deletions", async () => {
    fake.commitFiles({ "keep.txt": "keep\n", "old/gone.txt": "bye\n" }, "seed");
    const ref = await gh.git.getRef({ owner, repo, ref: "heads/main" });
    const head = await gh.git.getCommit({ owner, repo, commit_sha: ref.data.object.sha });
    const blob = await gh.git.createBlob({
      owner,
      repo,
      content: Buffer.from("binary\0ok").toString("base64"),
      encoding: "base64",
    });
    expect(
      Buffer.from(
        (await gh.git.getBlob({ owner, repo, file_sha: blob.data.sha })).data.content,
        "base64",
      ).toString(),
    ).toBe("binary\0ok");

    const tree = await gh.git.createTree({
      owner,
      repo,
      base_tree: head.data.tree.sha,
      tree: [
        { path: "a/b/c.yaml", mode: "100644", type: "blob", content: "c: 1\n" },
        { path: "a/bin.dat", mode: "100644", type: "blob", sha: blob.data.sha },
        { path: "old/gone.txt", mode: "100644", type: "blob", sha: null },
      ],
    });
    const commit = await gh.git.createCommit({
      owner,
      repo,
      message: "Nested\n\nApproved-by: U0APR1",
      tree: tree.data.sha,
      parents: [ref.data.object.sha],
      author: { name: "Req Uester", email: "req@example.com", date: "2024-05-01T10:00:00+02:00" },
    });
    expect(commit.data).toMatchObject({
      message: "Nested\n\nApproved-by: U0APR1",
      tree: { sha: tree.data.sha },
    });
    expect(commit.data.author).toMatchObject({ name: "Req Uester", date: "2024-05-01T08:00:00Z" });
    expect(commit.data.html_url).toBe(`${fake.url}/acme/dr-volumes/commit/${commit.data.sha}`);
    await gh.git.updateRef({ owner, repo, ref: "heads/main", sha: commit.data.sha });

    expect(await fake.listFiles()).toEqual(["README.md", "a/b/c.yaml", "a/bin.dat", "keep.txt"]);
    expect(await fake.readFile("a/b/c.yaml")).toBe("c: 1\n");
    expect(await fake.git("log", "-1", "--format=%an <%ae> %ad", "--date=iso-strict")).toBe(
      "Req Uester <req@example.com> 2024-05-01T10:00:00+02:00\n",
    );
    const recursive = await gh.git.getTree({ owner, repo, tree_sha: tree.data.sha, recursive: "1" });
    expect(recursive.data.tree.map((e) => `${e.type} ${e.path}`)).toEqual([
      "blob README.md",
      "tree a",
      "tree a/b",
      "blob a/b/c.yaml",
      "blob a/bin.dat",
      "blob keep.txt",
    ]);
    await expect(fake.fsck()).resolves.toBeDefined();
  });

  it("keeps Git's tree order and entry format, so git fsck --strict passes", async () => {
    // Names where byte order differs from Git's "directories sort as name/" rule.
    const names = ["a-b", "a.b", "a/x", "a0", "a=b", "ab", "b/a-b/z", "b/a/z", "b/a.c"];
    fake.commitFiles(Object.fromEntries(names.map((n) => [n, `${n}\n`])), "tricky names");
    await expect(fake.fsck()).resolves.toBeDefined();
    expect(await fake.git("ls-tree", "--name-only", "main")).toBe(
      `${["README.md", "a-b", "a.b", "a", "a0", "a=b", "ab", "b"].join("\n")}\n`,
    );
    expect(await fake.listFiles("b")).toEqual(["b/a-b/z", "b/a.c", "b/a/z"]);
  });

  it("commits 1,000 inline files in one tree, and git sees all of them", async () => {
    const head = await gh.git.getCommit({ owner, repo, commit_sha: await fake.headSha() });
    const files = Array.from({ length: 1000 }, (_, i) => ({
      path: `PV-PVCs/secondary/bu${i % 4}/primary/app${i % 25}/ns${i % 3}/pv-pvc_${i}.yaml`,
      mode: "100644" as const,
      type: "blob" as const,
      content: `apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: volume-${i}\n`,
    }));
    const tree = await gh.git.createTree({ owner, repo, base_tree: head.data.tree.sha, tree: files });
    const commit = await gh.git.createCommit({
      owner,
      repo,
      message: "Failover",
      tree: tree.data.sha,
      parents: [head.data.sha],
    });
    await gh.git.updateRef({ owner, repo, ref: "heads/main", sha: commit.data.sha });

    expect(await fake.listFiles("PV-PVCs/secondary")).toHaveLength(1000);
    expect(await fake.readFile("PV-PVCs/secondary/bu3/primary/app7/ns1/pv-pvc_7.yaml")).toContain(
      "name: volume-7",
    );
    const listed = await gh.git.getTree({ owner, repo, tree_sha: "main", recursive: "1" });
    expect(listed.data.tree.filter((e) => e.type === "blob")).toHaveLength(1001);
    await expect(fake.fsck()).resolves.toBeDefined();
  });

  it("refuses a non-fast-forward ref update unless forced, and manages refs", async () => {
    const base = await fake.headSha();
    const head = await gh.git.getCommit({ owner, repo, commit_sha: base });
    const side = await gh.git.createCommit({
      owner,
      repo,
      message: "side",
      tree: head.data.tree.sha,
      parents: [base],
    });
    fake.commitFile("moved.txt", "someone else\n", "someone else");

    const refused = await failure(gh.git.updateRef({ owner, repo, ref: "heads/main", sha: side.data.sha }));
    expect(refused).toMatchObject({ status: 422, message: "Update is not a fast forward" });
    expect(await fake.readFile("moved.txt")).toBe("someone else\n");

    await gh.git.updateRef({ owner, repo, ref: "heads/main", sha: side.data.sha, force: true });
    expect(await fake.headSha()).toBe(side.data.sha);

    const created = await gh.git.createRef({ owner, repo, ref: "refs/heads/feature/x", sha: base });
    expect(created.status).toBe(201);
    expect(
      (await failure(gh.git.createRef({ owner, repo, ref: "refs/heads/feature/x", sha: base }))).message,
    ).toBe("Reference already exists");
    expect((await gh.git.getRef({ owner, repo, ref: "heads/feature/x" })).data.object.sha).toBe(base);
    const matching = await gh.git.listMatchingRefs({ owner, repo, ref: "heads/" });
    expect(matching.data.map((r) => r.ref)).toEqual(["refs/heads/feature/x", "refs/heads/main"]);
    expect(await fake.git("rev-parse", "feature/x")).toBe(`${base}\n`);
    expect((await failure(gh.git.getRef({ owner, repo, ref: "heads/nope" }))).status).toBe(404);
    expect((await failure(gh.git.updateRef({ owner, repo, ref: "heads/nope", sha: base }))).status).toBe(422);
  });

  it("rejects malformed trees and commits with 422", async () => {
    const bad = await failure(
      gh.git.createTree({ owner, repo, tree: [{ path: "../x", mode: "100644", type: "blob", content: "" }] }),
    );
    expect(bad.status).toBe(422);
    const missingBase = await failure(
      gh.git.createTree({
        owner,
        repo,
        base_tree: "f".repeat(40),
        tree: [{ path: "x", mode: "100644", type: "blob", content: "" }],
      }),
    );
    expect(missingBase).toMatchObject({ status: 422, message: "base_tree is not a valid tree oid" });
    const deleteMissing = await failure(
      gh.git.createTree({ owner, repo, tree: [{ path: "nope", mode: "100644", type: "blob", sha: null }] }),
    );
    expect(deleteMissing.status).toBe(422);
    const noTree = await failure(
      gh.git.createCommit({ owner, repo, message: "x", tree: "f".repeat(40), parents: [] }),
    );
    expect(noTree.status).toBe(422);
    const head = await gh.git.getCommit({ owner, repo, commit_sha: await fake.headSha() });
    const noParent = await failure(
      gh.git.createCommit({ owner, repo, message: "x", tree: head.data.tree.sha, parents: ["e".repeat(40)] }),
    );
    expect(noParent).toMatchObject({
      status: 422,
      message: "Parent SHA does not exist or is not a commit object",
    });
  });

  it("lists commits newest first, filtered by path and paginated", async () => {
    fake.commitFile("a.txt", "1\n", "a1");
    fake.commitFile("b.txt", "1\n", "b1");
    fake.commitFile("a.txt", "2\n", "a2");
    const all = await gh.repos.listCommits({ owner, repo, per_page: 2 });
    expect(all.data.map((c) => c.commit.message)).toEqual(["a2", "b1"]);
    expect(all.headers.link).toContain('rel="next"');
    const everything = await gh.paginate(gh.repos.listCommits, { owner, repo, per_page: 2 });
    expect(everything.map((c) => c.sha)).toEqual((await fake.commits()).map((c) => c.sha));
    const touchingA = await gh.repos.listCommits({ owner, repo, path: "a.txt" });
    expect(touchingA.data.map((c) => c.commit.message)).toEqual(["a2", "a1"]);
    expect(touchingA.data[0]?.parents.map((p) => p.sha)).toEqual([(await fake.commits())[1]?.sha]);
  });
});

describe("faults", () => {
  it("moves the branch between a client's read and its ref update", async () => {
    const raced = fake.raceRefUpdate();
    const head = await gh.git.getRef({ owner, repo, ref: "heads/main" });
    const base = await gh.git.getCommit({ owner, repo, commit_sha: head.data.object.sha });
    const mine = await gh.git.createCommit({
      owner,
      repo,
      message: "mine",
      tree: base.data.tree.sha,
      parents: [head.data.object.sha],
    });
    const refused = await failure(gh.git.updateRef({ owner, repo, ref: "heads/main", sha: mine.data.sha }));
    expect(refused).toMatchObject({ status: 422, message: "Update is not a fast forward" });
    expect(raced).toHaveLength(1);
    expect(await fake.headSha()).toBe(raced[0]);
    // The hook fired once; the next update goes through.
    await gh.git.updateRef({ owner, repo, ref: "heads/main", sha: mine.data.sha, force: true });
    expect(await fake.headSha()).toBe(mine.data.sha);
  });

  it("answers GitHub's primary and secondary rate limits", async () => {
    fake.rateLimit({ resetInSeconds: 30 });
    const primary = await failure(gh.repos.get({ owner, repo }));
    expect(primary.status).toBe(403);
    expect(primary.headers["x-ratelimit-remaining"]).toBe("0");
    expect(Number(primary.headers["x-ratelimit-reset"])).toBeGreaterThan(Date.now() / 1000 + 25);

    fake.secondaryRateLimit({ retryAfterSeconds: 7, method: "POST" });
    expect((await gh.repos.get({ owner, repo })).status).toBe(200);
    const secondary = await failure(gh.git.createBlob({ owner, repo, content: "x" }));
    expect(secondary.status).toBe(403);
    expect(secondary.message).toMatch(/secondary rate limit/);
    expect(secondary.headers["retry-after"]).toBe("7");
    expect((await gh.git.createBlob({ owner, repo, content: "x" })).status).toBe(201);
  });

  it("removes its repository on close", async () => {
    const other = await startFakeGitHub({ owner, repo, token });
    await other.close();
    await expect(stat(other.gitDir)).rejects.toThrow();
  });
});

describe("archives", () => {
  it("redirects GET /tarball/{ref} to a short-lived link that serves git archive of the commit", async () => {
    fake.commitFiles({ "PV-PVCs/a.yaml": "a: 1\n", "PV-PVCs/b/c.yaml": "c: 1\n" }, "seed");
    const head = await fake.headSha();
    const link = await gh.repos.downloadTarballArchive({
      owner,
      repo,
      ref: "main",
      request: { redirect: "manual" },
    });
    expect(link.status).toBe(302);
    const location = new URL(link.headers.location as string);
    expect(`${location.origin}${location.pathname}`).toBe(
      `${fake.url}/_codeload/${owner}/${repo}/legacy.tar.gz/${head}`,
    );
    expect(location.searchParams.get("token")).toMatch(/^[0-9A-F]{40}$/);
    expect(link.headers["x-ratelimit-remaining"]).toBe("4999");

    // The link needs no credentials, as GitHub's does not; fetch it as any client would.
    const download = await fetch(location);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("application/x-gzip");
    expect(download.headers.get("x-ratelimit-remaining")).toBeNull();
    const tar = gunzipSync(Buffer.from(await download.arrayBuffer()));
    // What git itself reads from the archive: the commit id and every file under one top folder.
    expect(await gitWithInput(["get-tar-commit-id"], tar)).toBe(`${head}\n`);
    const top = `${owner}-${repo}-${head.slice(0, 7)}`;
    const listed = await listTar(tar);
    expect(listed).toEqual([
      `${top}/`,
      `${top}/PV-PVCs/`,
      `${top}/PV-PVCs/a.yaml`,
      `${top}/PV-PVCs/b/`,
      `${top}/PV-PVCs/b/c.yaml`,
      `${top}/README.md`,
    ]);
    expect(fake.archiveBytesSent).toBeGreaterThan(0);
  });

  it("follows the redirect with Octokit's defaults, and pins a commit id", async () => {
    const first = fake.commitFile("x.txt", "one\n", "one");
    fake.commitFile("x.txt", "two\n", "two");
    const archive = await gh.repos.downloadTarballArchive({ owner, repo, ref: first });
    expect(archive.status).toBe(200);
    const tar = gunzipSync(Buffer.from(archive.data as ArrayBuffer));
    expect(await gitWithInput(["get-tar-commit-id"], tar)).toBe(`${first}\n`);
    expect(tar.includes("one\n")).toBe(true);
    expect(tar.includes("two\n")).toBe(false);
    // The API request and the download: two requests.
    expect(fake.http.requests.map((r) => r.path.replace(/[0-9a-f]{40}/, "<sha>"))).toEqual([
      "/repos/acme/dr-volumes/tarball/<sha>",
      "/_codeload/acme/dr-volumes/legacy.tar.gz/<sha>",
    ]);
  });

  it("refuses unknown refs, callers without credentials, and wrong or expired links", async () => {
    expect((await failure(gh.repos.downloadTarballArchive({ owner, repo, ref: "nope" }))).status).toBe(404);
    const anonymous = new Octokit({ baseUrl: fake.apiUrl, log: quiet });
    expect((await failure(anonymous.repos.downloadTarballArchive({ owner, repo, ref: "main" }))).status).toBe(
      401,
    );
    const link = async () =>
      new URL(
        (await gh.repos.downloadTarballArchive({ owner, repo, ref: "main", request: { redirect: "manual" } }))
          .headers.location as string,
      );
    const wrong = await link();
    wrong.searchParams.set("token", "0".repeat(40));
    expect((await fetch(wrong)).status).toBe(404);
    const other = await link();
    other.pathname = other.pathname.replace(/[0-9a-f]{40}$/, "f".repeat(40));
    expect((await fetch(other)).status).toBe(404);
    fake.archiveLinkTtlMs = 0;
    expect((await fetch(await link())).status).toBe(404);
  });
});

describe("rate-limit budget", () => {
  it("spends one request per authenticated API call and reports it in GitHub's headers", async () => {
    const small = await startFakeGitHub({ owner, repo, token, rateLimit: { limit: 3, windowSeconds: 120 } });
    try {
      const client = new Octokit({ baseUrl: small.apiUrl, auth: token, log: quiet });
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) {
        const answer = await client.repos.get({ owner, repo });
        seen.push(answer.headers["x-ratelimit-remaining"] as string);
        expect(answer.headers).toMatchObject({ "x-ratelimit-limit": "3", "x-ratelimit-resource": "core" });
        expect(answer.headers["x-ratelimit-used"]).toBe(String(3 - Number(seen[i])));
        expect(Number(answer.headers["x-ratelimit-reset"])).toBe(small.budget.resetAt);
      }
      expect(seen).toEqual(["2", "1", "0"]);
      expect(small.budget.resetAt - Date.now() / 1000).toBeGreaterThan(100);

      const spent = await failure(client.repos.get({ owner, repo }));
      expect(spent.status).toBe(403);
      expect(spent.message).toMatch(
        /^API rate limit exceeded for user ID 1\. If you reach out to GitHub Support for help, please include the request ID [0-9A-F:]+ and timestamp \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.$/,
      );
      expect(spent.message).toContain(spent.headers["x-github-request-id"] as string);
      expect(spent.headers).toMatchObject({ "x-ratelimit-remaining": "0", "x-ratelimit-limit": "3" });
      // Bad credentials are refused before the budget is looked at.
      const wrong = new Octokit({ baseUrl: small.apiUrl, auth: "ghp_wrong", log: quiet });
      expect((await failure(wrong.repos.get({ owner, repo }))).status).toBe(401);

      small.setRateLimit({ remaining: 0, status: 429 });
      expect((await failure(client.repos.get({ owner, repo }))).status).toBe(429);
      // A new window: the full limit again.
      small.setRateLimit({ remaining: 0, resetInSeconds: 0 });
      const fresh = await client.repos.get({ owner, repo });
      expect(fresh.headers["x-ratelimit-remaining"]).toBe("2");
    } finally {
      await small.close();
    }
  });

  it("names the App installation whose budget is spent", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const app = await startFakeGitHub({
      owner,
      repo,
      token,
      app: {
        id: "42",
        installationId: "777",
        publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
      },
    });
    try {
      const { createAppAuth } = await import("@octokit/auth-app");
      const client = new Octokit({
        baseUrl: app.apiUrl,
        log: quiet,
        authStrategy: createAppAuth,
        auth: {
          appId: "42",
          privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
          installationId: "777",
        },
      });
      app.setRateLimit({ remaining: 0 });
      const spent = await failure(client.repos.get({ owner, repo }));
      expect(spent.message).toMatch(/^API rate limit exceeded for installation ID 777\./);
    } finally {
      await app.close();
    }
  });
});

/** Entry names of a tar archive, in order, as git wrote them. */
async function listTar(tar: Buffer): Promise<string[]> {
  const { extract } = await import("tar-stream");
  const names: string[] = [];
  const parser = extract();
  const done = (async () => {
    for await (const entry of parser) {
      names.push(entry.header.name);
      entry.resume();
    }
  })();
  parser.end(tar);
  await done;
  return names;
}
