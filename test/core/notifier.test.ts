// The notifier against the Slack fake through the real adapter: coalescing, catching up after a
// rate limit, and a card Slack refuses for good not holding up the others.

import { setTimeout as delay } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSlackChat, slackRetry } from "../../src/adapters/slack.ts";
import { DrbotError, type ErrorCode } from "../../src/core/errors.ts";
import { createLogger } from "../../src/core/logger.ts";
import { Notifier } from "../../src/core/notifier.ts";
import type { Blocks, ChatPort, MessageRef } from "../../src/core/ports/chat.ts";
import { type FakeSlack, startFakeSlack } from "../../src/sandbox/stand-ins/slack.ts";

const quiet = createLogger({ level: "error", destination: { write: () => {} } as never });

describe("notifier", () => {
  let slack: FakeSlack;
  let notifier: Notifier;
  beforeEach(async () => {
    slack = await startFakeSlack({ botToken: "xoxb-n", signingSecret: "s", channels: [{ id: "C0LIVE" }] });
    const chat = createSlackChat({
      token: "xoxb-n",
      apiUrl: slack.apiUrl,
      retryConfig: slackRetry.none,
      failFastOnRateLimit: true,
    });
    notifier = new Notifier(chat, quiet, { minIntervalMs: 100, retryDelayMs: 100 });
  });
  afterEach(async () => {
    notifier.close();
    await slack.close();
  });

  it("coalesces many changes of one card into few updates, the last one winning", async () => {
    notifier.card("job", { channel: "C0LIVE", ts: undefined }, "v0");
    expect(await notifier.settle("job", 2_000)).toBe(true);
    for (let i = 1; i <= 50; i++) notifier.card("job", { channel: "C0LIVE", ts: undefined }, `v${i}`);
    await notifier.settle("job", 2_000);
    expect(slack.callCount("chat.update")).toBeLessThanOrEqual(2);
    expect(slack.messages("C0LIVE")[0]?.text).toBe("v50");
  });

  it("catches up after a rate limit, replies in order", async () => {
    slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1, forMs: 800 });
    notifier.card("job", { channel: "C0LIVE", ts: undefined }, "card");
    notifier.reply("job", "one");
    notifier.reply("job", "two");
    expect(await notifier.settle("job", 5_000)).toBe(true);
    const [card] = slack.messages("C0LIVE").filter((m) => !m.threadTs);
    expect(card?.text).toBe("card");
    expect(slack.replies("C0LIVE", card?.ts as string).map((m) => m.text)).toEqual(["one", "two"]);
  });

  it("drops a card Slack refuses for good, and keeps delivering the others", async () => {
    notifier.card("dead", { channel: "C0GONE", ts: undefined }, "lost");
    notifier.card("live", { channel: "C0LIVE", ts: undefined }, "delivered");
    expect(await notifier.settle("live", 2_000)).toBe(true);
    expect(await notifier.settle("dead", 100)).toBe(true);
    expect(notifier.pending()).toBe(false);
    expect(slack.messages("C0LIVE").map((m) => m.text)).toEqual(["delivered"]);
  });
});

// The same notifier against a scripted chat: every call recorded with its time, and the errors
// Slack's adapter raises (a rate limit, a passing failure, a refusal) thrown on cue.

interface ChatCall {
  op: "post" | "update";
  channel: string;
  text: string;
  ts?: string;
  threadTs?: string;
  at: number;
}

class ScriptedChat implements ChatPort {
  readonly calls: ChatCall[] = [];
  /** Errors for the next calls, in order (undefined: that call succeeds). */
  readonly failures: unknown[] = [];
  /** An error every call fails with, after the scripted ones. */
  failAlways: unknown;
  private nextTs = 1;

  private fail(): void {
    const err = this.failures.length > 0 ? this.failures.shift() : this.failAlways;
    if (err) throw err;
  }
  async post(channel: string, text: string, _blocks?: Blocks, threadTs?: string): Promise<MessageRef> {
    this.calls.push({ op: "post", channel, text, at: Date.now(), ...(threadTs ? { threadTs } : {}) });
    this.fail();
    return { channel, ts: `${this.nextTs++}.000` };
  }
  async update(ref: MessageRef, text: string): Promise<void> {
    this.calls.push({ op: "update", channel: ref.channel, text, ts: ref.ts, at: Date.now() });
    this.fail();
  }
  async authTest(): Promise<{ userId: string; team: string }> {
    throw new Error("not used");
  }
  async postEphemeral(): Promise<void> {
    throw new Error("not used");
  }
  async openView(): Promise<void> {
    throw new Error("not used");
  }
  async usergroupMembers(): Promise<string[]> {
    throw new Error("not used");
  }
  ops(): string[] {
    return this.calls.map(
      (c) => `${c.op} ${c.channel}${c.ts ? `@${c.ts}` : ""}${c.threadTs ? `^${c.threadTs}` : ""} ${c.text}`,
    );
  }
}

const rateLimited = (retryAfterMs?: number, code: ErrorCode = "slack.ratelimited") =>
  new DrbotError("transient", code, "rate limited", retryAfterMs === undefined ? {} : { retryAfterMs });
const passing = () => new DrbotError("transient", "slack.http_503", "Slack is having trouble");
const refused = () => new DrbotError("not_found", "slack.channel_not_found", "channel_not_found");

/** Polls until `check` holds (every 5 ms, at most `ms`). */
async function until(check: () => boolean, ms = 1_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await delay(5);
  }
  return true;
}

describe("notifier against a scripted chat", () => {
  let chat: ScriptedChat;
  let logs: Array<{ level: number; msg: string; card?: string; retryInMs?: number; channel?: string }>;
  let log: ReturnType<typeof createLogger>;
  const notifiers: Notifier[] = [];
  const make = (options: { minIntervalMs?: number; retryDelayMs?: number }) => {
    const n = new Notifier(chat, log, options);
    notifiers.push(n);
    return n;
  };
  beforeEach(() => {
    chat = new ScriptedChat();
    logs = [];
    log = createLogger({
      level: "warn",
      destination: { write: (l: string) => logs.push(JSON.parse(l)) } as never,
    });
  });
  afterEach(() => {
    for (const n of notifiers.splice(0)) n.close();
  });

  it("posts a new card by itself, then its thread replies in order, counting every call", async () => {
    const n = make({ minIntervalMs: 10_000, retryDelayMs: 10_000 });
    const posted: MessageRef[] = [];
    expect(n.pending()).toBe(false);
    n.card("job", { channel: "C1", ts: undefined }, "card", undefined, (ref) => posted.push(ref));
    n.reply("job", "one");
    n.reply("job", "two");
    expect(n.pending()).toBe(true);
    expect(await until(() => chat.calls.length === 3)).toBe(true);
    expect(chat.ops()).toEqual(["post C1 card", "post C1^1.000 one", "post C1^1.000 two"]);
    expect(posted).toEqual([{ channel: "C1", ts: "1.000" }]);
    expect(n.calls).toBe(3);
    expect(n.pending()).toBe(false);
    // A later reply goes out by itself too, without the card being sent again.
    n.reply("job", "three");
    expect(n.pending()).toBe(true);
    expect(await until(() => chat.calls.length === 4)).toBe(true);
    expect(chat.ops()[3]).toBe("post C1^1.000 three");
    await delay(20);
    expect(chat.calls).toHaveLength(4);
    expect(n.calls).toBe(4);
  });

  it("ignores a reply to a card it does not know", async () => {
    const n = make({});
    expect(() => n.reply("nobody", "hello")).not.toThrow();
    expect(n.pending()).toBe(false);
    expect(await n.settle("nobody", 100)).toBe(true);
    expect(chat.calls).toHaveLength(0);
  });

  it("updates the message it is given instead of posting one", async () => {
    const n = make({ minIntervalMs: 10_000 });
    n.card("job", { channel: "C1", ts: "7.000" }, "now running");
    expect(await n.settle("job", 1_000)).toBe(true);
    expect(chat.ops()).toEqual(["update C1@7.000 now running"]);
  });

  it("learns where the card is from a later call before posting it", async () => {
    const n = make({ minIntervalMs: 10_000 });
    n.card("job", { channel: "C1", ts: undefined }, "first");
    n.card("job", { channel: "C1", ts: "9.000" }, "second");
    n.card("job", { channel: "C1", ts: "8.000" }, "third");
    expect(await n.settle("job", 1_000)).toBe(true);
    expect(chat.ops()).toEqual(["update C1@9.000 third"]);
  });

  it("tells the newest listener where a new card was posted, and keeps it when a later call has none", async () => {
    const n = make({ minIntervalMs: 10_000 });
    const heard: string[] = [];
    n.card("job", { channel: "C1", ts: undefined }, "a", undefined, () => heard.push("first"));
    n.card("job", { channel: "C1", ts: undefined }, "b", undefined, (ref) => heard.push(`second ${ref.ts}`));
    n.card("job", { channel: "C1", ts: undefined }, "c");
    expect(await n.settle("job", 1_000)).toBe(true);
    expect(heard).toEqual(["second 1.000"]);
    expect(chat.ops()).toEqual(["post C1 c"]);
  });

  it("sends at most one update per interval by itself, the newest state, as soon as the interval is over", async () => {
    const n = make({ minIntervalMs: 300 });
    n.card("job", { channel: "C1", ts: undefined }, "v0");
    expect(await until(() => chat.calls.length === 1)).toBe(true);
    const postedAt = chat.calls[0]?.at as number;
    await delay(100);
    await delay(100);
    for (let i = 1; i <= 20; i++) n.card("job", { channel: "C1", ts: undefined }, `v${i}`);
    await delay(40);
    expect(chat.calls).toHaveLength(1);
    expect(await until(() => chat.calls.length === 2)).toBe(true);
    expect(chat.ops()[1]).toBe("update C1@1.000 v20");
    // Due 300 ms after the post, not 300 ms after the change.
    const gap = (chat.calls[1]?.at as number) - postedAt;
    expect(gap).toBeGreaterThanOrEqual(295);
    expect(gap).toBeLessThan(420);
    await delay(30);
    expect(chat.calls).toHaveLength(2);
  });

  it("sends an update at once when asked to settle or drain, whatever the interval", async () => {
    const n = make({ minIntervalMs: 10_000 });
    n.card("job", { channel: "C1", ts: undefined }, "v0");
    expect(await n.settle("job", 1_000)).toBe(true);
    n.card("job", { channel: "C1", ts: undefined }, "v1");
    expect(await n.settle("job", 1_000)).toBe(true);
    expect(chat.ops()).toEqual(["post C1 v0", "update C1@1.000 v1"]);
    n.card("job", { channel: "C1", ts: undefined }, "v2");
    n.card("other", { channel: "C2", ts: undefined }, "w0");
    const started = Date.now();
    await n.drain(2_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(n.pending()).toBe(false);
    expect(chat.ops().slice(2).sort()).toEqual(["post C2 w0", "update C1@1.000 v2"]);
    expect(n.calls).toBe(4);
  });

  it("pauses every card for the Retry-After of a rate limit, then catches up by itself", async () => {
    const n = make({ minIntervalMs: 10_000, retryDelayMs: 10 });
    chat.failures.push(rateLimited(200));
    n.card("a", { channel: "C1", ts: undefined }, "a");
    n.card("b", { channel: "C2", ts: undefined }, "b");
    expect(await until(() => chat.calls.length === 3)).toBe(true);
    const [limited, ...rest] = chat.calls;
    expect(rest.map((c) => `${c.op} ${c.text}`)).toEqual(["post a", "post b"]);
    for (const c of rest) expect(c.at - (limited as ChatCall).at).toBeGreaterThanOrEqual(195);
    const warn = logs.find((l) => l.msg === "chat rate-limited, will catch up");
    expect(warn?.level).toBe(40);
    expect(warn?.card).toBe("a");
    expect(warn?.retryInMs).toBeGreaterThan(150);
    expect(warn?.retryInMs).toBeLessThanOrEqual(200);
  });

  it("reads a rate limit from the code alone (pausing for the retry delay) or from a Retry-After alone", async () => {
    const n = make({ minIntervalMs: 10_000, retryDelayMs: 150 });
    chat.failures.push(rateLimited(undefined));
    n.card("a", { channel: "C1", ts: undefined }, "a");
    n.card("b", { channel: "C2", ts: undefined }, "b");
    expect(await until(() => chat.calls.length === 3)).toBe(true);
    for (const c of chat.calls.slice(1))
      expect(c.at - (chat.calls[0] as ChatCall).at).toBeGreaterThanOrEqual(145);
    expect(logs.find((l) => l.msg === "chat rate-limited, will catch up")?.retryInMs).toBeGreaterThan(100);

    const other = new ScriptedChat();
    const m = new Notifier(other, log, { minIntervalMs: 10_000, retryDelayMs: 10 });
    notifiers.push(m);
    other.failures.push(rateLimited(150, "slack.http_429"));
    m.card("a", { channel: "C1", ts: undefined }, "a");
    m.card("b", { channel: "C2", ts: undefined }, "b");
    expect(await until(() => other.calls.length === 3)).toBe(true);
    for (const c of other.calls.slice(1))
      expect(c.at - (other.calls[0] as ChatCall).at).toBeGreaterThanOrEqual(145);
  });

  it("drain waits out a rate limit within its time, and gives up at its deadline", async () => {
    const n = make({ minIntervalMs: 10_000, retryDelayMs: 10 });
    chat.failures.push(rateLimited(100));
    n.card("a", { channel: "C1", ts: undefined }, "a");
    let started = Date.now();
    await n.drain(2_000);
    expect(n.pending()).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(chat.ops()).toEqual(["post C1 a", "post C1 a"]);

    chat.failures.push(rateLimited(1_000));
    n.card("b", { channel: "C2", ts: undefined }, "b");
    started = Date.now();
    await n.drain(100);
    expect(Date.now() - started).toBeLessThan(600);
    expect(n.pending()).toBe(true);
  });

  it("drain gives up at its deadline when Slack keeps failing", async () => {
    const n = make({ minIntervalMs: 10_000, retryDelayMs: 10 });
    chat.failAlways = passing();
    n.card("a", { channel: "C1", ts: undefined }, "a");
    const started = Date.now();
    await n.drain(150);
    expect(Date.now() - started).toBeLessThan(700);
    expect(n.pending()).toBe(true);
    expect(await n.settle("a", 100)).toBe(false);
  });

  it("retries only the card that failed, after the retry delay, by itself", async () => {
    const n = make({ minIntervalMs: 50, retryDelayMs: 150 });
    chat.failures.push(passing());
    n.card("a", { channel: "C1", ts: undefined }, "a");
    n.card("b", { channel: "C2", ts: undefined }, "b");
    expect(await until(() => chat.calls.length === 3)).toBe(true);
    expect(chat.ops()).toEqual(["post C1 a", "post C2 b", "post C1 a"]);
    const [first, second, retry] = chat.calls as [ChatCall, ChatCall, ChatCall];
    expect(second.at - first.at).toBeLessThan(100);
    expect(retry.at - first.at).toBeGreaterThanOrEqual(145);
    const warn = logs.find((l) => l.msg === "chat delivery failed, will catch up");
    expect(warn?.level).toBe(40);
    expect(warn?.card).toBe("a");
    expect(warn?.retryInMs).toBe(150);
  });

  it("retries a failed card as soon as its retry delay is over, not a whole interval later", async () => {
    const n = make({ minIntervalMs: 200, retryDelayMs: 250 });
    chat.failures.push(passing());
    n.card("a", { channel: "C1", ts: undefined }, "a");
    expect(await until(() => chat.calls.length === 2)).toBe(true);
    expect(chat.ops()).toEqual(["post C1 a", "post C1 a"]);
    const gap = (chat.calls[1] as ChatCall).at - (chat.calls[0] as ChatCall).at;
    expect(gap).toBeGreaterThanOrEqual(245);
    expect(gap).toBeLessThan(350);
  });

  it("settle waits for a retry after the retry delay, not before", async () => {
    const n = make({ minIntervalMs: 10_000, retryDelayMs: 150 });
    chat.failures.push(passing());
    n.card("a", { channel: "C1", ts: undefined }, "a");
    expect(await n.settle("a", 2_000)).toBe(true);
    expect(chat.calls).toHaveLength(2);
    expect((chat.calls[1] as ChatCall).at - (chat.calls[0] as ChatCall).at).toBeGreaterThanOrEqual(145);
  });

  it("drops a card Slack refuses for good: no retry, nothing pending, later changes ignored", async () => {
    const n = make({ minIntervalMs: 10, retryDelayMs: 10 });
    chat.failures.push(refused());
    n.card("dead", { channel: "C0GONE", ts: undefined }, "lost");
    n.reply("dead", "lost reply");
    expect(await n.settle("dead", 1_000)).toBe(true);
    expect(n.pending()).toBe(false);
    n.card("dead", { channel: "C0GONE", ts: undefined }, "lost again");
    n.reply("dead", "lost reply again");
    expect(n.pending()).toBe(false);
    expect(await n.settle("dead", 100)).toBe(true);
    await delay(40);
    expect(chat.ops()).toEqual(["post C0GONE lost"]);
    const error = logs.find((l) => l.msg === "chat refused this card for good; dropping it");
    expect(error?.level).toBe(50);
    expect(error?.card).toBe("dead");
    expect(error?.channel).toBe("C0GONE");
  });

  it("settle gives up at its deadline while Slack keeps failing", async () => {
    const n = make({ minIntervalMs: 10, retryDelayMs: 10 });
    chat.failAlways = passing();
    n.card("a", { channel: "C1", ts: undefined }, "a");
    const started = Date.now();
    expect(await n.settle("a", 120)).toBe(false);
    expect(Date.now() - started).toBeLessThan(600);
  });

  it("deliver returns where the message is, once Slack has it", async () => {
    const n = make({ minIntervalMs: 10_000 });
    const heard: MessageRef[] = [];
    expect(
      await n.deliver("a", { channel: "C1", ts: undefined }, "new", undefined, 1_000, (r) => heard.push(r)),
    ).toEqual({
      channel: "C1",
      ts: "1.000",
    });
    expect(heard).toEqual([{ channel: "C1", ts: "1.000" }]);
    expect(await n.deliver("b", { channel: "C2", ts: undefined }, "no listener")).toEqual({
      channel: "C2",
      ts: "2.000",
    });
    // The card delivered without a listener is still alive: a later change reaches it.
    n.card("b", { channel: "C2", ts: undefined }, "later");
    expect(await n.settle("b", 1_000)).toBe(true);
    expect(chat.ops().pop()).toBe("update C2@2.000 later");
    chat.calls.pop();
    expect(await n.deliver("c", { channel: "C3", ts: "5.000" }, "known")).toEqual({
      channel: "C3",
      ts: "5.000",
    });
    // A card whose message is already known: deliver without a ts still answers where it is.
    n.card("d", { channel: "C4", ts: "6.000" }, "first");
    expect(await n.deliver("d", { channel: "C4", ts: undefined }, "second", undefined, 1_000)).toEqual({
      channel: "C4",
      ts: "6.000",
    });
    expect(chat.ops()).toEqual([
      "post C1 new",
      "post C2 no listener",
      "update C3@5.000 known",
      "update C4@6.000 second",
    ]);
  });

  it("deliver answers nothing when Slack cannot be reached in time", async () => {
    const n = make({ minIntervalMs: 10_000, retryDelayMs: 10 });
    chat.failAlways = passing();
    expect(await n.deliver("a", { channel: "C1", ts: undefined }, "x", undefined, 100)).toBeUndefined();
  });

  it("deliver answers nothing, without throwing, when its card was dropped and forgotten meanwhile", async () => {
    const n = make({ minIntervalMs: 10_000 });
    chat.failures.push(refused());
    const delivered = n.deliver("a", { channel: "C0GONE", ts: undefined }, "x", undefined, 1_000);
    // Dropped (the refusal is logged) while deliver still waits; then forgotten.
    expect(
      await until(() => logs.some((l) => l.msg === "chat refused this card for good; dropping it")),
    ).toBe(true);
    n.forget("a");
    await expect(delivered).resolves.toBeUndefined();
  });

  it("forgets a card only once everything about it is delivered", async () => {
    const n = make({ minIntervalMs: 10_000 });
    n.card("job", { channel: "C1", ts: undefined }, "v0");
    n.forget("job"); // not delivered yet: kept
    expect(await n.settle("job", 1_000)).toBe(true);
    n.reply("job", "step done");
    n.forget("job"); // a reply pending: kept
    expect(await n.settle("job", 1_000)).toBe(true);
    n.card("job", { channel: "C1", ts: undefined }, "v1");
    expect(await n.settle("job", 1_000)).toBe(true);
    expect(chat.ops()).toEqual(["post C1 v0", "post C1^1.000 step done", "update C1@1.000 v1"]);
    n.forget("job"); // delivered: gone, the same key now starts a new message
    n.card("job", { channel: "C1", ts: undefined }, "again");
    expect(await n.settle("job", 1_000)).toBe(true);
    expect(chat.ops()[3]).toBe("post C1 again");
    expect(() => n.forget("unknown")).not.toThrow();
  });

  it("forgets a dropped card, so the key can be used again", async () => {
    const n = make({ minIntervalMs: 10_000 });
    chat.failures.push(refused());
    n.card("job", { channel: "C0GONE", ts: undefined }, "lost");
    expect(await n.settle("job", 1_000)).toBe(true);
    n.forget("job");
    n.card("job", { channel: "C1", ts: undefined }, "found");
    expect(await n.settle("job", 1_000)).toBe(true);
    expect(chat.ops()).toEqual(["post C0GONE lost", "post C1 found"]);
  });

  it("sends nothing more once closed", async () => {
    const n = make({ minIntervalMs: 10_000 });
    n.card("a", { channel: "C1", ts: undefined }, "a");
    n.card("b", { channel: "C2", ts: undefined }, "b");
    n.close();
    await delay(40);
    expect(chat.calls).toHaveLength(0);
    expect(n.pending()).toBe(true);
  });
});
