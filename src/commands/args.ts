// `key=value` arguments of slash commands. Unknown keys, repeated keys and stray words are
// errors, not silently ignored: a typo must never create the wrong volume.

import { printable } from "../core/names.ts";

export interface ParsedArgs {
  /** First bare word, e.g. `create`; empty when none. */
  subcommand: string;
  /** Remaining bare words (e.g. the request id of `/dr cancel <id>`). */
  words: string[];
  values: Record<string, string>;
  errors: string[];
}

/**
 * Splits `create bu=sales app=shipping` into its parts. `aliases` maps every accepted key to its
 * canonical name. Values may be quoted ("a b"); Slack's smart quotes are understood too.
 */
export function parseArgs(
  text: string,
  aliases: Record<string, string>,
  options: { maxWords?: number } = {},
): ParsedArgs {
  const tokens = tokenize(text.replace(/[\u201c\u201d]/g, '"').replace(/[\u2018\u2019]/g, "'"));
  const result: ParsedArgs = { subcommand: "", words: [], values: {}, errors: [] };
  const seen = new Map<string, string>();
  for (const token of tokens) {
    const eq = token.indexOf("=");
    if (eq < 0) {
      if (!result.subcommand && Object.keys(result.values).length === 0)
        result.subcommand = token.toLowerCase();
      else result.words.push(token);
      continue;
    }
    const rawKey = token.slice(0, eq).trim().toLowerCase().replaceAll("-", "_");
    const value = token.slice(eq + 1);
    const key = aliases[rawKey];
    if (!key) {
      const known = [...new Set(Object.keys(aliases))].join(", ");
      result.errors.push(`unknown key "${printable(token.slice(0, eq))}"; known keys: ${known}.`);
      continue;
    }
    const previous = seen.get(key);
    if (previous !== undefined) {
      result.errors.push(
        `${key} is given twice ("${printable(previous)}" and "${printable(value)}"); give it once.`,
      );
      continue;
    }
    seen.set(key, value);
    result.values[key] = value;
  }
  const max = options.maxWords ?? 0;
  if (result.words.length > max) {
    result.errors.push(
      `unexpected word${result.words.length - max === 1 ? "" : "s"} ${result.words
        .slice(max)
        .map((w) => `"${printable(w)}"`)
        .join(", ")}; arguments are key=value pairs, like bu=sales.`,
    );
  }
  return result;
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = "";
  let quote: string | undefined;
  let started = false;
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = undefined;
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      started = true;
    } else if (/\s/.test(c)) {
      if (started) tokens.push(current);
      current = "";
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (started) tokens.push(current);
  return tokens;
}

/** The keys of `/volume create`, long and short, mapped to the request's field names. */
export const VOLUME_KEYS: Record<string, string> = {
  bu: "business_unit",
  business_unit: "business_unit",
  app: "application",
  application: "application",
  ns: "namespace",
  namespace: "namespace",
  pvc: "pvc_name",
  pvc_name: "pvc_name",
  size: "pvc_size",
  pvc_size: "pvc_size",
};
