// Naming rules for everything a tenant names. Each name ends up in an EFS path, a Kubernetes
// object name or label, and a Git path, so the rules are Kubernetes' strictest (DNS-1123 label)
// and a value that passes can never carry a path separator, `..`, or YAML syntax.

declare const labelBrand: unique symbol;
/** A string proven to be a DNS-1123 label; only `asLabel`/`checkLabel` make one. */
export type Label = string & { readonly [labelBrand]: true };

export const LABEL_MAX = 63;
/** Kubernetes object names (DNS-1123 subdomains), such as the PV name, stop at 253. */
export const SUBDOMAIN_MAX = 253;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `value` is not a DNS-1123 label, in words for the person who typed it; undefined if it is one. */
export function labelProblem(what: string, value: string): string | undefined {
  if (value.length === 0) return `${what} is empty.`;
  if (value.length > LABEL_MAX) {
    return `${what} is ${value.length} characters long; the limit is ${LABEL_MAX}.`;
  }
  if (LABEL.test(value)) return undefined;
  if (/[A-Z]/.test(value) && LABEL.test(value.toLowerCase())) {
    return `${what} "${value}" has capital letters; use lowercase: "${value.toLowerCase()}".`;
  }
  const bad = [...new Set(value.replace(/[-a-z0-9]/g, ""))];
  if (bad.length > 0) {
    const shown = bad
      .slice(0, 5)
      .map((c) => (c === " " ? "a space" : JSON.stringify(c)))
      .join(", ");
    return `${what} "${printable(value)}" may contain only lowercase letters, digits and "-" (found ${shown}).`;
  }
  return `${what} "${value}" must start and end with a letter or a digit.`;
}

export function isLabel(value: string): value is Label {
  return LABEL.test(value) && value.length <= LABEL_MAX;
}

/** Asserts a label; for values already validated upstream (defence in depth in path builders). */
export function asLabel(value: string, what = "name"): Label {
  const problem = labelProblem(what, value);
  if (problem) throw new Error(problem);
  return value as Label;
}

/** Quotes control characters so a hostile value cannot forge lines in a message. */
export function printable(value: string): string {
  const clipped = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  let out = "";
  for (const c of clipped) {
    const code = c.codePointAt(0) ?? 0;
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
    out += control ? `\\u${code.toString(16).padStart(4, "0")}` : c;
  }
  return out;
}
