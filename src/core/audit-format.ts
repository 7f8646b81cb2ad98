// How audit entries read: one line each, for a terminal (`drbot audit`) or for Slack
// (`/dr audit <request-id>`). Everything in an entry is treated as outside text: a terminal line
// cannot carry control sequences, and a Slack line escapes every value.

import type { AuditEntry } from "./audit.ts";
import { code, escapeMrkdwn, mention } from "./mrkdwn.ts";

export type AuditStyle = "slack" | "text";

/** Most entries one Slack message shows; the CLI prints them all. */
export const SLACK_TRAIL_MAX = 50;

/** One entry as one line. */
export function formatAuditEntry(entry: AuditEntry, style: AuditStyle): string {
  return style === "slack" ? slackLine(entry) : textLine(entry);
}

/** A trail, oldest first, one line per entry; in Slack style the newest `SLACK_TRAIL_MAX` only. */
export function formatAuditTrail(entries: readonly AuditEntry[], style: AuditStyle): string {
  if (entries.length === 0) return style === "slack" ? "_No audit entries._" : "no audit entries";
  if (style === "text") return entries.map(textLine).join("\n");
  const shown = entries.slice(-SLACK_TRAIL_MAX);
  const left = entries.length - shown.length;
  const request = entries[0]?.request;
  const note =
    left > 0
      ? [
          `_${left} earlier entr${left === 1 ? "y" : "ies"} not shown: \`drbot audit${
            request ? ` --request ${escapeMrkdwn(request, 100).replaceAll("`", "ˋ")}` : ""
          }\` prints them all._`,
        ]
      : [];
  return [...note, ...shown.map(slackLine)].join("\n");
}

/** `2026-11-21T10:00:00.000Z  approval.approved  dr-1234abcd  U0APR1  abc123  action=failover` */
function textLine(entry: AuditEntry): string {
  return [
    new Date(entry.at).toISOString(),
    plain(entry.event || "-"),
    plain(entry.request ?? "-"),
    plain(entry.user ?? "-"),
    plain(entry.digest ?? "-"),
    Object.entries(entry.fields)
      .map(([k, v]) => `${plain(k)}=${plain(v)}`)
      .join(" "),
  ]
    .join("  ")
    .trimEnd();
}

function slackLine(entry: AuditEntry): string {
  const when = `${new Date(entry.at).toISOString().slice(0, 19).replace("T", " ")} UTC`;
  const parts = [`• ${when}`, `*${escapeMrkdwn(entry.event || "?", 80)}*`];
  if (entry.user) parts.push(`by ${mention(entry.user).text}`);
  if (entry.request) parts.push(`request ${code(entry.request, 100).text}`);
  if (entry.digest) parts.push(`digest ${code(entry.digest, 80).text}`);
  const details = Object.entries(entry.fields).map(([k, v]) => `${escapeMrkdwn(k, 40)}: ${escapeMrkdwn(v)}`);
  if (details.length > 0) parts.push(details.join(", "));
  return parts.join(" · ");
}

// Values that are safe to print bare; anything else is quoted as JSON, which escapes control
// characters (a stored value cannot move the cursor or clear the screen of whoever reads it).
const BARE = /^[\w.:@/+,-]+$/;
// JSON leaves DEL, the C1 controls (U+009B starts an escape sequence too) and U+2028/9 bare.
const JSON_UNESCAPED = /[\u007f-\u009f\u2028\u2029]/g;

function plain(value: string): string {
  if (BARE.test(value)) return value;
  return JSON.stringify(value).replace(
    JSON_UNESCAPED,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
