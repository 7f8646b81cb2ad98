// Every secret the process holds, so that none of them can leave it in a log line, a Slack
// message, job data or Git. Filled once at start-up (environment, kubeconfigs, the in-cluster
// service-account token); `scrub` is applied where text leaves: the logger, the chat adapter,
// command replies and the step runner. A registry per process: secrets only ever accumulate.

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const REDACTED = "[redacted]";
/** Shorter values would redact ordinary words. */
const MIN_LENGTH = 8;

const known = new Set<string>();
let patterns: string[] = [];

/** Adds secrets; each also in the forms it takes when quoted in JSON or split over lines. */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) {
    if (!value) continue;
    for (const form of forms(value.trim())) if (form.length >= MIN_LENGTH) known.add(form);
  }
  // Longest first, so a secret that contains another is removed whole.
  patterns = [...known].sort((a, b) => b.length - a.length);
}

function forms(value: string): string[] {
  const out = [value, JSON.stringify(value).slice(1, -1)];
  // A PEM key or a certificate: every line of its body on its own, wherever it shows up.
  if (value.includes("\n")) out.push(...value.split(/\r?\n/).map((l) => l.trim()));
  // kubeconfig `*-data` fields are base64 of a PEM: the decoded form is just as secret.
  if (/^[A-Za-z0-9+/=]{40,}$/.test(value)) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    if (decoded.includes("-----BEGIN")) out.push(...forms(decoded));
  }
  return out.filter((f) => !/^-----(BEGIN|END) [A-Z ]+-----$/.test(f));
}

/** Text with every known secret replaced by `[redacted]`. */
export function scrub(text: string): string {
  let out = text;
  for (const p of patterns) if (out.includes(p)) out = out.split(p).join(REDACTED);
  return out;
}

/** Any JSON-able value with every string scrubbed (Slack blocks, job data). */
export function scrubDeep<T>(value: T): T {
  if (patterns.length === 0) return value;
  const text = JSON.stringify(value);
  if (text === undefined) return value;
  const clean = scrub(text);
  return clean === text ? value : (JSON.parse(clean) as T);
}

const KUBE_SECRET_FIELDS =
  /^\s*-?\s*"?(token|client-key-data|client-certificate-data|password|id-token|refresh-token|access-token|client-secret)"?\s*:\s*(.+?)\s*$/;

/**
 * Secret values of a kubeconfig, read line by line rather than parsed: a kubeconfig with a YAML
 * slip is exactly the one whose token would otherwise end up quoted in an error message.
 */
export function kubeconfigSecrets(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = KUBE_SECRET_FIELDS.exec(line);
    const raw = m?.[2]?.replace(/^["']|["']$/g, "");
    if (raw && !raw.startsWith("|") && !raw.startsWith(">")) out.push(raw);
  }
  return out;
}

/** Registers the secrets of the kubeconfigs drbot will use (named ones, or the defaults). */
export function registerKubeconfigSecrets(
  paths: ReadonlyArray<string | undefined>,
  env: NodeJS.ProcessEnv,
): void {
  const files = new Set<string>();
  for (const p of paths) {
    if (p) files.add(p);
    else {
      for (const f of (env.KUBECONFIG ?? join(homedir(), ".kube", "config")).split(":")) if (f) files.add(f);
      files.add("/var/run/secrets/kubernetes.io/serviceaccount/token");
    }
  }
  for (const file of files) {
    if (!existsSync(file)) continue;
    try {
      const text = readFileSync(file, "utf8");
      registerSecrets(file.endsWith("/token") ? [text] : kubeconfigSecrets(text));
    } catch {
      // Unreadable here: then drbot cannot leak it either.
    }
  }
}
