import { describe, expect, it } from "vitest";
import { DrbotError } from "../../src/core/errors.ts";
import { instrument } from "../../src/core/instrument.ts";
import { createMetrics, type Metrics } from "../../src/core/metrics.ts";
import type { GitPort, RateLimit } from "../../src/core/ports/git.ts";

/** A hand-written Git port: private state, so a method called on the wrong `this` fails. */
class Repo {
  #head = "c0ffee";
  #files = new Map([["PV-PVCs/a.yaml", "kind: List"]]);
  calls: string[] = [];
  readonly branch = "main";

  async headSha(): Promise<string> {
    this.calls.push("headSha");
    return this.#head;
  }
  async readFile(path: string): Promise<string | null> {
    this.calls.push(`readFile ${path}`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    return this.#files.get(path) ?? null;
  }
  async probe(): Promise<{ fullName: string; branch: string; headSha: string }> {
    throw new DrbotError("not_found", "git.branch_not_found", "branch main does not exist");
  }
  async readBlob(sha: string): Promise<string> {
    throw new TypeError(`cannot read ${sha}`);
  }
  rateLimit(): RateLimit | undefined {
    return { remaining: this.#files.size, limit: 5000, resetAt: new Date(0) };
  }
  listFiles(): never {
    throw new DrbotError("invalid", "git.invalid_path", "bad prefix");
  }
}

async function calls(metrics: Metrics) {
  const { values } = await metrics.dependencyCallSeconds.get();
  const count = (method: string) =>
    values.find(
      (v) =>
        v.metricName === "drbot_dependency_call_duration_seconds_count" &&
        v.labels.dependency === "git" &&
        v.labels.method === method,
    )?.value ?? 0;
  const sum = (method: string) =>
    values.find(
      (v) => v.metricName === "drbot_dependency_call_duration_seconds_sum" && v.labels.method === method,
    )?.value ?? 0;
  return { count, sum };
}

async function errors(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.dependencyErrors.get();
  return Object.fromEntries(values.map((v) => [`${v.labels.dependency} ${v.labels.code}`, v.value]));
}

function setup() {
  const metrics = createMetrics();
  const repo = new Repo();
  const git = instrument(repo as unknown as GitPort & Repo, "git", metrics);
  return { metrics, repo, git };
}

describe("instrumented ports", () => {
  it("passes calls through to the port, with its arguments and its own this", async () => {
    const { repo, git } = setup();
    expect(await git.headSha()).toBe("c0ffee");
    expect(await git.readFile("PV-PVCs/a.yaml")).toBe("kind: List");
    expect(await git.readFile("PV-PVCs/b.yaml")).toBeNull();
    expect(repo.calls).toEqual(["headSha", "readFile PV-PVCs/a.yaml", "readFile PV-PVCs/b.yaml"]);
    // Properties that are not methods are the port's own.
    expect(git.branch).toBe("main");
    expect(git.calls).toBe(repo.calls);
  });

  it("times each call by dependency and method, once per call", async () => {
    const { metrics, git } = setup();
    await git.headSha();
    await git.readFile("PV-PVCs/a.yaml");
    await git.readFile("PV-PVCs/b.yaml");
    const { count, sum } = await calls(metrics);
    expect(count("headSha")).toBe(1);
    expect(count("readFile")).toBe(2);
    // The time until the promise settles, not until the call returned it.
    expect(sum("readFile")).toBeGreaterThanOrEqual(0.05);
    expect(sum("readFile")).toBeLessThan(1);
    expect(await errors(metrics)).toEqual({});
  });

  it("times a method that answers at once, and returns its answer as it is", async () => {
    const { metrics, git } = setup();
    const limit = git.rateLimit();
    expect(limit).toEqual({ remaining: 1, limit: 5000, resetAt: new Date(0) });
    expect(limit).not.toBeInstanceOf(Promise);
    expect((await calls(metrics)).count("rateLimit")).toBe(1);
  });

  it("counts a rejected call by its error code and rethrows the same error", async () => {
    const { metrics, git } = setup();
    const err = await git.probe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrbotError);
    expect(err).toMatchObject({ code: "git.branch_not_found", message: "branch main does not exist" });
    await git.probe().catch(() => {});
    expect(await errors(metrics)).toEqual({ "git git.branch_not_found": 2 });
    expect((await calls(metrics)).count("probe")).toBe(2);
  });

  it("counts an error that is not drbot's own as unexpected", async () => {
    const { metrics, git } = setup();
    await expect(git.readBlob("abc")).rejects.toThrow(new TypeError("cannot read abc"));
    expect(await errors(metrics)).toEqual({ "git unexpected": 1 });
    expect((await calls(metrics)).count("readBlob")).toBe(1);
  });

  it("counts a call that throws at once, and rethrows it", async () => {
    const { metrics, git } = setup();
    expect(() => git.listFiles("/")).toThrow("bad prefix");
    expect(await errors(metrics)).toEqual({ "git git.invalid_path": 1 });
    expect((await calls(metrics)).count("listFiles")).toBe(1);
  });
});
