// The secrets registry: every form a secret takes on its way out is caught.

import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/core/logger.ts";
import { kubeconfigSecrets, registerSecrets, scrub, scrubDeep } from "../../src/core/secrets.ts";

const pem = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
  type: "pkcs8",
  format: "pem",
}) as string;

describe("secrets registry", () => {
  registerSecrets(["xoxb-unit-test-token-777", pem, "p@ss-w0rd-redis-9"]);

  it.each([
    ["raw", "token xoxb-unit-test-token-777 here"],
    ["JSON-escaped PEM", JSON.stringify({ key: pem })],
    ["one line of a PEM", `bad key line ${pem.split("\n")[3]} in a message`],
    ["PEM as is", `key:\n${pem}`],
    ["password in a URL", "redis://:p@ss-w0rd-redis-9@h:6379"],
  ])("scrubs a secret %s", (_, text) => {
    const out = scrub(text);
    expect(out).toContain("[redacted]");
    expect(out).not.toContain("xoxb-unit-test-token-777");
    expect(out).not.toContain("p@ss-w0rd-redis-9");
    for (const line of pem.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----")))
      expect(out).not.toContain(line);
  });

  it("scrubs nested values of Slack blocks", () => {
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "leak xoxb-unit-test-token-777" } }];
    expect(JSON.stringify(scrubDeep(blocks))).not.toContain("xoxb-unit-test-token-777");
  });

  it("reads kubeconfig secrets line by line, even from a kubeconfig that is not valid YAML", () => {
    const data = Buffer.from(pem).toString("base64");
    const text = `users:\n- name: u\n  user:\n    token: kube-bearer-0123456789\n     oops: [\n    client-key-data: ${data}\n    password: "hunter2-hunter2"\n`;
    const found = kubeconfigSecrets(text);
    expect(found).toEqual(["kube-bearer-0123456789", data, "hunter2-hunter2"]);
    registerSecrets(found);
    expect(scrub(`Unauthorized: Bearer kube-bearer-0123456789`)).not.toContain("kube-bearer");
    expect(scrub(pem.split("\n")[2] as string)).toBe("[redacted]");
  });

  it("keeps secrets out of log lines in any field, multi-line and JSON-escaped", () => {
    const lines: string[] = [];
    const log = createLogger({
      level: "info",
      destination: { write: (l: string) => lines.push(l) } as never,
    });
    log.info(
      { err: new Error(`failed with ${pem}`), detail: { token: "x", nested: "kube-bearer-0123456789" } },
      "boom",
    );
    const all = lines.join("");
    expect(all).not.toContain("kube-bearer-0123456789");
    for (const line of pem.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----")))
      expect(all).not.toContain(line);
  });
});
