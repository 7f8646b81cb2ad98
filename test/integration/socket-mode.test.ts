// Socket Mode (SLACK_APP_TOKEN set): no public endpoint; commands and clicks arrive over a
// WebSocket and are acknowledged there.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type FakeSocketMode, startFakeSocketMode } from "../../src/sandbox/stand-ins/slack-socket.ts";
import { CHANNEL, createWorld, USERS, type World } from "../support/world.ts";

const APP_TOKEN = "xapp-1-test-app-token";

describe("Socket Mode", () => {
  let world: World;
  let socket: FakeSocketMode;

  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    socket = await startFakeSocketMode(APP_TOKEN);
    world.slack.appToken = APP_TOKEN;
    world.slack.socketModeUrl = socket.url;
    world.env.SLACK_APP_TOKEN = APP_TOKEN;
    delete world.env.SLACK_SIGNING_SECRET;
    world.secrets.push(APP_TOKEN);
    await world.start();
    await world.until("the app to connect", () => (socket.connected > 0 ? true : undefined));
  });
  afterAll(async () => {
    await world?.close();
    await socket?.close();
  });

  const command = (text: string, user: string = USERS.requester) => {
    const responseUrl = world.slack.issueResponseUrl({ kind: "command", channel: CHANNEL, user });
    return socket.send("slash_commands", {
      command: "/volume",
      text,
      user_id: user,
      user_name: user.toLowerCase(),
      channel_id: CHANNEL,
      team_id: "T0DRBOT01",
      trigger_id: world.slack.issueTriggerId(user),
      response_url: responseUrl,
      api_app_id: "A0DRBOT01",
    });
  };

  it("answers a slash command in its acknowledgement", async () => {
    // In time: the stand-in rejects an acknowledgement later than Slack's 3 s.
    const ack = await command("help");
    expect(ack.payload).toMatchObject({
      response_type: "ephemeral",
      text: expect.stringContaining("/volume create bu="),
    });
  });

  it("creates a volume requested over the socket", async () => {
    const ack = await command("create bu=sales app=socket ns=dev pvc=data size=2");
    expect(String(ack.payload.text)).toMatch(/^Checking your request/);
    await world.until("success", () =>
      world.cards().find((m) => /sales\.socket\.dev\.data \(2Gi\).*succeeded/.test(m.text)),
    );
    expect(world.kube.primary.object("PersistentVolume", "sales.socket.dev.data")).toBeDefined();
  });

  it("handles a button click over the socket", async () => {
    const responseUrl = world.slack.issueResponseUrl({
      kind: "action",
      channel: CHANNEL,
      user: USERS.approver1,
    });
    await socket.send("interactive", {
      type: "block_actions",
      user: { id: USERS.approver1, name: "approver" },
      team: { id: "T0DRBOT01" },
      api_app_id: "A0DRBOT01",
      channel: { id: CHANNEL },
      container: { type: "message", channel_id: CHANNEL },
      trigger_id: world.slack.issueTriggerId(USERS.approver1),
      response_url: responseUrl,
      actions: [
        {
          type: "button",
          action_id: "approval_approve",
          block_id: "approval",
          value: "dr-00000000",
          action_ts: "1",
        },
      ],
    });
    const reply = await world.until("the ephemeral reply", () =>
      world.slack.responses.find((r) => r.url === responseUrl),
    );
    expect(reply.text).toMatch(/does not exist/);
  });
});
