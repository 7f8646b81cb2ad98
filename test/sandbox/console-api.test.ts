// The console's own API: every request it cannot act on is refused with a status and a sentence
// the page shows, nothing is sent to drbot for it, and the page is pushed what changed.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { WebClient } from "@slack/web-api";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { CHANNEL, PEOPLE } from "../../src/sandbox/people.ts";
import { type Sandbox, startSandbox } from "../../src/sandbox/sandbox.ts";
import type { SlackChange } from "../../src/sandbox/stand-ins/slack.ts";

describe("the console API", () => {
  let dir: string;
  let sandbox: Sandbox;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drbot-console-api-"));
    sandbox = await startSandbox({
      dir,
      port: 0,
      env: { REDIS_URL: inject("redisUrl") },
      redisPrefix: `t${Math.random().toString(16).slice(2, 10)}`,
      timing: { replicateEveryMs: 200, bindDelayMs: 20, cardUpdateMs: 50, pollMs: 50, worldRefreshMs: 100 },
      logDestination: new Writable({ write: (_c, _e, done) => done() }),
    });
    vi.spyOn(sandbox.slack, "sendSlashCommand");
    vi.spyOn(sandbox.slack, "sendInteraction");
  });
  afterAll(async () => {
    await sandbox?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(new URL(path, sandbox.url), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error?: string; [k: string]: unknown } };
  };
  /** Requests the console had the Slack stand-in send to drbot (slash commands, clicks, submissions). */
  const sentToDrbot = () =>
    vi.mocked(sandbox.slack.sendSlashCommand).mock.calls.length +
    vi.mocked(sandbox.slack.sendInteraction).mock.calls.length;

  it("refuses what it cannot act on, with a reason, and sends nothing to drbot", async () => {
    const before = sentToDrbot();
    const as = PEOPLE.requester.id;
    const cases: Array<[string, unknown, number, RegExp]> = [
      [
        "/api/command",
        { as: "U0NOBODY", text: "/dr status" },
        400,
        /Unknown person .*pick one of Riya Patel/,
      ],
      ["/api/command", { as, text: "   " }, 400, /Type a command/],
      ["/api/command", { as, text: `/dr ${"x".repeat(4_000)}` }, 400, /at most 4000/],
      ["/api/command", { as, text: "hello" }, 400, /slash commands only/],
      ["/api/command", { as, text: 42 }, 400, /text: expected text/],
      [
        "/api/click",
        { as, ts: "1.000001", actionId: "approval_approve", value: "dr-00000000" },
        404,
        /not in the channel/,
      ],
      ["/api/view/submit", { as, viewId: "V0NOTOPEN", values: {} }, 404, /not open/],
      ["/api/view/submit", { as, viewId: "V0NOTOPEN", values: [] }, 400, /values: expected/],
      ["/api/view/close", { as, viewId: "V0NOTOPEN" }, 404, /not open/],
      [
        "/api/controls",
        { action: "nuke-everything" },
        400,
        /action: expected one of fail-primary, restore-primary/,
      ],
      ["/api/nothing", {}, 404, /Nothing at POST \/api\/nothing/],
    ];
    for (const [path, body, status, error] of cases) {
      const res = await post(path, body);
      expect({ path, status: res.status }).toEqual({ path, status });
      expect(res.body.error).toMatch(error);
    }
    expect((await post("/api/command", "{not json")).body.error).toMatch(/not valid JSON/);
    const form = await fetch(new URL("/api/command", sandbox.url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "text=/dr status",
    });
    expect(form.status).toBe(415);
    // Another site's page in the same browser cannot drive the console.
    const cross = await post("/api/controls", { action: "fail-primary" }, { origin: "https://evil.example" });
    expect(cross.status).toBe(403);
    expect(sandbox.controls.state().primaryDown).toBe(false);
    // Only its own files are served.
    for (const path of ["/static/../sandbox.ts", "/static/%2e%2e/sandbox.ts", "/static/server.ts"])
      expect((await fetch(new URL(path, sandbox.url))).status).toBe(404);
    expect(sentToDrbot()).toBe(before);
  });

  it("answers an unknown slash command as Slack does, only to the person, without asking drbot", async () => {
    const before = sentToDrbot();
    expect((await post("/api/command", { as: PEOPLE.outsider.id, text: "/deploy prod" })).status).toBe(200);
    expect(sentToDrbot()).toBe(before);
    const seen = await firstEvent(PEOPLE.outsider.id, "channel");
    expect(seen.ephemerals.map((e: { text: string }) => e.text)).toContain(
      '`/deploy` is not a valid command. In Slack, all messages that start with the "/" character are interpreted as commands.',
    );
    const other = await firstEvent(PEOPLE.requester.id, "channel");
    expect(JSON.stringify(other.ephemerals)).not.toContain("/deploy");
  });

  it("pushes a channel change to an open page at once", async () => {
    const changes: SlackChange[] = [];
    const stop = sandbox.slack.onChange((c) => changes.push(c));
    const events = await fetch(new URL(`/api/events?as=${PEOPLE.approver1.id}`, sandbox.url));
    const reader = events.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const next = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the event stream ended");
        text += decoder.decode(value);
      }
    };
    await next(/event: world\n/);
    // A message posted through the Slack Web API, as drbot posts its cards.
    const web = new WebClient(sandbox.slackBotToken, { slackApiUrl: sandbox.slack.apiUrl });
    await web.chat.postMessage({ channel: CHANNEL.id, text: "a card from outside the console" });
    await next(/a card from outside the console/);
    await reader.cancel();
    stop();
    expect(changes.map((c) => c.kind)).toContain("message");
  });

  async function firstEvent(as: string, name: string) {
    const res = await fetch(new URL(`/api/events?as=${as}`, sandbox.url));
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the event stream ended");
      text += decoder.decode(value);
      const m = new RegExp(`event: ${name}\\ndata: (.*)\\n\\n`).exec(text);
      if (m?.[1]) {
        await reader.cancel();
        return JSON.parse(m[1]);
      }
    }
  }
});
