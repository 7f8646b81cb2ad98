// The Slack fake is only useful if the real clients accept it: every test here drives it with
// @slack/web-api's WebClient, Bolt's own signature verification, or a real Bolt App.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { App, LogLevel, verifySlackRequest } from "@slack/bolt";
import {
  ErrorCode,
  type WebAPIHTTPError,
  type WebAPIPlatformError,
  type WebAPIRateLimitedError,
  WebClient,
  WebClientEvent,
} from "@slack/web-api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeSlack, signRequest, startFakeSlack } from "../../src/sandbox/stand-ins/slack.ts";
import { freePort } from "../support/free-port.ts";

const BOT_TOKEN = "xoxb-test-bot-token";
const SIGNING_SECRET = "test-signing-secret";
const TS = /^\d{10}\.\d{6}$/;

let slack: FakeSlack;

beforeEach(async () => {
  slack = await startFakeSlack({
    botToken: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    users: [{ id: "U0ALICE01", name: "alice", realName: "Alice Example", email: "alice@example.com" }],
    usergroups: { S0SRE0001: ["U0ALICE01", "U0BOB0001"] },
  });
});

afterEach(async () => {
  await slack.close();
});

function client(options: ConstructorParameters<typeof WebClient>[1] = {}, token = BOT_TOKEN): WebClient {
  return new WebClient(token, {
    slackApiUrl: slack.apiUrl,
    retryConfig: { retries: 0 },
    logLevel: LogLevel.ERROR,
    ...options,
  });
}

/** The platform error a WebClient call rejects with. */
async function platformError(call: Promise<unknown>): Promise<WebAPIPlatformError> {
  const err = (await call.then(
    () => undefined,
    (e: unknown) => e,
  )) as WebAPIPlatformError;
  expect(err?.code).toBe(ErrorCode.PlatformError);
  return err;
}

describe("Web API through the real WebClient", () => {
  it("identifies the bot and refuses a wrong or missing token", async () => {
    const me = await client().auth.test();
    expect(me).toMatchObject({ ok: true, user_id: "U0DRBOT01", bot_id: "B0DRBOT01", team_id: "T0DRBOT01" });

    const wrong = await platformError(client({}, "xoxb-wrong").auth.test());
    expect(wrong.data.error).toBe("invalid_auth");
    const none = await platformError(
      new WebClient(undefined, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } }).auth.test(),
    );
    expect(none.data.error).toBe("not_authed");
    expect(slack.callCount("auth.test")).toBe(3);
  });

  it("accepts the token as a form field and JSON bodies", async () => {
    const form = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: BOT_TOKEN, channel: "C0OPS0001", text: "from a form" }).toString(),
    });
    expect(await form.json()).toMatchObject({ ok: true, channel: "C0OPS0001" });

    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "*json*" } }];
    const res = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${BOT_TOKEN}` },
      body: JSON.stringify({ channel: "C0OPS0001", text: "from json", blocks }),
    });
    const body = (await res.json()) as { ok: boolean; ts: string };
    expect(body.ok).toBe(true);
    expect(slack.message("C0OPS0001", body.ts)?.blocks).toEqual(blocks);
    expect(slack.messages("C0OPS0001").map((m) => m.text)).toEqual(["from a form", "from json"]);
  });

  it("posts messages with blocks and threads, with unique increasing Slack-style ts", async () => {
    const web = client();
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "Volume *data* requested" } }];
    const parent = await web.chat.postMessage({ channel: "C0OPS0001", text: "status", blocks });
    expect(parent.ts).toMatch(TS);
    expect(parent.message).toMatchObject({ text: "status", bot_id: "B0DRBOT01", blocks });

    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        web.chat.postMessage({ channel: "C0OPS0001", text: `step ${i}`, thread_ts: parent.ts as string }),
      ),
    );
    const stored = slack.replies("C0OPS0001", parent.ts as string);
    expect(stored).toHaveLength(50);
    expect(new Set(replies.map((r) => r.ts)).size).toBe(50);
    const all = slack.messages("C0OPS0001").map((m) => Number(m.ts));
    expect(all).toEqual([...all].sort((a, b) => a - b));
    expect(new Set(all).size).toBe(all.length);
    expect(slack.message("C0OPS0001", parent.ts as string)?.blocks).toEqual(blocks);

    const link = await web.chat.getPermalink({ channel: "C0OPS0001", message_ts: parent.ts as string });
    expect(link.permalink).toBe(
      `https://drbot-test.slack.com/archives/C0OPS0001/p${(parent.ts as string).replace(".", "")}`,
    );
  });

  it("rejects posts without content or with malformed blocks", async () => {
    const web = client();
    expect((await platformError(web.chat.postMessage({ channel: "C0OPS0001", text: "" }))).data.error).toBe(
      "no_text",
    );
    const bad = web.apiCall("chat.postMessage", { channel: "C0OPS0001", text: "x", blocks: "not json" });
    expect((await platformError(bad)).data.error).toBe("invalid_blocks_format");
    expect(slack.messages()).toHaveLength(0);
  });

  it("updates in place, keeping a history, and reports unknown messages and channels", async () => {
    await slack.close();
    slack = await startFakeSlack({
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
      channels: [{ id: "C0OPS0001", name: "ops" }],
    });
    const web = client();
    const blocks = [
      {
        type: "actions",
        elements: [
          { type: "button", action_id: "approval_approve", text: { type: "plain_text", text: "Approve" } },
        ],
      },
    ];
    const posted = await web.chat.postMessage({ channel: "#ops", text: "pending", blocks });
    expect(posted.channel).toBe("C0OPS0001");
    const ts = posted.ts as string;

    await web.chat.update({ channel: "C0OPS0001", ts, text: "still pending" });
    expect(slack.message("C0OPS0001", ts)).toMatchObject({ text: "still pending", blocks });
    const updated = await web.chat.update({ channel: "C0OPS0001", ts, text: "approved", blocks: [] });
    expect(updated).toMatchObject({ ok: true, channel: "C0OPS0001", ts, text: "approved" });
    const message = slack.message("C0OPS0001", ts);
    expect(message?.blocks).toEqual([]);
    expect(message?.updates.map((u) => u.text)).toEqual(["still pending", "approved"]);

    const missing = await platformError(
      web.chat.update({ channel: "C0OPS0001", ts: "1700000000.000100", text: "x" }),
    );
    expect(missing.data.error).toBe("message_not_found");
    const nowhere = await platformError(web.chat.postMessage({ channel: "C0NOWHERE", text: "x" }));
    expect(nowhere.data.error).toBe("channel_not_found");
  });

  it("records ephemeral messages and refuses recipients outside the channel", async () => {
    slack.addChannel({
      id: "C0PRIV001",
      name: "private",
      isPrivate: true,
      members: ["U0DRBOT01", "U0ALICE01"],
    });
    const web = client();
    const res = await web.chat.postEphemeral({ channel: "C0PRIV001", user: "U0ALICE01", text: "only you" });
    expect(res.message_ts).toMatch(TS);
    expect(slack.ephemerals).toEqual([
      expect.objectContaining({ channel: "C0PRIV001", user: "U0ALICE01", text: "only you" }),
    ]);

    const outsider = await platformError(
      web.chat.postEphemeral({ channel: "C0PRIV001", user: "U0EVE0001", text: "x" }),
    );
    expect(outsider.data.error).toBe("user_not_in_channel");
    slack.addChannel({ id: "C0LOCKED1", name: "locked", members: ["U0ALICE01"] });
    const notIn = await platformError(web.chat.postMessage({ channel: "C0LOCKED1", text: "x" }));
    expect(notIn.data.error).toBe("not_in_channel");
  });

  it("opens views only with a fresh, unused trigger id, and updates them with the current hash", async () => {
    const web = client();
    const view = {
      type: "modal" as const,
      callback_id: "volume_create",
      title: { type: "plain_text" as const, text: "New volume" },
      blocks: [],
    };
    const trigger = slack.issueTriggerId("U0ALICE01");
    const opened = await web.views.open({ trigger_id: trigger, view });
    expect(opened.view?.id).toMatch(/^V[A-Z0-9]{10}$/);
    const id = opened.view?.id as string;
    expect(slack.view(id)).toMatchObject({
      user: "U0ALICE01",
      triggerId: trigger,
      view: { callback_id: "volume_create" },
    });

    expect((await platformError(web.views.open({ trigger_id: trigger, view }))).data.error).toBe(
      "exchanged_trigger_id",
    );
    const stale = slack.issueTriggerId("U0ALICE01", { issuedAt: Date.now() - 3_500 });
    expect((await platformError(web.views.open({ trigger_id: stale, view }))).data.error).toBe(
      "expired_trigger_id",
    );
    expect((await platformError(web.views.open({ trigger_id: "123.456.abc", view }))).data.error).toBe(
      "invalid_trigger_id",
    );

    const next = { ...view, title: { type: "plain_text" as const, text: "Creating…" } };
    const updated = await web.views.update({ view_id: id, hash: opened.view?.hash as string, view: next });
    expect(updated.view?.title?.text).toBe("Creating…");
    const conflict = await platformError(
      web.views.update({ view_id: id, hash: opened.view?.hash as string, view: next }),
    );
    expect(conflict.data.error).toBe("hash_conflict");
    expect((await platformError(web.views.update({ view_id: "VNOPE", view: next }))).data.error).toBe(
      "not_found",
    );
    expect(slack.view(id)?.updates).toHaveLength(1);
  });

  it("answers directory look-ups: user groups, users and conversations", async () => {
    const web = client();
    expect((await web.usergroups.users.list({ usergroup: "S0SRE0001" })).users).toEqual([
      "U0ALICE01",
      "U0BOB0001",
    ]);
    slack.setUsergroup("S0SRE0001", ["U0CAROL01"]);
    expect((await web.usergroups.users.list({ usergroup: "S0SRE0001" })).users).toEqual(["U0CAROL01"]);
    expect((await platformError(web.usergroups.users.list({ usergroup: "S0NOPE001" }))).data.error).toBe(
      "no_such_subteam",
    );

    const alice = await web.users.info({ user: "U0ALICE01" });
    expect(alice.user).toMatchObject({ id: "U0ALICE01", name: "alice", real_name: "Alice Example" });
    expect((await platformError(web.users.info({ user: "U0GHOST01" }))).data.error).toBe("user_not_found");

    const info = await web.conversations.info({ channel: "C0OPS0001" });
    expect(info.channel).toMatchObject({ id: "C0OPS0001", is_channel: true, is_im: false });
  });

  it("reports a missing scope the way Slack does", async () => {
    slack.setScopes(["chat:write", "commands"]);
    const err = await platformError(client().usergroups.users.list({ usergroup: "S0SRE0001" }));
    expect(err.data).toMatchObject({
      error: "missing_scope",
      needed: "usergroups:read",
      provided: "chat:write,commands",
    });
    expect(err.data.response_metadata?.scopes).toEqual(["chat:write", "commands"]);
  });

  it("rate-limits with 429 + Retry-After, which WebClient waits out and retries", async () => {
    slack.rateLimit("chat.postMessage", { retryAfterSeconds: 1 });
    const web = client({ retryConfig: { retries: 2, minTimeout: 0, maxTimeout: 0 } });
    const waits: number[] = [];
    web.on(WebClientEvent.RATE_LIMITED, (seconds: number) => waits.push(seconds));
    const res = await web.chat.postMessage({ channel: "C0OPS0001", text: "eventually" });
    expect(res.ok).toBe(true);
    // WebClient read Retry-After (it waits that long before the retry; timing belongs in bench/).
    expect(waits).toEqual([1]);
    expect(slack.callCount("chat.postMessage")).toBe(2);
    expect(slack.messages("C0OPS0001")).toHaveLength(1);
  });

  it("lets a client that refuses to wait see the rate limit at once", async () => {
    slack.rateLimit(undefined, { retryAfterSeconds: 30 });
    const err = (await client({ rejectRateLimitedCalls: true })
      .chat.update({ channel: "C0OPS0001", ts: "1700000000.000100", text: "x" })
      .catch((e: unknown) => e)) as WebAPIRateLimitedError;
    expect(err.code).toBe(ErrorCode.RateLimitedError);
    expect(err.retryAfter).toBe(30);
  });

  it("answers 5xx faults, which WebClient surfaces as HTTP errors or retries", async () => {
    slack.serverError("chat.postMessage", { status: 503 });
    const err = (await client()
      .chat.postMessage({ channel: "C0OPS0001", text: "x" })
      .catch((e: unknown) => e)) as WebAPIHTTPError;
    expect(err.code).toBe(ErrorCode.HTTPError);
    expect(err.statusCode).toBe(503);

    slack.serverError("chat.postMessage", { times: 1 });
    const retried = await client({
      retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 },
    }).chat.postMessage({
      channel: "C0OPS0001",
      text: "second try",
    });
    expect(retried.ok).toBe(true);
    expect(slack.callCount("chat.postMessage")).toBe(3);
    expect(slack.messages("C0OPS0001").map((m) => m.text)).toEqual(["second try"]);
  });

  it("answers an unknown method with 404", async () => {
    const err = (await client()
      .apiCall("chat.nothing")
      .catch((e: unknown) => e)) as WebAPIHTTPError;
    expect(err.statusCode).toBe(404);
    expect(err.body).toMatchObject({ ok: false, error: "unknown_method" });
  });
});

describe("response_url endpoints", () => {
  const post = (url: string, body: unknown) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("records ephemeral and in-channel replies as the user would see them", async () => {
    const url = slack.issueResponseUrl({ kind: "command", channel: "C0OPS0001", user: "U0ALICE01" });
    expect(url).toMatch(new RegExp(`^${slack.url}/commands/T0DRBOT01/\\d+/`));
    expect((await post(url, { text: "only for alice" })).status).toBe(200);
    expect((await post(url, { response_type: "in_channel", text: "for everyone" })).status).toBe(200);

    expect(slack.responses.map((r) => [r.responseType, r.text])).toEqual([
      ["ephemeral", "only for alice"],
      ["in_channel", "for everyone"],
    ]);
    expect(slack.ephemerals).toEqual([
      expect.objectContaining({
        channel: "C0OPS0001",
        user: "U0ALICE01",
        text: "only for alice",
        via: "response_url",
      }),
    ]);
    expect(slack.messages("C0OPS0001")).toEqual([
      expect.objectContaining({ text: "for everyone", user: "U0ALICE01" }),
    ]);
  });

  it("replaces the original message of an interaction, and expires after five uses", async () => {
    const card = await client().chat.postMessage({ channel: "C0OPS0001", text: "approve?" });
    const url = slack.issueResponseUrl({
      kind: "action",
      channel: "C0OPS0001",
      user: "U0ALICE01",
      messageTs: card.ts as string,
    });
    expect((await post(url, { replace_original: "true", text: "approved by alice" })).status).toBe(200);
    expect(slack.message("C0OPS0001", card.ts as string)).toMatchObject({ text: "approved by alice" });
    expect(slack.responses[0]).toMatchObject({ kind: "action", replaceOriginal: true });

    for (let i = 0; i < 4; i++) expect((await post(url, { text: `note ${i}` })).status).toBe(200);
    const sixth = await post(url, { text: "too many" });
    expect(sixth.status).toBe(404);
    expect(await sixth.text()).toBe("used_url");
    expect((await post(`${slack.url}/commands/T0DRBOT01/1/nope`, { text: "x" })).status).toBe(404);
    expect(
      (await post(slack.issueResponseUrl({ kind: "command", channel: "C1", user: "U1" }), {})).status,
    ).toBe(400);
  });
});

describe("signed requests", () => {
  it("produces signatures that Bolt's verifier accepts, and forged or stale ones it rejects", () => {
    const body = "command=%2Fvolume&text=help";
    const verify = (headers: Record<string, string>, secret = SIGNING_SECRET) =>
      verifySlackRequest({
        signingSecret: secret,
        body,
        headers: {
          "x-slack-signature": headers["x-slack-signature"] as string,
          "x-slack-request-timestamp": Number(headers["x-slack-request-timestamp"]),
        },
      });
    const signed = { ...signRequest(body, SIGNING_SECRET) };
    expect(signed["x-slack-signature"]).toMatch(/^v0=[0-9a-f]{64}$/);
    expect(() => verify(signed)).not.toThrow();
    expect(() => verify({ ...signRequest(body, "another-secret") })).toThrow(/signature mismatch/);
    const stale = { ...signRequest(body, SIGNING_SECRET, Math.floor(Date.now() / 1000) - 600) };
    expect(() => verify(stale)).toThrow(/stale/);
  });

  describe("against a real Bolt app", () => {
    let app: App;
    let receiverUrl: string;
    const commands: { text: string; user_id: string; trigger_id: string }[] = [];
    const clicks: { action_id: string; value?: string }[] = [];
    const submissions: { callback_id: string; values: unknown }[] = [];
    const modal = {
      type: "modal" as const,
      callback_id: "volume_create",
      title: { type: "plain_text" as const, text: "New volume" },
      submit: { type: "plain_text" as const, text: "Create" },
      blocks: [
        {
          type: "input",
          block_id: "pvc",
          label: { type: "plain_text" as const, text: "PVC" },
          element: { type: "plain_text_input", action_id: "value" },
        },
      ],
    };

    beforeEach(async () => {
      // A fresh app per test, its Web API client pointed at this test's fake.
      commands.length = 0;
      clicks.length = 0;
      submissions.length = 0;
      const port = await freePort();
      app = new App({
        token: BOT_TOKEN,
        signingSecret: SIGNING_SECRET,
        logLevel: LogLevel.ERROR,
        clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
      });
      app.command("/volume", async ({ command, ack, respond, client: web }) => {
        await ack();
        commands.push(command);
        if (command.text === "create") {
          await web.views.open({ trigger_id: command.trigger_id, view: modal });
        } else {
          await respond({ text: "Usage: /volume create …" });
        }
      });
      app.action("approval_approve", async ({ action, ack, respond }) => {
        await ack();
        const button = action as { action_id: string; value?: string };
        clicks.push({ action_id: button.action_id, ...(button.value ? { value: button.value } : {}) });
        await respond({ replace_original: true, text: `approved ${button.value}` });
      });
      app.view("volume_create", async ({ view, ack }) => {
        submissions.push({ callback_id: view.callback_id, values: view.state.values });
        await ack();
      });
      await app.start(port);
      receiverUrl = `http://127.0.0.1:${port}/slack/events`;
    });

    afterEach(async () => {
      await app.stop();
    });

    it("acks a signed slash command, whose response_url reply reaches the fake", async () => {
      const res = await slack.sendSlashCommand(receiverUrl, {
        command: "/volume",
        text: "help",
        user_id: "U0ALICE01",
        channel_id: "C0OPS0001",
      });
      expect(res.status).toBe(200);
      expect(res.timedOut).toBe(false);
      expect(commands).toEqual([
        expect.objectContaining({ text: "help", user_id: "U0ALICE01", trigger_id: res.triggerId }),
      ]);
      await expect.poll(() => slack.ephemerals.map((e) => e.text)).toEqual(["Usage: /volume create …"]);
      expect(slack.responses[0]?.url).toBe(res.responseUrl);
    });

    it("opens a modal with the command's trigger_id and receives its submission", async () => {
      const res = await slack.sendSlashCommand(receiverUrl, {
        command: "/volume",
        text: "create",
        user_id: "U0ALICE01",
        channel_id: "C0OPS0001",
      });
      expect(res.status).toBe(200);
      await expect.poll(() => slack.views.length).toBe(1);
      const opened = slack.views[0];
      expect(opened).toMatchObject({ user: "U0ALICE01", triggerId: res.triggerId });

      const values = { pvc: { value: { type: "plain_text_input", value: "data" } } };
      const submitted = await slack.sendInteraction(receiverUrl, {
        type: "view_submission",
        user_id: "U0ALICE01",
        view_id: opened?.id as string,
        values,
      });
      expect(submitted.status).toBe(200);
      expect(submissions).toEqual([{ callback_id: "volume_create", values }]);
    });

    it("delivers a button click whose reply replaces the card", async () => {
      const blocks = [
        {
          type: "actions",
          block_id: "approval",
          elements: [
            {
              type: "button",
              action_id: "approval_approve",
              value: "req-1",
              text: { type: "plain_text", text: "Approve" },
            },
          ],
        },
      ];
      const card = await client().chat.postMessage({ channel: "C0OPS0001", text: "approve?", blocks });
      const res = await slack.sendInteraction(receiverUrl, {
        type: "block_actions",
        user_id: "U0BOB0001",
        channel_id: "C0OPS0001",
        message_ts: card.ts as string,
        actions: [{ action_id: "approval_approve", value: "req-1" }],
      });
      expect(res.status).toBe(200);
      expect(clicks).toEqual([{ action_id: "approval_approve", value: "req-1" }]);
      expect(res.sent).toMatchObject({ actions: [{ block_id: "approval" }], message: { ts: card.ts } });
      await expect.poll(() => slack.message("C0OPS0001", card.ts as string)?.text).toBe("approved req-1");
    });

    it("rejects forged, replayed and unsigned requests with 401 before any handler runs", async () => {
      const input = { command: "/volume", text: "help", user_id: "U0ALICE01", channel_id: "C0OPS0001" };
      const forged = await slack.sendSlashCommand(receiverUrl, input, { signingSecret: "not-the-secret" });
      const replayed = await slack.sendSlashCommand(receiverUrl, input, {
        timestamp: Math.floor(Date.now() / 1000) - 600,
      });
      const unsigned = await slack.sendSlashCommand(receiverUrl, input, { unsigned: true });
      const tampered = await slack.sendInteraction(
        receiverUrl,
        {
          type: "block_actions",
          user_id: "U0EVE0001",
          actions: [{ action_id: "approval_approve", value: "req-1" }],
        },
        { signature: `v0=${"0".repeat(64)}` },
      );
      expect([forged.status, replayed.status, unsigned.status, tampered.status]).toEqual([
        401, 401, 401, 401,
      ]);
      expect(commands).toEqual([]);
      expect(clicks).toEqual([]);
    });
  });
});

describe("strict as Slack", () => {
  const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });

  it("not_in_channel from chat.postMessage, chat.update and chat.postEphemeral; channel_not_found when channels are declared", async () => {
    await slack.close();
    slack = await startFakeSlack({
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
      channels: [
        { id: "C0OPS0001", name: "ops", members: ["U0DRBOT01", "U0ALICE01"] },
        { id: "C0OTHER01", name: "other", members: ["U0ALICE01"] },
      ],
    });
    const web = client();
    const posted = await web.chat.postMessage({ channel: "C0OPS0001", text: "card" });

    for (const call of [
      web.chat.postMessage({ channel: "C0OTHER01", text: "x" }),
      web.chat.postEphemeral({ channel: "C0OTHER01", user: "U0ALICE01", text: "x" }),
      web.chat.update({ channel: "C0OTHER01", ts: posted.ts as string, text: "x" }),
    ])
      expect((await platformError(call)).data.error).toBe("not_in_channel");
    // The bot is removed from the channel: updating its own card there fails too.
    slack.addChannel({ id: "C0OPS0001", name: "ops", members: ["U0ALICE01"] });
    expect(
      (await platformError(web.chat.update({ channel: "C0OPS0001", ts: posted.ts as string, text: "x" })))
        .data.error,
    ).toBe("not_in_channel");
    for (const call of [
      web.chat.postMessage({ channel: "C0UNKNOWN", text: "x" }),
      web.chat.update({ channel: "C0UNKNOWN", ts: posted.ts as string, text: "x" }),
      web.chat.postEphemeral({ channel: "C0UNKNOWN", user: "U0ALICE01", text: "x" }),
    ])
      expect((await platformError(call)).data.error).toBe("channel_not_found");
    expect(slack.message("C0OPS0001", posted.ts as string)?.text).toBe("card");
  });

  it("enforces Block Kit limits with invalid_blocks and Slack's messages, and 40,000 characters of text", async () => {
    const web = client();
    const refused = async (blocks: unknown[]) => {
      const err = await platformError(
        web.chat.postMessage({ channel: "C0OPS0001", text: "x", blocks: blocks as never }),
      );
      expect(err.data.error).toBe("invalid_blocks");
      return err.data.response_metadata?.messages ?? [];
    };

    // At the limits: accepted.
    const fifty = Array.from({ length: 50 }, (_, i) => section(i === 0 ? "a".repeat(3000) : `${i}`));
    await web.chat.postMessage({ channel: "C0OPS0001", text: "t".repeat(40_000), blocks: fifty });

    expect(await refused([...fifty, section("one too many")])).toEqual([
      "[ERROR] no more than 50 items allowed [json-pointer:/blocks]",
    ]);
    expect(await refused([section("a".repeat(3001))])).toEqual([
      "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
    ]);
    expect(await refused([{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }])).toEqual([
      "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]",
    ]);
    expect(
      await refused([
        section("ok"),
        { type: "context", elements: Array.from({ length: 11 }, () => ({ type: "mrkdwn", text: "c" })) },
      ]),
    ).toEqual(["[ERROR] no more than 10 items allowed [json-pointer:/blocks/1/elements]"]);
    expect(
      await refused([
        {
          type: "actions",
          elements: [
            {
              type: "button",
              action_id: "approval_approve",
              text: { type: "plain_text", text: "b".repeat(76) },
              confirm: {
                title: { type: "plain_text", text: "Sure?" },
                text: { type: "mrkdwn", text: "t".repeat(301) },
                confirm: { type: "plain_text", text: "Approve" },
                deny: { type: "plain_text", text: "Cancel" },
              },
            },
          ],
        },
      ]),
    ).toEqual([
      "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
      "[ERROR] must be less than 301 characters [json-pointer:/blocks/0/elements/0/confirm/text/text]",
    ]);
    const tooLong = await platformError(
      web.chat.postMessage({ channel: "C0OPS0001", text: "t".repeat(40_001) }),
    );
    expect(tooLong.data.error).toBe("msg_too_long");
    expect(slack.messages("C0OPS0001")).toHaveLength(1);

    // chat.update is held to the same limits, and leaves the message as it was.
    const ts = slack.messages("C0OPS0001")[0]?.ts as string;
    const update = await platformError(
      web.chat.update({ channel: "C0OPS0001", ts, text: "x", blocks: [section("a".repeat(3001))] }),
    );
    expect(update.data.error).toBe("invalid_blocks");
    expect(slack.message("C0OPS0001", ts)?.updates).toEqual([]);
  });

  it("refuses a modal whose title is longer than 24 characters", async () => {
    const err = await platformError(
      client().views.open({
        trigger_id: slack.issueTriggerId("U0ALICE01"),
        view: { type: "modal", title: { type: "plain_text", text: "t".repeat(25) }, blocks: [] },
      }),
    );
    expect(err.data.error).toBe("invalid_arguments");
    expect(err.data.response_metadata?.messages).toEqual([
      "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]",
    ]);
  });

  it("rate tiers are off by default", async () => {
    const web = client();
    for (let i = 0; i < 30; i++) await web.usergroups.users.list({ usergroup: "S0SRE0001" });
    for (let i = 0; i < 10; i++) await web.chat.postMessage({ channel: "C0OPS0001", text: `${i}` });
    expect(slack.messages("C0OPS0001")).toHaveLength(10);
  });

  it("turned on, each method's tier answers 429 + Retry-After, per method; postMessage per channel", async () => {
    slack.setRateLimits(true);
    const web = client({ rejectRateLimitedCalls: true });
    const limited = async (call: Promise<unknown>) => {
      const err = (await call.then(
        () => undefined,
        (e: unknown) => e,
      )) as WebAPIRateLimitedError;
      expect(err?.code).toBe(ErrorCode.RateLimitedError);
      return err.retryAfter;
    };

    // Tier 2: 20 a minute.
    for (let i = 0; i < 20; i++) await web.usergroups.users.list({ usergroup: "S0SRE0001" });
    const wait = await limited(web.usergroups.users.list({ usergroup: "S0SRE0001" }));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(3);
    // Another method (Tier 4) is counted on its own.
    await web.users.info({ user: "U0ALICE01" });

    // chat.postMessage: a short burst per channel, then about one a second.
    for (let i = 0; i < 5; i++) await web.chat.postMessage({ channel: "C0OPS0001", text: `${i}` });
    expect(await limited(web.chat.postMessage({ channel: "C0OPS0001", text: "too fast" }))).toBe(1);
    await web.chat.postMessage({ channel: "C0OTHER01", text: "another channel" });
    expect(slack.messages("C0OPS0001").map((m) => m.text)).toEqual(["0", "1", "2", "3", "4"]);

    // A client that waits gets through after Retry-After.
    const patient = client({ retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 } });
    const res = await patient.chat.postMessage({ channel: "C0OPS0001", text: "later" });
    expect(res.ok).toBe(true);
  });
});

describe("the 3-second acknowledgement deadline", () => {
  let receiver: Server;
  let url: string;
  let answer: "never" | "at once";

  beforeEach(async () => {
    answer = "never";
    receiver = createServer((req, res) => {
      req.resume();
      if (answer === "at once") res.end("");
      // "never": the app hangs; Slack gives up at its deadline.
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/slack/events`;
    slack.ackTimeoutMs = 150; // Slack's 3 s, shortened for the test
  });
  afterEach(async () => {
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
  });

  it("a slash command not acknowledged in time shows its user operation_timeout", async () => {
    const res = await slack.sendSlashCommand(url, {
      command: "/dr",
      text: "status",
      user_id: "U0ALICE01",
      channel_id: "C0OPS0001",
    });

    expect(res).toMatchObject({
      timedOut: true,
      status: 0,
      userError: '/dr failed with the error "operation_timeout"',
    });
    expect(slack.ephemerals).toEqual([
      expect.objectContaining({
        channel: "C0OPS0001",
        user: "U0ALICE01",
        text: '/dr failed with the error "operation_timeout"',
        via: "slack",
      }),
    ]);

    answer = "at once";
    const ok = await slack.sendSlashCommand(url, {
      command: "/dr",
      text: "status",
      user_id: "U0ALICE01",
      channel_id: "C0OPS0001",
    });
    expect(ok).toMatchObject({ timedOut: false, status: 200 });
    expect(ok.userError).toBeUndefined();
    expect(slack.ephemerals).toHaveLength(1);
  });

  it("so does a click", async () => {
    const res = await slack.sendInteraction(url, {
      type: "block_actions",
      user_id: "U0ALICE01",
      channel_id: "C0OPS0001",
      actions: [{ action_id: "approval_approve", value: "dr-12345678" }],
    });

    expect(res.timedOut).toBe(true);
    expect(res.userError).toBe('drbot failed with the error "operation_timeout"');
    expect(slack.ephemerals.map((e) => [e.user, e.via])).toEqual([["U0ALICE01", "slack"]]);
  });
});
