// The console's HTTP side: the page and its ES modules (no bundler), a JSON API that validates
// what it is sent and answers every refusal with a message the page shows, and one Server-Sent
// Events stream per open page that pushes the channel (as the person picked sees it) whenever the
// Slack stand-in changes, and the world beside it whenever it looks different.

import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { CONTROL_ACTIONS, type Controls, isControlAction } from "../controls.ts";
import { PEOPLE_LIST, type Person } from "../people.ts";
import type { FakeSlack } from "../stand-ins/slack.ts";
import { type ChannelConsole, ConsoleInputError, viewerOf } from "./channel.ts";
import type { WorldReader } from "./world.ts";

const PUBLIC = new URL("./public/", import.meta.url);
const STATIC: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "blocks.js": "text/javascript; charset=utf-8",
  "mrkdwn.js": "text/javascript; charset=utf-8",
  "world.js": "text/javascript; charset=utf-8",
  "dom.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};
const MAX_BODY = 64 * 1024;

export interface ConsoleServerDeps {
  slack: FakeSlack;
  channel: ChannelConsole;
  world: WorldReader;
  controls: Controls;
  /** How often the world is looked at while a page is open. */
  worldRefreshMs: number;
  onError?(err: unknown): void;
}

/** An open page: its event stream and who it shows the channel to. */
interface OpenPage {
  res: ServerResponse;
  viewer: Person;
}

export class ConsoleServer {
  private readonly deps: ConsoleServerDeps;
  private readonly pages = new Set<OpenPage>();
  private channelPush: NodeJS.Timeout | undefined;
  private worldTimer: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout;
  private lastWorld = "";
  private readonly stopListening: () => void;

  constructor(deps: ConsoleServerDeps) {
    this.deps = deps;
    this.stopListening = deps.slack.onChange(() => this.channelChanged());
    deps.controls.onChange(() => void this.refreshWorld(true));
    this.keepAlive = setInterval(() => {
      for (const c of this.pages) c.res.write(": keep-alive\n\n");
    }, 15_000);
    this.keepAlive.unref();
  }

  /** The channel changed (the Slack stand-in, or the console's own answers): push it soon, once. */
  channelChanged(): void {
    if (this.channelPush) return;
    this.channelPush = setTimeout(() => {
      this.channelPush = undefined;
      for (const c of this.pages) this.send(c, "channel", this.deps.channel.view(c.viewer));
    }, 20);
  }

  close(): void {
    this.stopListening();
    clearTimeout(this.channelPush);
    clearTimeout(this.worldTimer);
    clearInterval(this.keepAlive);
    for (const c of this.pages) c.res.end();
    this.pages.clear();
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err: unknown) => {
      if (err instanceof ConsoleInputError) return json(res, err.status, { error: err.message });
      this.deps.onError?.(err);
      json(res, 500, { error: `The sandbox console failed: ${(err as Error).message}` });
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://console");
    const path = url.pathname;
    if (!sameOrigin(req)) throw new ConsoleInputError(403, "Requests must come from the console's own page.");
    if (req.method === "GET") {
      if (path === "/") return serveStatic(res, "index.html");
      if (path === "/favicon.ico") {
        res.writeHead(204, SECURITY_HEADERS);
        res.end();
        return;
      }
      if (path.startsWith("/static/")) return serveStatic(res, path.slice("/static/".length));
      if (path === "/api/people") return json(res, 200, { people: PEOPLE_LIST });
      if (path === "/api/events") return this.subscribe(req, res, viewerOf(url.searchParams.get("as")));
      if (path === "/api/world") return json(res, 200, await this.deps.world.read());
      if (path === "/api/git/commit") {
        const text = await this.deps.world.commit(url.searchParams.get("sha") ?? "");
        if (text === undefined) throw new ConsoleInputError(404, "No such commit in the repository.");
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS });
        res.end(text);
        return;
      }
    }
    if (req.method === "POST") {
      const body = await readJson(req);
      const viewer = () => viewerOf(body.as);
      if (path === "/api/command") {
        await this.deps.channel.command(viewer(), requireString(body, "text"));
        return json(res, 200, { ok: true });
      }
      if (path === "/api/click") {
        await this.deps.channel.click(viewer(), {
          ts: requireString(body, "ts"),
          actionId: requireString(body, "actionId"),
          ...(body.value === undefined ? {} : { value: requireString(body, "value") }),
        });
        return json(res, 200, { ok: true });
      }
      if (path === "/api/view/submit") {
        const values = body.values;
        if (!values || typeof values !== "object" || Array.isArray(values))
          throw new ConsoleInputError(400, "values: expected the form's fields by block id.");
        const result = await this.deps.channel.submit(
          viewer(),
          requireString(body, "viewId"),
          values as Record<string, unknown>,
        );
        return json(res, 200, result);
      }
      if (path === "/api/view/close") {
        this.deps.channel.closeView(viewer(), requireString(body, "viewId"));
        return json(res, 200, { ok: true });
      }
      if (path === "/api/controls") {
        if (!isControlAction(body.action))
          throw new ConsoleInputError(
            400,
            `action: expected one of ${CONTROL_ACTIONS.join(", ")}, got ${JSON.stringify(body.action)}`,
          );
        return json(res, 200, { controls: this.deps.controls.apply(body.action) });
      }
    }
    throw new ConsoleInputError(404, `Nothing at ${req.method} ${path.slice(0, 80)}.`);
  }

  private async subscribe(req: IncomingMessage, res: ServerResponse, viewer: Person): Promise<void> {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      connection: "keep-alive",
      ...SECURITY_HEADERS,
    });
    const page: OpenPage = { res, viewer };
    this.pages.add(page);
    req.on("close", () => {
      this.pages.delete(page);
      if (this.pages.size === 0) {
        clearTimeout(this.worldTimer);
        this.worldTimer = undefined;
      }
    });
    this.send(page, "channel", this.deps.channel.view(viewer));
    try {
      this.send(page, "world", await this.deps.world.read());
    } catch (err) {
      this.problem(err);
    }
    if (!this.worldTimer) this.scheduleWorld();
  }

  private scheduleWorld(): void {
    clearTimeout(this.worldTimer);
    this.worldTimer = setTimeout(() => {
      void this.refreshWorld(false).finally(() => {
        if (this.pages.size > 0) this.scheduleWorld();
        else this.worldTimer = undefined;
      });
    }, this.deps.worldRefreshMs);
  }

  private async refreshWorld(force: boolean): Promise<void> {
    if (this.pages.size === 0) return;
    try {
      const world = await this.deps.world.read();
      const text = JSON.stringify(world);
      if (!force && text === this.lastWorld) return;
      this.lastWorld = text;
      for (const c of this.pages) this.write(c, "world", text);
    } catch (err) {
      this.problem(err);
    }
  }

  /** The world could not be read (Redis gone, a folder unreadable): every page says so. */
  private problem(err: unknown): void {
    this.deps.onError?.(err);
    const message = `The outside systems could not be read: ${(err as Error).message}`;
    for (const c of this.pages) this.send(c, "problem", { message });
  }

  private send(page: OpenPage, event: string, data: unknown): void {
    this.write(page, event, JSON.stringify(data));
  }

  private write(page: OpenPage, event: string, text: string): void {
    // JSON has no raw line breaks, so one data line carries it.
    page.res.write(`event: ${event}\ndata: ${text}\n\n`);
  }
}

async function serveStatic(res: ServerResponse, name: string): Promise<void> {
  const type = STATIC[name];
  if (!type) throw new ConsoleInputError(404, "No such file.");
  const content = await readFile(new URL(name, PUBLIC));
  res.writeHead(200, { "content-type": type, ...SECURITY_HEADERS });
  res.end(content);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

/**
 * The console listens on 127.0.0.1 only; a page elsewhere could still make the browser post to
 * it, and a DNS-rebinding page could even read it. Only requests addressed to this host by name
 * (127.0.0.1, localhost) and, when the browser says where they come from, from this origin pass.
 */
function sameOrigin(req: IncomingMessage): boolean {
  const host = req.headers.host ?? "";
  if (!/^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(host)) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return origin === `http://${host}`;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!(req.headers["content-type"] ?? "").startsWith("application/json"))
    throw new ConsoleInputError(415, "Send JSON (content-type: application/json).");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ConsoleInputError(413, "The request is larger than 64 KiB.");
    chunks.push(chunk as Buffer);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new ConsoleInputError(400, "The request body is not valid JSON.");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new ConsoleInputError(400, "The request body must be a JSON object.");
  return parsed as Record<string, unknown>;
}

function requireString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== "string" || value.length > 10_000)
    throw new ConsoleInputError(400, `${field}: expected text.`);
  return value;
}
