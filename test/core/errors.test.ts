// Coded errors: the kind decides retrying, and the message a human reads in Slack keeps drbot's
// wording while anything from outside shows as typed.

import { describe, expect, it } from "vitest";
import { DrbotError, errorMarkdown, errorMessage, isTransient } from "../../src/core/errors.ts";
import { Mrkdwn, md } from "../../src/core/mrkdwn.ts";

describe("DrbotError", () => {
  it("carries its kind, code, hint, retry delay and cause", () => {
    const cause = new Error("socket hang up");
    const err = new DrbotError("transient", "slack.ratelimited", "Slack is busy", {
      hint: "It will catch up.",
      cause,
      retryAfterMs: 1500,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("DrbotError");
    expect(err.kind).toBe("transient");
    expect(err.code).toBe("slack.ratelimited");
    expect(err.message).toBe("Slack is busy");
    expect(err.hint).toBe("It will catch up.");
    expect(err.retryAfterMs).toBe(1500);
    expect(err.cause).toBe(cause);
    expect(err.markdown).toBeUndefined();
  });

  it("has no cause, hint or delay unless given, and keeps a cause that is falsy", () => {
    const err = new DrbotError("invalid", "dr.no_plan", "No plan");
    expect("cause" in err).toBe(false);
    expect(err.hint).toBeUndefined();
    expect(err.retryAfterMs).toBeUndefined();
    expect(new DrbotError("internal", "dr.no_plan", "x", { cause: 0 }).cause).toBe(0);
  });

  it("keeps a message built with md as trusted mrkdwn, its text as the message", () => {
    const m = md`Volume ${"<x>"} is locked by ${new Mrkdwn("<@U0ABC>")}`;
    const err = new DrbotError("conflict", "dr.locked", m);
    expect(err.markdown).toBe(m);
    expect(err.message).toBe("Volume &lt;x&gt; is locked by <@U0ABC>");
  });
});

describe("isTransient", () => {
  it("follows the kind of a DrbotError", () => {
    expect(isTransient(new DrbotError("transient", "slack.http_503", "busy"))).toBe(true);
    for (const kind of ["invalid", "forbidden", "not_found", "conflict", "internal"] as const)
      expect(isTransient(new DrbotError(kind, "slack.x", "Connection is closed."))).toBe(false);
  });

  it("is false for anything that is not an Error", () => {
    expect(isTransient("Connection is closed.")).toBe(false);
    expect(isTransient({ message: "Connection is closed.", code: "ECONNRESET" })).toBe(false);
    expect(isTransient(undefined)).toBe(false);
    expect(isTransient(null)).toBe(false);
  });

  it("retries a connection that failed, a cut-off Redis command and a Redis failover", () => {
    const named = (name: string, message: string) => Object.assign(new Error(message), { name });
    for (const err of [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6379"), { code: "ECONNREFUSED" }),
      new Error("Connection is closed."),
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      named("MaxRetriesPerRequestError", "Reached the max retries per request limit (which is 20)."),
      new Error("Reached the max retries per request limit (which is 20). Refer to maxRetriesPerRequest"),
      new Error("LOADING Redis is loading the dataset in memory"),
      new Error("Command aborted due to connection close"),
      named("ReplyError", "READONLY You can't write against a read only replica."),
      named("ReplyError", "NOREPLICAS Not enough good replicas to write."),
      named("ReplyError", "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
      named("ReplyError", "CLUSTERDOWN The cluster is down"),
      named("ReplyError", "TRYAGAIN Multiple keys request during rehashing of slot"),
    ])
      expect(isTransient(err), err.message).toBe(true);
  });

  it("does not retry other errors, nor a Redis reply that only mentions a failover word", () => {
    for (const err of [
      new Error("ERR wrong number of arguments"),
      new Error("boom"),
      new Error("the volume is READONLY now"),
      Object.assign(new Error("WRONGTYPE Operation against a key holding the wrong kind of value"), {
        name: "ReplyError",
      }),
      Object.assign(new Error("READONLYX weird"), { name: "ReplyError" }),
      Object.assign(new Error("x READONLY y"), { name: "ReplyError" }),
    ])
      expect(isTransient(err), err.message).toBe(false);
  });
});

describe("errorMarkdown", () => {
  it("keeps the mrkdwn of a DrbotError built with md, with its hint", () => {
    const err = new DrbotError("conflict", "dr.locked", md`Locked by ${new Mrkdwn("<@U0ABC>")}`, {
      hint: "Wait for *their* job to end.",
    });
    expect(errorMarkdown(err).text).toBe("Locked by <@U0ABC> Wait for *their* job to end.");
  });

  it("escapes a plain DrbotError message, cut to 1000 characters, and adds no hint it lacks", () => {
    expect(errorMarkdown(new DrbotError("invalid", "dr.no_plan", "bad <!channel> & co")).text).toBe(
      "bad &lt;!channel&gt; &amp; co",
    );
    const long = new DrbotError("invalid", "dr.no_plan", "x".repeat(1500), { hint: "Fix it." });
    expect(errorMarkdown(long).text).toBe(`${"x".repeat(999)}… Fix it.`);
  });

  it("keeps mrkdwn another error carries, and escapes the message of anything else", () => {
    const own = new Mrkdwn("*Denied* for <@U0ABC>");
    expect(errorMarkdown(Object.assign(new Error("plain"), { markdown: own }))).toBe(own);
    expect(errorMarkdown(Object.assign(new Error("x <y>"), { markdown: "<!channel>" })).text).toBe(
      "x &lt;y&gt;",
    );
    expect(errorMarkdown(new Error("HTTP 500 <html>\nbody")).text).toBe("HTTP 500 &lt;html&gt; body");
    expect(errorMarkdown(new Error("y".repeat(1200))).text).toHaveLength(1000);
    expect(errorMarkdown("<!here> string").text).toBe("&lt;!here&gt; string");
    expect(errorMarkdown(null).text).toBe("null");
    expect(errorMarkdown(undefined).text).toBe("undefined");
  });
});

describe("errorMessage", () => {
  it("is the message with the hint of a DrbotError, the message of an Error, or the value", () => {
    expect(errorMessage(new DrbotError("invalid", "dr.no_plan", "No plan.", { hint: "Run plan." }))).toBe(
      "No plan. Run plan.",
    );
    expect(errorMessage(new DrbotError("invalid", "dr.no_plan", "No plan."))).toBe("No plan.");
    expect(errorMessage(new Error("boom"))).toBe("boom");
    expect(errorMessage(42)).toBe("42");
    expect(errorMessage(undefined)).toBe("undefined");
  });
});
