// `drbot sandbox` as a person runs it: its own process, its own redis-server, one line with the
// console's URL, state kept across a restart, `--reset`, and Ctrl-C leaving no process behind.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const base = { ...process.env };
  delete base.REDIS_URL; // the sandbox starts its own redis-server
  delete base.PORT;
  const child = spawn(process.execPath, [CLI, "sandbox", ...args], {
    cwd,
    env: { ...base, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout?.on("data", (d) => stdout.push(...String(d).split("\n").filter(Boolean)));
  child.stderr?.on("data", (d) => stderr.push(String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout, stderr, exited };
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the sandbox and waits for its one line; returns the console URL and the start-up time. */
async function started(r: Run): Promise<{ url: string; ms: number }> {
  const t0 = Date.now();
  const url = await until(`the console URL (stderr: ${r.stderr.join("")})`, () => {
    if (r.child.exitCode !== null) throw new Error(`the sandbox exited: ${r.stderr.join("")}`);
    return /http:\/\/127\.0\.0\.1:\d+\//.exec(r.stdout.join("\n"))?.[0];
  });
  return { url, ms: Date.now() - t0 };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface World {
  activeSite: string;
  sites: { site: string; cluster: { pvs: { name: string; phase: string }[] } }[];
  git: { commits: { subject: string }[] };
}
const world = async (url: string) => (await (await fetch(`${url}api/world`)).json()) as World;
const primaryPvs = (w: World) =>
  w.sites.find((s) => s.site === "primary")?.cluster.pvs.map((p) => `${p.name} ${p.phase}`) ?? [];

describe("drbot sandbox, the process", () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), "drbot-sandbox-cli-"));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it("prints one line with the URL, serves the console, keeps state across a restart, and leaves nothing running", {
    timeout: 90_000,
  }, async () => {
    // First start: fresh, with two seeded volumes.
    const first = run(cwd, ["--port", "0", "--volumes", "2"]);
    const { url, ms } = await started(first);
    console.log(`sandbox start-up: ${ms} ms`);
    expect(ms).toBeLessThan(15_000);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Nothing here touches AWS, Kubernetes, Slack or GitHub");
    const w1 = await until("the seeded volumes to be Bound", async () => {
      const w = await world(url);
      return primaryPvs(w).filter((p) => p.endsWith("Bound")).length === 2 ? w : undefined;
    });
    expect(primaryPvs(w1)).toEqual([
      "sales.orders.orders-prod.data-001 Bound",
      "sales.orders.orders-stage.data-002 Bound",
    ]);
    expect(w1.git.commits[0]?.subject).toBe("Seed 2 volumes on primary (drbot sandbox --volumes 2)");
    const redisPid = Number((await readFile(join(cwd, ".drbot-sandbox/redis/redis.pid"), "utf8")).trim());
    expect(alive(redisPid)).toBe(true);

    first.child.kill("SIGINT");
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.stdout).toHaveLength(1);
    expect(first.stdout[0]).toMatch(/^drbot sandbox: console at http:\/\/127\.0\.0\.1:\d+\/ /);
    expect(first.stderr.join("")).toBe("");
    expect(alive(redisPid)).toBe(false);

    // Second start: the same world, nothing seeded again.
    const second = run(cwd, ["--port", "0", "--volumes", "2"]);
    const again = await started(second);
    const w2 = await world(again.url);
    expect(primaryPvs(w2)).toEqual(primaryPvs(w1));
    expect(w2.git.commits.map((c) => c.subject)).toEqual(w1.git.commits.map((c) => c.subject));
    second.child.kill("SIGTERM");
    expect(await second.exited).toEqual({ code: 0, signal: null });

    // --reset: from scratch.
    const third = run(cwd, ["--port", "0", "--reset"]);
    const fresh = await started(third);
    const w3 = await world(fresh.url);
    expect(primaryPvs(w3)).toEqual([]);
    expect(w3.git.commits.map((c) => c.subject)).toEqual(["Initial commit"]);
    const thirdRedis = Number((await readFile(join(cwd, ".drbot-sandbox/redis/redis.pid"), "utf8")).trim());
    third.child.kill("SIGINT");
    expect((await third.exited).code).toBe(0);
    expect(alive(thirdRedis)).toBe(false);
  });

  it("without Redis says how to get it, and refuses bad flags", async () => {
    // A PATH with git but no redis-server.
    const bin = join(cwd, "bin");
    await mkdir(bin);
    const git = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
    await symlink(git, join(bin, "git"));
    const noRedis = run(cwd, ["--port", "0"], { PATH: bin });
    expect((await noRedis.exited).code).toBe(1);
    const said = noRedis.stderr.join("");
    expect(said).toContain("apt-get install redis-server");
    expect(said).toContain("brew install redis");
    expect(said).toContain("REDIS_URL");
    expect(noRedis.stdout).toEqual([]);

    const bad = run(cwd, ["--volumes", "lots"]);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr.join("")).toContain('--volumes: expected a whole number from 0 to 5000, got "lots"');
  });
});
