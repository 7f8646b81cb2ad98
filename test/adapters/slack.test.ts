// The Slack ChatPort against the Slack fake, through the real WebClient: what lands in Slack, and
// which DrbotError (kind, code, actionable message) each failure becomes.
import type { KnownBlock, ModalView } from "@slack/types";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSlackChat, type SlackChatOptions, slackRetry } from "../../src/adapters/slack.ts";
import { DrbotError, errorMessage } from "../../src/core/errors.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { ChatPort } from "../../src/core/ports/chat.ts";
import { type FakeSlack, startFakeSlack } from "../../src/sandbox/stand-ins/slack.ts";
import { freePort } from "../support/free-port.ts";

const BOT_TOKEN = "xoxb-adapter-test-token";

let slack: FakeSlack;

beforeEach(async () => {
  slack = await startFakeSlack({
    botToken: BOT_TOKEN,
    signingSecret: "unused",
    channels: [
      { id: "C0OPS0001", name: "ops" },
      { id: "C0OLD0001", name: "old", archived: true },
    ],
    usergroups: { S0SRE0001: ["U0ALICE01", "U0BOB0001"] },
  });
});

afterEach(async () => {
  await slack.close();
});

// The SDK's expected warnings (retries, refused connections) stay out of the test output.
const quiet = createLogger({ level: "error", destination: { write: () => true } });

function chat(options: Partial<SlackChatOptions> = {}): ChatPort {
  return createSlackChat({
    token: BOT_TOKEN,
    apiUrl: slack.apiUrl,
    retryConfig: slackRetry.none,
    logger: quiet,
    ...options,
  });
}

async function failure(call: Promise<unknown>): Promise<DrbotError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrbotError);
  return err as DrbotError;
}

describe("Slack ChatPort", () => {
  it("identifies the bot", async () => {
    expect(await chat().authTest()).toEqual({ userId: "U0DRBOT01", team: "drbot test" });
  });

  it("posts a status message by channel name and returns the channel id, then threads replies under it", async () => {
    const port = chat();
    const blocks: KnownBlock[] = [
      { type: "section", text: { type: "mrkdwn", text: "*create volume* running" } },
    ];
    const ref = await port.post("#ops", "create volume: running", blocks);
    expect(ref.channel).toBe("C0OPS0001");
    expect(slack.message("C0OPS0001", ref.ts)).toMatchObject({ text: "create volume: running", blocks });

    const reply = await port.post(ref.channel, "step 1 ensure-directory: done", undefined, ref.ts);
    expect(reply.ts).not.toBe(ref.ts);
    expect(slack.replies("C0OPS0001", ref.ts).map((m) => m.text)).toEqual(["step 1 ensure-directory: done"]);
  });

  it("updates a message in place, and an update without blocks leaves none behind", async () => {
    const port = chat();
    const buttons: KnownBlock[] = [
      {
        type: "actions",
        elements: [
          {
            type: "button",
            action_id: "approval_approve",
            value: "r1",
            text: { type: "plain_text", text: "Approve" },
          },
        ],
      },
    ];
    const ref = await port.post("C0OPS0001", "approval pending", buttons);
    const outcome: KnownBlock[] = [
      { type: "section", text: { type: "mrkdwn", text: "Approved by <@U0ALICE01>" } },
    ];

    await port.update(ref, "approved", outcome);
    expect(slack.message(ref.channel, ref.ts)).toMatchObject({ text: "approved", blocks: outcome });
    await port.update(ref, "failover succeeded");
    const message = slack.message(ref.channel, ref.ts);
    expect(message?.text).toBe("failover succeeded");
    expect(message?.blocks ?? []).toEqual([]);
    expect(message?.updates).toHaveLength(2);
  });

  it("sends ephemeral replies to one user", async () => {
    await chat().postEphemeral("C0OPS0001", "U0ALICE01", "size must be at most 1024Gi");
    expect(slack.ephemerals).toEqual([
      expect.objectContaining({
        channel: "C0OPS0001",
        user: "U0ALICE01",
        text: "size must be at most 1024Gi",
      }),
    ]);
  });

  it("opens a modal with a fresh trigger id, and explains a stale or reused one", async () => {
    const port = chat();
    const view: ModalView = {
      type: "modal",
      callback_id: "volume_create",
      title: { type: "plain_text", text: "New volume" },
      blocks: [],
    };
    const trigger = slack.issueTriggerId("U0ALICE01");
    await port.openView(trigger, view);
    expect(slack.views).toEqual([
      expect.objectContaining({
        user: "U0ALICE01",
        view: expect.objectContaining({ callback_id: "volume_create" }),
      }),
    ]);

    const reused = await failure(port.openView(trigger, view));
    expect(reused).toMatchObject({ kind: "invalid", code: "slack.exchanged_trigger_id" });
    const expired = await failure(
      port.openView(slack.issueTriggerId("U0ALICE01", { issuedAt: Date.now() - 5_000 }), view),
    );
    expect(expired).toMatchObject({ kind: "invalid", code: "slack.expired_trigger_id" });
    expect(expired.hint).toMatch(/3 seconds/);
  });

  it("lists user-group members, and names an unknown group", async () => {
    const port = chat();
    expect(await port.usergroupMembers("S0SRE0001")).toEqual(["U0ALICE01", "U0BOB0001"]);
    const err = await failure(port.usergroupMembers("S0GONE001"));
    expect(err).toMatchObject({ kind: "not_found", code: "slack.no_such_subteam" });
    expect(err.message).toContain("S0GONE001");
  });
});

describe("Slack errors as DrbotErrors", () => {
  it("a bad token is forbidden, and the token appears nowhere in what a human reads", async () => {
    const err = await failure(chat({ token: "xoxb-revoked-secret" }).authTest());
    expect(err).toMatchObject({ kind: "forbidden", code: "slack.invalid_auth" });
    expect(errorMessage(err)).toMatch(/SLACK_BOT_TOKEN/);
    expect(errorMessage(err)).not.toContain("xoxb-revoked-secret");
  });

  it("a missing scope is forbidden and names the scope to add", async () => {
    slack.setScopes(["chat:write"]);
    const err = await failure(chat().usergroupMembers("S0SRE0001"));
    expect(err).toMatchObject({ kind: "forbidden", code: "slack.missing_scope" });
    expect(err.hint).toContain("usergroups:read");
  });

  it("unknown channels and messages are not_found; bad content is invalid; archived is a conflict", async () => {
    const port = chat();
    expect(await failure(port.post("C0NOWHERE", "x"))).toMatchObject({
      kind: "not_found",
      code: "slack.channel_not_found",
    });
    const gone = await failure(port.update({ channel: "C0OPS0001", ts: "1700000000.000100" }, "x"));
    expect(gone).toMatchObject({ kind: "not_found", code: "slack.message_not_found" });
    expect(gone.message).toContain("1700000000.000100");
    expect(await failure(port.post("C0OPS0001", ""))).toMatchObject({
      kind: "invalid",
      code: "slack.no_text",
    });
    expect(await failure(port.post("C0OLD0001", "x"))).toMatchObject({
      kind: "conflict",
      code: "slack.is_archived",
    });
  });

  it("waits out a 429 by default and succeeds", async () => {
    slack.rateLimit("chat.postMessage", { retryAfterSeconds: 0, times: 1 });
    const ref = await chat({ retryConfig: { retries: 2, minTimeout: 0, maxTimeout: 0 } }).post(
      "C0OPS0001",
      "hi",
    );
    expect(slack.message("C0OPS0001", ref.ts)?.text).toBe("hi");
    expect(slack.callCount("chat.postMessage")).toBe(2);
  });

  it("fails fast on a 429 when asked to, as transient, saying how long Slack wants", async () => {
    slack.rateLimit("chat.update", { retryAfterSeconds: 30 });
    const err = await failure(
      chat({ failFastOnRateLimit: true }).update({ channel: "C0OPS0001", ts: "1700000000.000100" }, "x"),
    );
    // At once: no retry after the 30 s Slack asked for.
    expect(slack.callCount("chat.update")).toBe(1);
    expect(err).toMatchObject({ kind: "transient", code: "slack.ratelimited" });
    expect(err.hint).toContain("30 seconds");
  });

  it("a 429 that outlasts the retries is transient", async () => {
    slack.rateLimit("chat.postMessage", { retryAfterSeconds: 0, times: 5 });
    const err = await failure(
      chat({ retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 } }).post("C0OPS0001", "x"),
    );
    expect(err).toMatchObject({ kind: "transient", code: "slack.ratelimited" });
    expect(slack.callCount("chat.postMessage")).toBe(2);
  });

  it("retries a 5xx, and reports a persistent one as transient", async () => {
    slack.serverError("chat.postEphemeral", { times: 1 });
    await chat({ retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 } }).postEphemeral(
      "C0OPS0001",
      "U0ALICE01",
      "ok",
    );
    expect(slack.ephemerals).toHaveLength(1);

    slack.serverError("chat.postEphemeral", { status: 503, times: 2 });
    const err = await failure(
      chat({ retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 } }).postEphemeral(
        "C0OPS0001",
        "U0ALICE01",
        "x",
      ),
    );
    expect(err).toMatchObject({ kind: "transient", code: "slack.http_503" });
    expect(slack.callCount("chat.postEphemeral")).toBe(4);
  });

  it("an unreachable Slack and a slow one are transient", async () => {
    const closed = await freePort();
    const down = await failure(chat({ apiUrl: `http://127.0.0.1:${closed}/api/` }).authTest());
    expect(down).toMatchObject({ kind: "transient", code: "slack.unreachable" });
    expect(down.message).toContain("ECONNREFUSED");

    slack.http.latencyMs = 300;
    const slow = await failure(chat({ timeoutMs: 50 }).authTest());
    expect(slow).toMatchObject({ kind: "transient", code: "slack.timeout" });
  });

  it("a wrong SLACK_API_URL is reported as such", async () => {
    const err = await failure(chat({ apiUrl: `${slack.url}/` }).authTest());
    expect(err).toMatchObject({ kind: "not_found", code: "slack.http_404" });
    expect(err.hint).toContain("SLACK_API_URL");
  });

  it("logs the SDK's messages through drbot's logger without the token", async () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: "debug",
      destination: { write: (line: string) => lines.push(line) },
    });
    await chat({ logger }).post("C0OPS0001", "hello");
    const sdkLines = lines.filter((l) => l.includes('"component":"slack-web-api"'));
    expect(sdkLines.length).toBeGreaterThan(0);
    expect(lines.join("\n")).not.toContain(BOT_TOKEN);
  });
});
