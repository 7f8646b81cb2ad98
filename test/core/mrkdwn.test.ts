// Outside text in Slack mrkdwn: it shows as typed, cannot mention anyone, link anywhere or start a
// line of its own, and is cut to a length a message can hold.

import { describe, expect, it } from "vitest";
import {
  channelMention,
  code,
  escapeMrkdwn,
  groupMention,
  joinMd,
  link,
  Mrkdwn,
  md,
  mention,
  VALUE_MAX,
} from "../../src/core/mrkdwn.ts";

describe("escapeMrkdwn", () => {
  it("escapes Slack's control characters so no mention or link can be forged", () => {
    expect(escapeMrkdwn("<!channel> <https://evil.example|click> a & b")).toBe(
      "&lt;!channel&gt; &lt;https://evil.example|click&gt; a &amp; b",
    );
    // `&` first: an entity typed by someone stays as typed, not turned into a `<`.
    expect(escapeMrkdwn("&lt;!here&gt;")).toBe("&amp;lt;!here&amp;gt;");
  });

  it("flattens every kind of line break to one space and drops other control characters", () => {
    expect(escapeMrkdwn("a\r\nb\nc\rd\u2028e\u2029f\u0085g")).toBe("a b c d e f g");
    expect(escapeMrkdwn("tab\there\u0000nul\u001bESC\u007fDEL")).toBe("tabherenulESCDEL");
    expect(escapeMrkdwn("done\n*Next:* approve")).toBe("done *Next:* approve");
  });

  it("shows missing values as nothing and other values as their string", () => {
    expect(escapeMrkdwn(undefined)).toBe("");
    expect(escapeMrkdwn(null)).toBe("");
    expect(escapeMrkdwn(42)).toBe("42");
    expect(escapeMrkdwn(false)).toBe("false");
  });

  it("keeps trusted mrkdwn as it is", () => {
    expect(escapeMrkdwn(new Mrkdwn("<@U123> *bold*"))).toBe("<@U123> *bold*");
  });

  it("cuts to the maximum with an ellipsis, counting the ellipsis, and never cuts an entity", () => {
    const exact = "x".repeat(VALUE_MAX);
    expect(escapeMrkdwn(exact)).toBe(exact);
    const long = `${"x".repeat(VALUE_MAX)}y`;
    expect(escapeMrkdwn(long)).toBe(`${"x".repeat(VALUE_MAX - 1)}…`);
    expect(escapeMrkdwn(long)).toHaveLength(VALUE_MAX);
    expect(escapeMrkdwn("abcdef", 4)).toBe("abc…");
    expect(escapeMrkdwn("abcdef", 1)).toBe("…");
    expect(escapeMrkdwn("abcdef", 0)).toBe("…");
    // Cut before escaping: a `<` at the cut becomes a whole `&lt;`.
    expect(escapeMrkdwn("ab<<<", 4)).toBe("ab&lt;…");
    // Line breaks are flattened before counting.
    expect(escapeMrkdwn("ab\r\ncd", 5)).toBe("ab cd");
  });
});

describe("md and joinMd", () => {
  it("keeps drbot's wording and escapes every value, unless it is already mrkdwn", () => {
    const m = md`*${"<!channel>"}* by ${mention("U0ABC")} at ${3}`;
    expect(m).toBeInstanceOf(Mrkdwn);
    expect(m.text).toBe("*&lt;!channel&gt;* by <@U0ABC> at 3");
    expect(String(m)).toBe(m.text);
    expect(md`plain`.text).toBe("plain");
    expect(md`${"a"}${"b"}`.text).toBe("ab");
    expect(md`${"x".repeat(VALUE_MAX + 10)}`.text).toHaveLength(VALUE_MAX);
  });

  it("joins escaped pieces with a comma or the separator given", () => {
    expect(joinMd(["a<b", new Mrkdwn("*c*"), 1]).text).toBe("a&lt;b, *c*, 1");
    expect(joinMd(["a", "b"], " | ").text).toBe("a | b");
    expect(joinMd([]).text).toBe("");
  });
});

describe("mentions", () => {
  it("mentions a Slack user id and shows anything else as text", () => {
    expect(mention("U0ABC12").text).toBe("<@U0ABC12>");
    expect(mention("W0ABC12").text).toBe("<@W0ABC12>");
    expect(mention("U12").text).toBe("<@U12>");
    expect(mention("U1").text).toBe("U1");
    expect(mention("u0abc12").text).toBe("u0abc12");
    expect(mention("cli:alice").text).toBe("cli:alice");
    expect(mention("U123><!channel").text).toBe("U123&gt;&lt;!channel");
    expect(mention("xU123").text).toBe("xU123");
    expect(mention("x".repeat(100)).text).toBe(`${"x".repeat(79)}…`);
  });

  it("mentions a channel id and shows anything else as text", () => {
    expect(channelMention("C0LIVE").text).toBe("<#C0LIVE>");
    expect(channelMention("G0PRIV").text).toBe("<#G0PRIV>");
    expect(channelMention("D0DM01").text).toBe("<#D0DM01>");
    expect(channelMention("C0").text).toBe("C0");
    expect(channelMention("U0ABC").text).toBe("U0ABC");
    expect(channelMention("#general").text).toBe("#general");
    expect(channelMention("C0>|x").text).toBe("C0&gt;|x");
    expect(channelMention("aC0LIVE").text).toBe("aC0LIVE");
    expect(channelMention("C0LIVE!").text).toBe("C0LIVE!");
    expect(channelMention("y".repeat(100)).text).toBe(`${"y".repeat(79)}…`);
  });

  it("mentions a user group id and shows anything else as text", () => {
    expect(groupMention("S0DR").text).toBe("<!subteam^S0DR>");
    expect(groupMention("S0").text).toBe("S0");
    expect(groupMention("s0dr").text).toBe("s0dr");
    expect(groupMention("<!here>").text).toBe("&lt;!here&gt;");
    expect(groupMention("xS0DR").text).toBe("xS0DR");
    expect(groupMention("S0DR!").text).toBe("S0DR!");
    expect(groupMention("z".repeat(100)).text).toBe(`${"z".repeat(79)}…`);
  });
});

describe("link", () => {
  it("links http and https URLs with an escaped label", () => {
    expect(link("https://github.com/o/r/commit/abc", "abc <1>").text).toBe(
      "<https://github.com/o/r/commit/abc|abc &lt;1&gt;>",
    );
    expect(link("http://x.example/a", "a").text).toBe("<http://x.example/a|a>");
  });

  it("keeps a `|` in the label from ending it", () => {
    expect(link("https://x.example", "a|b").text).toBe("<https://x.example|a¦b>");
  });

  it("cuts the label to 120 characters", () => {
    expect(link("https://x.example", "l".repeat(200)).text).toBe(`<https://x.example|${"l".repeat(119)}…>`);
  });

  it("shows only the label for anything that is not a plain http(s) URL", () => {
    for (const url of [
      "javascript:alert(1)",
      "ftp://x.example/a",
      "mailto:a@b.example",
      "xhttps://x.example",
      "https://",
      "https://x.example/a b",
      "https://x.example/<!channel>",
      "https://x.example|forged",
      "https://x.example\n",
      "https://x.example/a\tb",
    ])
      expect(link(url, "label <x>").text).toBe("label &lt;x&gt;");
    expect(link("javascript:alert(1)", "l".repeat(400)).text).toHaveLength(VALUE_MAX);
  });
});

describe("code", () => {
  it("puts an escaped value in a code span that a backtick cannot end", () => {
    expect(code("a`b<c>").text).toBe("`aˋb&lt;c&gt;`");
    expect(code(7).text).toBe("`7`");
  });

  it("shows an empty value as a space, so the span still renders", () => {
    expect(code("").text).toBe("` `");
    expect(code(undefined).text).toBe("` `");
  });

  it("cuts the value to the maximum", () => {
    expect(code("x".repeat(VALUE_MAX + 5)).text).toBe(`\`${"x".repeat(VALUE_MAX - 1)}…\``);
    expect(code("abcdef", 3).text).toBe("`ab…`");
  });
});
