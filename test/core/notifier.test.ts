// The notifier against the Slack fake through the real adapter: coalescing, catching up after a
// rate limit, and a card Slack refuses for good not holding up the others.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSlackChat, slackRetry } from "../../src/adapters/slack.ts";
import { createLogger } from "../../src/core/logger.ts";
import { Notifier } from "../../src/core/notifier.ts";
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
