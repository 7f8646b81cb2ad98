// Slack mrkdwn without injection. Every piece of text that did not come from drbot's own wording
// (input echoed back, names, paths, error messages of Kubernetes, EFS or GitHub, manifest values)
// goes through `escapeMrkdwn` before it reaches a message: `<!channel>` or `<https://x|y>` then
// shows as typed, and a value cannot start a line of its own to forge a card's wording.

/** Text known to be safe mrkdwn: drbot's own wording, with every value escaped. */
export class Mrkdwn {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

/** Longest piece of outside text shown in one place. */
export const VALUE_MAX = 300;

const LINE_BREAKS = /\r\n|[\n\r\u2028\u2029\u0085]/g;
// Other control characters would render as nothing or garble the line.
const CONTROL = /\p{Cc}/gu;

/**
 * Outside text made safe for mrkdwn: `&`, `<`, `>` escaped (Slack's own escaping), line breaks
 * flattened to spaces, control characters dropped, cut to `max` characters with `…`.
 */
export function escapeMrkdwn(value: unknown, max = VALUE_MAX): string {
  if (value instanceof Mrkdwn) return value.text;
  let text = String(value ?? "")
    .replace(LINE_BREAKS, " ")
    .replace(CONTROL, "");
  if (text.length > max) text = `${text.slice(0, Math.max(0, max - 1))}…`;
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/**
 * Builds trusted mrkdwn: the literal parts are drbot's wording; every interpolated value is
 * escaped unless it is already `Mrkdwn` (a mention, a link, another `md` result).
 */
export function md(strings: TemplateStringsArray, ...values: unknown[]): Mrkdwn {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    out += escapeMrkdwn(v) + (strings[i + 1] ?? "");
  });
  return new Mrkdwn(out);
}

/** Joins pieces (escaping plain strings) with a separator. */
export function joinMd(parts: readonly unknown[], separator = ", "): Mrkdwn {
  return new Mrkdwn(parts.map((p) => escapeMrkdwn(p)).join(separator));
}

const USER_ID = /^[UW][A-Z0-9]{2,}$/;
const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;
const GROUP_ID = /^S[A-Z0-9]{2,}$/;

/** `<@U123>` for a Slack user id; anything else (a `cli:` actor, a hostile value) is escaped text. */
export function mention(userId: string): Mrkdwn {
  return USER_ID.test(userId) ? new Mrkdwn(`<@${userId}>`) : new Mrkdwn(escapeMrkdwn(userId, 80));
}

export function channelMention(channelId: string): Mrkdwn {
  return CHANNEL_ID.test(channelId) ? new Mrkdwn(`<#${channelId}>`) : new Mrkdwn(escapeMrkdwn(channelId, 80));
}

export function groupMention(groupId: string): Mrkdwn {
  return GROUP_ID.test(groupId) ? new Mrkdwn(`<!subteam^${groupId}>`) : new Mrkdwn(escapeMrkdwn(groupId, 80));
}

/** A link drbot made (a commit URL): http(s) only, and the label escaped. */
export function link(url: string, label: unknown): Mrkdwn {
  if (!/^https?:\/\/[^\s<>|]+$/.test(url)) return new Mrkdwn(escapeMrkdwn(label));
  return new Mrkdwn(`<${url}|${escapeMrkdwn(label, 120).replaceAll("|", "¦")}>`);
}

/** Inline code for a value: backticks inside would end the span, so they are replaced. */
export function code(value: unknown, max = VALUE_MAX): Mrkdwn {
  return new Mrkdwn(`\`${escapeMrkdwn(value, max).replaceAll("`", "ˋ") || " "}\``);
}
