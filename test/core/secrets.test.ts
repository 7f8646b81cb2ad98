// The secrets registry: every form a secret takes on its way out is caught.

import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/core/logger.ts";
import {
  kubeconfigSecrets,
  registerKubeconfigSecrets,
  registerSecrets,
  scrub,
  scrubDeep,
} from "../../src/core/secrets.ts";

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

// A key registered only through its base64 form (a kubeconfig `client-key-data`), so that its
// lines are known through the decoding alone.
const ecPem = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({
  type: "pkcs8",
  format: "pem",
}) as string;
const ecBody = ecPem.split("\n").filter((l) => l && !l.startsWith("-----"));

describe("secrets registry: every form of a secret", () => {
  it("ignores missing and empty values, and trims what it registers", () => {
    expect(() => registerSecrets([undefined, "", "   "])).not.toThrow();
    registerSecrets(["  padded-secret-4711  "]);
    expect(scrub("value=padded-secret-4711;")).toBe("value=[redacted];");
  });

  it("registers values of eight characters or more, never shorter ones", () => {
    registerSecrets(["k8chars!", "7chars?"]);
    expect(scrub("a k8chars! b")).toBe("a [redacted] b");
    expect(scrub("a 7chars? b")).toBe("a 7chars? b");
  });

  it("removes a secret that contains another one whole, whatever the order they came in", () => {
    registerSecrets(["nested-1234"]);
    registerSecrets(["nested-1234-and-more-5678"]);
    expect(scrub("x nested-1234-and-more-5678 y")).toBe("x [redacted] y");
    expect(scrub("x nested-1234 y")).toBe("x [redacted] y");
  });

  it("catches a secret with quotes and backslashes inside a JSON string", () => {
    const secret = 'pa"ss\\word-0042';
    registerSecrets([secret]);
    expect(scrub(JSON.stringify({ password: secret }))).toBe('{"password":"[redacted]"}');
    expect(scrub(`raw ${secret} raw`)).toBe("raw [redacted] raw");
  });

  it("catches each line of a multi-line secret on its own, with LF or CRLF and indentation", () => {
    registerSecrets(["first-line-aaaa\n  second-line-bbbb  \nthird-line-cccc"]);
    registerSecrets(["crlf-line-one-dddd\r\ncrlf-line-two-eeee"]);
    expect(scrub("got second-line-bbbb here")).toBe("got [redacted] here");
    expect(scrub("got first-line-aaaa and third-line-cccc")).toBe("got [redacted] and [redacted]");
    expect(scrub("got crlf-line-one-dddd")).toBe("got [redacted]");
    expect(scrub("got crlf-line-two-eeee")).toBe("got [redacted]");
  });

  it("replaces a whole PEM as one, and never its armour lines alone", () => {
    const pemAlone = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({
      type: "pkcs8",
      format: "pem",
    }) as string;
    registerSecrets([pemAlone]);
    expect(scrub(`key:\n${pemAlone}`)).toBe("key:\n[redacted]\n");
    // The armour is in every PEM and in documentation: redacting it would only garble messages.
    expect(scrub("expected -----BEGIN PRIVATE KEY----- and -----END PRIVATE KEY-----")).toBe(
      "expected -----BEGIN PRIVATE KEY----- and -----END PRIVATE KEY-----",
    );
  });

  it("decodes a base64 value to a PEM and catches the PEM and each of its lines", () => {
    registerSecrets([Buffer.from(ecPem).toString("base64")]);
    expect(ecBody.length).toBeGreaterThan(1);
    for (const line of ecBody) expect(scrub(`bad line ${line} seen`)).toBe("bad line [redacted] seen");
    expect(scrub(ecPem)).toBe("[redacted]");
    expect(scrub(JSON.stringify(ecPem))).toBe('"[redacted]"');
  });

  it("does not treat the decoding of a base64 value that is not a PEM as a secret", () => {
    const plain = "this is ordinary text, decoded from base64";
    const encoded = Buffer.from(plain).toString("base64");
    registerSecrets([encoded]);
    expect(scrub(`token ${encoded}`)).toBe("token [redacted]");
    expect(scrub(plain)).toBe(plain);
  });

  it("scrubDeep leaves values without secrets as they are and cleans nested strings", () => {
    registerSecrets(["deep-secret-31337"]);
    const at = new Date(0);
    const clean = { at, note: "nothing to hide", list: [1, 2] };
    expect(scrubDeep(clean)).toBe(clean);
    expect(scrubDeep(clean).at).toBeInstanceOf(Date);
    expect(scrubDeep(undefined)).toBeUndefined();
    const fn = () => "deep-secret-31337";
    expect(scrubDeep(fn)).toBe(fn);
    expect(scrubDeep({ a: [{ b: "x deep-secret-31337 y" }], n: 3 })).toEqual({
      a: [{ b: "x [redacted] y" }],
      n: 3,
    });
    expect(scrubDeep("deep-secret-31337")).toBe("[redacted]");
  });

  it("reads quoted kubeconfig values without their quotes only, and no block-scalar markers", () => {
    const text = [
      `    password: "it's-a-pass-word"`,
      `    - token: 'quoted-token-9999'`,
      `    "client-secret": plain-secret-0000  `,
      `    access-token: |-`,
      `      abcdefghijkl`,
      `    refresh-token: >+`,
      `    id-token:`,
      `    username: not-a-secret-name`,
    ].join("\r\n");
    expect(kubeconfigSecrets(text)).toEqual(["it's-a-pass-word", "quoted-token-9999", "plain-secret-0000"]);
  });
});

describe("registering the secrets of kubeconfig files", () => {
  let dir: string;
  let home: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "drbot-secrets-"));
    home = process.env.HOME;
    // os.homedir() reads HOME: the default ~/.kube/config is then one of ours.
    process.env.HOME = join(dir, "home");
  });
  afterEach(() => {
    process.env.HOME = home;
    rmSync(dir, { recursive: true, force: true });
  });
  const kubeconfig = (token: string) => `users:\n- name: u\n  user:\n    token: ${token}\n`;

  it("reads the kubeconfigs named, and only those", () => {
    const named = join(dir, "named.yaml");
    const other = join(dir, "other.yaml");
    writeFileSync(named, kubeconfig("named-kube-token-0001"));
    writeFileSync(other, kubeconfig("other-kube-token-0002"));
    registerKubeconfigSecrets([named], { KUBECONFIG: other });
    expect(scrub("Bearer named-kube-token-0001")).toBe("Bearer [redacted]");
    expect(scrub("Bearer other-kube-token-0002")).toBe("Bearer other-kube-token-0002");
  });

  it("reads every file of KUBECONFIG for the default cluster, skipping missing ones", () => {
    const a = join(dir, "a.yaml");
    const b = join(dir, "b.yaml");
    writeFileSync(a, kubeconfig("kubeconfig-a-token-0003"));
    writeFileSync(b, kubeconfig("kubeconfig-b-token-0004"));
    mkdirSync(join(dir, "home", ".kube"), { recursive: true });
    writeFileSync(join(dir, "home", ".kube", "config"), kubeconfig("home-kube-token-0005"));
    registerKubeconfigSecrets([undefined], { KUBECONFIG: `${a}::${join(dir, "missing.yaml")}:${b}` });
    expect(scrub("kubeconfig-a-token-0003 kubeconfig-b-token-0004")).toBe("[redacted] [redacted]");
    // KUBECONFIG set: ~/.kube/config is not drbot's.
    expect(scrub("home-kube-token-0005")).toBe("home-kube-token-0005");
  });

  // In a worker thread (Stryker's runner) process.env is the thread's copy and os.homedir()
  // still reads the process's HOME: the fallback can only be checked where HOME is honoured.
  it("falls back to ~/.kube/config without KUBECONFIG", ({ skip }) => {
    if (homedir() !== join(dir, "home")) skip();
    mkdirSync(join(dir, "home", ".kube"), { recursive: true });
    writeFileSync(join(dir, "home", ".kube", "config"), kubeconfig("home-kube-token-0006"));
    registerKubeconfigSecrets([undefined], {});
    expect(scrub("home-kube-token-0006")).toBe("[redacted]");
  });

  it("takes a token file whole, and survives a path it cannot read", () => {
    const tokenDir = join(dir, "serviceaccount");
    mkdirSync(tokenDir);
    writeFileSync(join(tokenDir, "token"), "sa-token-eyJhbGciOi-0007\n");
    mkdirSync(join(dir, "a-directory.yaml"));
    registerKubeconfigSecrets([join(tokenDir, "token"), join(dir, "a-directory.yaml")], {});
    expect(scrub("Authorization: Bearer sa-token-eyJhbGciOi-0007")).toBe("Authorization: Bearer [redacted]");
  });
});
