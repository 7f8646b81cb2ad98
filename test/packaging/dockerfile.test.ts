// The container image, checked from its Dockerfile and .dockerignore (no Docker engine or hadolint
// here): multi-stage on node:24-slim, production dependencies only, non-root, tini as PID 1
// running drbot, and a build context that carries what the image needs and nothing else.

import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url).pathname;
const dockerfile = readFileSync(`${root}Dockerfile`, "utf8");
const dockerignore = readFileSync(`${root}.dockerignore`, "utf8");

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions in order (continuation lines joined, comments dropped), grouped by stage. */
function stagesOf(text: string): Stage[] {
  const logical: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && current === "")) continue;
    if (line.endsWith("\\")) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(`${current}${line}`.trim());
    current = "";
  }
  const stages: Stage[] = [];
  for (const entry of logical.filter(Boolean)) {
    const [keyword = "", ...rest] = entry.split(/\s+/);
    const args = rest.join(" ");
    if (keyword.toUpperCase() === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: m?.[1] ?? args, name: m?.[2], instructions: [] });
    } else {
      expect(stages.length, `${keyword} before the first FROM`).toBeGreaterThan(0);
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const stages = stagesOf(dockerfile);
const final = stages.at(-1) as Stage;
const all = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const last = (stage: Stage, keyword: string) => all(stage, keyword).at(-1);
const runs = (stage: Stage) => all(stage, "RUN").join(" && ");

describe("Dockerfile", () => {
  it("is multi-stage, every stage on the official node:24-slim tag (no digest)", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toBe("node:24-slim");
  });

  it("installs everything (npm ci) in a build stage and type-checks the shipped sources", () => {
    const build = stages.find((s) => /\bnpm ci(?![^&]*--omit)/.test(runs(s)));
    expect(build, "a stage running a full npm ci").toBeDefined();
    expect(runs(build!)).toMatch(/\btsc -p \./);
  });

  it("ships node_modules from a production-only install (npm ci --omit=dev)", () => {
    const copy = all(final, "COPY").find((a) => /\/node_modules\b/.test(a));
    const from = /--from=(\S+)/.exec(copy ?? "")?.[1];
    const deps = stages.find((s) => s.name === from);
    expect(deps, `the stage node_modules come from (${from})`).toBeDefined();
    expect(runs(deps!)).toMatch(/\bnpm ci\b[^&]*--omit=dev/);
  });

  it("copies exactly drbot's runtime files into /app, never the whole context", () => {
    const copies = all(final, "COPY").filter((a) => !a.startsWith("--from"));
    const sources = copies.flatMap((a) => a.split(/\s+/).slice(0, -1));
    expect(sources.sort()).toEqual(
      ["bin/", "src/", "templates/", "package.json", "package-lock.json", "drbot.example.yaml"].sort(),
    );
    expect(last(final, "WORKDIR")).toBe("/app");
  });

  it("runs as a numeric non-root user", () => {
    const user = last(final, "USER");
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user?.split(":")[0])).toBeGreaterThan(0);
    expect(user).toBe("10001:10001");
  });

  it("starts drbot under tini (installed from Debian), `serve` by default, on port 3000", () => {
    expect(runs(final)).toMatch(/apt-get install[^&]*\btini\b/);
    expect(JSON.parse(last(final, "ENTRYPOINT") ?? "null")).toEqual([
      "tini",
      "--",
      "node",
      "/app/bin/drbot.js",
    ]);
    expect(JSON.parse(last(final, "CMD") ?? "null")).toEqual(["serve"]);
    expect(all(final, "EXPOSE")).toEqual(["3000"]);
  });

  it("points DRBOT_CONFIG where the chart mounts drbot.yaml", () => {
    expect(all(final, "ENV").join(" ")).toMatch(/DRBOT_CONFIG=\/etc\/drbot\/drbot\.yaml/);
  });
});

// ---- .dockerignore -------------------------------------------------------------------------------

/** Docker's rule: the last pattern matching the path or one of its parents decides. */
function ignored(path: string): boolean {
  const patterns = dockerignore
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const parts = path.split("/");
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).replace(/\/+$/, "");
    const re = new RegExp(
      `^${pattern
        .split("**")
        .map((p) =>
          p
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, "[^/]*")
            .replace(/\?/g, "[^/]"),
        )
        .join(".*")}$`,
    );
    if (candidates.some((c) => re.test(c))) excluded = !negated;
  }
  return excluded;
}

describe(".dockerignore", () => {
  it("sends every file the Dockerfile copies", () => {
    const sources = stages
      .flatMap((s) => all(s, "COPY"))
      .filter((a) => !a.startsWith("--from"))
      .flatMap((a) => a.split(/\s+/).slice(0, -1));
    for (const source of sources) {
      expect(existsSync(`${root}${source}`), `${source} exists`).toBe(true);
      expect(ignored(source.replace(/\/$/, "")), source).toBe(false);
    }
    expect(ignored("src/cli.ts")).toBe(false);
    expect(ignored("templates/pv-pvc.nfs.yaml")).toBe(false);
  });

  it.each([
    "node_modules/yaml/package.json",
    "test/stand-ins/slack.test.ts",
    "bench/run.ts",
    ".git/HEAD",
    ".ci/run",
    ".env",
    "drbot.yaml",
    "helm/drbot/values.yaml",
    "src/core/config.test.ts",
  ])("keeps %s out of the build context", (path) => {
    expect(ignored(path)).toBe(true);
  });
});
