// docs/operations.md stays true to the code: its IAM policy allows exactly the EFS calls drbot
// makes, on the two file systems only; its example values are the chart's CI values; every YAML
// and JSON block in it parses; its Secret holds the keys the chart reads.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";

const root = new URL("../../", import.meta.url).pathname;
const doc = readFileSync(`${root}docs/operations.md`, "utf8");
const blocks = (lang: string) =>
  [...doc.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => m[1] as string);

describe("docs/operations.md", () => {
  it("every YAML and JSON block parses", () => {
    expect(blocks("yaml").length).toBeGreaterThanOrEqual(2);
    for (const text of blocks("yaml")) {
      for (const d of parseAllDocuments(text, { uniqueKeys: true })) expect(d.errors).toEqual([]);
    }
    expect(blocks("json").length).toBeGreaterThanOrEqual(2);
    for (const text of blocks("json")) expect(() => JSON.parse(text)).not.toThrow();
  });

  it("the IAM policy allows exactly the EFS calls the adapter makes, on the two file systems", () => {
    const adapter = readFileSync(`${root}src/adapters/efs.ts`, "utf8");
    const calls = new Set(
      [...adapter.matchAll(/new (\w+)Command\(/g)].map((m) => `elasticfilesystem:${m[1]}`),
    );
    const policy = blocks("json")
      .map((t) => JSON.parse(t))
      .find((p) => p.Statement?.some((s: any) => String(s.Action).includes("elasticfilesystem:")));
    const [statement, ...others] = policy.Statement;
    expect(others).toEqual([]);
    expect(statement.Effect).toBe("Allow");
    expect(new Set(statement.Action)).toEqual(calls);
    expect(statement.Resource).toHaveLength(2);
    for (const arn of statement.Resource) {
      expect(arn).toMatch(/^arn:aws:elasticfilesystem:[a-z0-9-]+:\d{12}:file-system\/fs-[0-9a-f]+$/);
    }
  });

  it("shows the chart's CI values as the starting values file", () => {
    const ci = parse(readFileSync(`${root}helm/drbot/ci/example-values.yaml`, "utf8"));
    const shown = blocks("yaml")
      .flatMap((t) => parseAllDocuments(t).map((d) => d.toJS()))
      .find((v) => v && typeof v === "object" && "kubeconfigs" in v);
    expect(shown).toEqual(ci);
  });

  it("creates the Secret with the keys the chart reads by default", () => {
    const values = parse(readFileSync(`${root}helm/drbot/values.yaml`, "utf8"));
    const command = blocks("sh").find((t) => t.includes("create secret generic drbot")) ?? "";
    const keys = [...command.matchAll(/--from-literal=(\w+)=/g)].map((m) => m[1]);
    const { slackBotToken, slackSigningSecret, githubToken } = values.secrets.keys;
    expect(keys.sort()).toEqual([slackBotToken, slackSigningSecret, githubToken].sort());
  });
});
