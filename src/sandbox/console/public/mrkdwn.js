// Slack's mrkdwn, shown as Slack shows it: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes,
// <@U…> as the person's name, <#C…>, <!subteam^S…>, <!here>, <!date^…>, <url|label> links,
// :emoji:, and &lt; &gt; &amp; turned back into < > & — always as text nodes, never as HTML.

import { h } from "./dom.js";

/**
 * @typedef {object} NameContext
 * @property {(id: string) => string | undefined} user
 * @property {(id: string) => string | undefined} channel
 */

/** The shortcodes drbot and common messages use; others stay as typed, as in Slack without them. */
const EMOJI = {
  white_check_mark: "✅",
  heavy_check_mark: "✔️",
  x: "❌",
  warning: "⚠️",
  hourglass: "⌛",
  hourglass_flowing_sand: "⏳",
  white_circle: "⚪",
  large_green_circle: "🟢",
  large_blue_circle: "🔵",
  large_yellow_circle: "🟡",
  red_circle: "🔴",
  fast_forward: "⏩",
  no_entry: "⛔",
  no_entry_sign: "🚫",
  alarm_clock: "⏰",
  heavy_multiplication_x: "✖️",
  rotating_light: "🚨",
  lock: "🔒",
  unlock: "🔓",
  tada: "🎉",
  information_source: "ℹ️",
  arrow_right: "➡️",
  construction: "🚧",
  eyes: "👀",
  "+1": "👍",
  thumbsup: "👍",
  "-1": "👎",
  bulb: "💡",
  memo: "📝",
  package: "📦",
  file_folder: "📁",
  wastebasket: "🗑️",
  recycle: "♻️",
  stopwatch: "⏱️",
  zap: "⚡",
  fire: "🔥",
  gear: "⚙️",
  link: "🔗",
  bell: "🔔",
  question: "❓",
  exclamation: "❗",
  arrows_counterclockwise: "🔄",
  repeat: "🔁",
  mag: "🔍",
  key: "🔑",
  pushpin: "📌",
  robot_face: "🤖",
  rocket: "🚀",
  sparkles: "✨",
  checkered_flag: "🏁",
  shield: "🛡️",
  cloud: "☁️",
  wrench: "🔧",
};

const ENTITIES = { lt: "<", gt: ">", amp: "&" };

/** Slack's three entities undone, in one pass so `&amp;lt;` shows as `&lt;`. @param {string} text */
export function unescapeEntities(text) {
  return text.replace(/&(lt|gt|amp);/g, (_, name) => ENTITIES[/** @type {"lt"|"gt"|"amp"} */ (name)]);
}

/** @param {string} text */
export function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] ?? whole);
}

/**
 * @param {string} text mrkdwn
 * @param {NameContext} ctx
 * @returns {DocumentFragment}
 */
export function renderMrkdwn(text, ctx) {
  const fragment = document.createDocumentFragment();
  // ```pre``` first: nothing inside is formatted.
  const parts = String(text).split(/```([\s\S]*?)```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      fragment.appendChild(h("pre", { class: "mrkdwn-pre" }, unescapeEntities(part.replace(/^\n/, ""))));
      return;
    }
    renderLines(part, ctx, fragment);
  });
  return fragment;
}

/** @param {string} text @param {NameContext} ctx @param {Node} into */
function renderLines(text, ctx, into) {
  const lines = text.split("\n");
  let quote = /** @type {HTMLElement | null} */ (null);
  lines.forEach((line, i) => {
    const last = i === lines.length - 1;
    // A raw ">" starts a quote; an escaped one (&gt;) is just the character.
    const quoted = /^>\s?(.*)$/.exec(line);
    if (quoted) {
      if (!quote) {
        quote = h("blockquote", { class: "mrkdwn-quote" });
        into.appendChild(quote);
      } else quote.appendChild(document.createTextNode("\n"));
      for (const node of inline(quoted[1] ?? "", ctx)) quote.appendChild(node);
      return;
    }
    quote = null;
    for (const node of inline(line, ctx)) into.appendChild(node);
    if (!last) into.appendChild(document.createTextNode("\n"));
  });
}

const STYLE_TAG = { "*": "b", _: "i", "~": "s" };

/**
 * @param {string} text one line
 * @param {NameContext} ctx
 * @returns {Node[]}
 */
function inline(text, ctx) {
  /** @type {Node[]} */
  const out = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push(document.createTextNode(unescapeEntities(plain)));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "`") {
      const end = text.indexOf("`", i + 1);
      if (end > i + 1) {
        flush();
        out.push(h("code", {}, unescapeEntities(text.slice(i + 1, end))));
        i = end + 1;
        continue;
      }
    }
    if (c === "<") {
      const end = text.indexOf(">", i + 1);
      if (end > i + 1) {
        flush();
        out.push(angle(text.slice(i + 1, end), ctx));
        i = end + 1;
        continue;
      }
    }
    if (c === ":") {
      const m = /^:([a-z0-9_+-]+):/.exec(text.slice(i));
      const glyph = m ? EMOJI[/** @type {keyof typeof EMOJI} */ (m[1])] : undefined;
      if (m && glyph) {
        flush();
        out.push(h("span", { class: "emoji", title: m[0] }, glyph));
        i += m[0].length;
        continue;
      }
    }
    if ((c === "*" || c === "_" || c === "~") && opens(text, i)) {
      const end = closing(text, i);
      if (end > 0) {
        flush();
        out.push(h(STYLE_TAG[c], {}, ...inline(text.slice(i + 1, end), ctx)));
        i = end + 1;
        continue;
      }
    }
    plain += c;
    i++;
  }
  flush();
  return out;
}

/** A style marker opens after the start, a space or punctuation, before a non-space. */
function opens(/** @type {string} */ text, /** @type {number} */ i) {
  const before = i === 0 ? " " : text[i - 1];
  const after = text[i + 1];
  return !/[A-Za-z0-9]/.test(before ?? " ") && after !== undefined && !/\s/.test(after) && after !== text[i];
}

/** Where the marker at `i` closes: the same character after a non-space, before a non-word character. */
function closing(/** @type {string} */ text, /** @type {number} */ i) {
  const marker = text[i];
  for (let j = i + 2; j < text.length; j++) {
    if (text[j] !== marker) continue;
    const before = text[j - 1] ?? " ";
    const after = text[j + 1];
    if (!/\s/.test(before) && (after === undefined || !/[A-Za-z0-9]/.test(after))) return j;
  }
  return -1;
}

/**
 * `<…>`: mentions, special mentions, dates and links.
 * @param {string} content
 * @param {NameContext} ctx
 * @returns {Node}
 */
function angle(content, ctx) {
  const bar = content.indexOf("|");
  const target = bar >= 0 ? content.slice(0, bar) : content;
  const label = bar >= 0 ? unescapeEntities(content.slice(bar + 1)) : "";
  if (/^@[UW][A-Z0-9]+$/.test(target)) {
    const id = target.slice(1);
    return h("span", { class: "mention", title: id }, `@${ctx.user(id) ?? (label || id)}`);
  }
  if (/^#[CGD][A-Z0-9]+$/.test(target)) {
    const id = target.slice(1);
    return h("span", { class: "mention", title: id }, `#${ctx.channel(id) ?? (label || id)}`);
  }
  if (target.startsWith("!subteam^")) {
    const id = target.slice("!subteam^".length);
    return h("span", { class: "mention", title: id }, label ? `@${label.replace(/^@/, "")}` : `@${id}`);
  }
  if (target === "!here" || target === "!channel" || target === "!everyone")
    return h("span", { class: "mention" }, `@${target.slice(1)}`);
  if (target.startsWith("!date^")) return h("time", {}, slackDate(target, label));
  if (/^(https?:\/\/|mailto:)/i.test(target)) {
    const href = unescapeEntities(target);
    return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, label || href);
  }
  // Anything else is not a link Slack would make: shown as its text.
  return document.createTextNode(label || unescapeEntities(target));
}

/**
 * `<!date^1392734382^{date_short_pretty} at {time}|fallback>`, in the viewer's time zone.
 * @param {string} target @param {string} fallback
 */
function slackDate(target, fallback) {
  const [, seconds, format] = target.split("^");
  const when = new Date(Number(seconds) * 1000);
  if (!format || Number.isNaN(when.getTime())) return fallback || target;
  const day = (/** @type {Intl.DateTimeFormatOptions} */ o) => when.toLocaleDateString(undefined, o);
  const pretty = (/** @type {string} */ otherwise) => {
    const today = new Date();
    const d = Math.round(
      (new Date(when).setHours(0, 0, 0, 0) - new Date(today).setHours(0, 0, 0, 0)) / 86_400_000,
    );
    return d === 0 ? "Today" : d === -1 ? "Yesterday" : d === 1 ? "Tomorrow" : otherwise;
  };
  const tokens = {
    date_num: when.toISOString().slice(0, 10),
    date: day({ year: "numeric", month: "long", day: "numeric" }),
    date_short: day({ year: "numeric", month: "short", day: "numeric" }),
    date_long: day({ weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    date_pretty: pretty(day({ year: "numeric", month: "long", day: "numeric" })),
    date_short_pretty: pretty(day({ year: "numeric", month: "short", day: "numeric" })),
    date_long_pretty: pretty(day({ weekday: "long", year: "numeric", month: "long", day: "numeric" })),
    time: when.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }),
    time_secs: when.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" }),
  };
  return format.replace(
    /\{(\w+)\}/g,
    (whole, name) => tokens[/** @type {keyof typeof tokens} */ (name)] ?? whole,
  );
}
