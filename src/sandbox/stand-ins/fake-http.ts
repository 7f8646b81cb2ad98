// The shared skeleton of every fake outside system: a real HTTP server on 127.0.0.1 with a
// request log, added latency and injectable faults. Each fake supplies only its protocol handler.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface RecordedRequest {
  method: string;
  /** The request target exactly as sent (path and query, percent-encoding untouched): signatures cover it. */
  url: string;
  /** Path without the query string, percent-decoding left to the handler. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface FakeReply {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string or Buffer as is; a Readable is streamed (backpressure kept). */
  body?: unknown;
}

/** A fault answers matching requests instead of the protocol handler (or cuts the connection). */
export interface FaultRule {
  method?: string;
  path?: string | RegExp;
  match?: (req: RecordedRequest) => boolean;
  reply: FakeReply | "reset";
  /** How many requests it answers before it disappears; unlimited when unset. */
  times?: number;
  /** Extra latency for matching requests only, in milliseconds. */
  delayMs?: number;
  /** Matching requests wait until this settles (a test lets them through when it chooses). */
  holdUntil?: Promise<unknown>;
}

export type Handler = (req: RecordedRequest) => FakeReply | Promise<FakeReply>;

export class FakeHttpServer {
  readonly name: string;
  readonly requests: RecordedRequest[] = [];
  /** TCP connections accepted so far (clients without keep-alive open one per request). */
  connections = 0;
  /** Added to every request before it is answered, in milliseconds. */
  latencyMs = 0;
  private readonly handler: Handler;
  private readonly faults: FaultRule[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private baseUrl = "";

  constructor(name: string, handler: Handler) {
    this.name = name;
    this.handler = handler;
  }

  get url(): string {
    if (!this.baseUrl) throw new Error(`${this.name} fake is not started`);
    return this.baseUrl;
  }

  injectFault(rule: FaultRule): void {
    this.faults.push({ ...rule });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Requests whose method and path match, for assertions. */
  calls(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === "string" ? r.path === path : path.test(r.path)),
    );
  }

  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://fake");
        const recorded: RecordedRequest = {
          method: req.method ?? "GET",
          url: req.url ?? "/",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          at: Date.now(),
        };
        this.requests.push(recorded);
        this.answer(recorded)
          .then((reply) => {
            if (reply === "reset") {
              req.socket.destroy();
              return;
            }
            const { body, contentType } = encode(reply.body);
            res.writeHead(reply.status, {
              ...(contentType ? { "content-type": contentType } : {}),
              ...reply.headers,
            });
            if (body instanceof Readable) pipeline(body, res).catch(() => res.destroy());
            else res.end(body);
          })
          .catch((err: unknown) => {
            res.writeHead(500, { "content-type": "text/plain" });
            res.end(`${this.name} fake failed: ${err instanceof Error ? err.stack : String(err)}`);
          });
      });
    });
    server.on("connection", (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async answer(req: RecordedRequest): Promise<FakeReply | "reset"> {
    if (this.latencyMs > 0) await sleep(this.latencyMs);
    const fault = this.takeFault(req);
    if (fault) {
      if (fault.delayMs) await sleep(fault.delayMs);
      await fault.holdUntil?.catch(() => {});
      return fault.reply;
    }
    return this.handler(req);
  }

  private takeFault(req: RecordedRequest): FaultRule | undefined {
    const index = this.faults.findIndex(
      (f) =>
        (!f.method || f.method === req.method) &&
        (!f.path || (typeof f.path === "string" ? f.path === req.path : f.path.test(req.path))) &&
        (!f.match || f.match(req)),
    );
    if (index < 0) return undefined;
    const fault = this.faults[index] as FaultRule;
    if (fault.times !== undefined) {
      fault.times -= 1;
      if (fault.times <= 0) this.faults.splice(index, 1);
    }
    return fault;
  }
}

function encode(body: unknown): { body: string | Buffer | Readable | undefined; contentType?: string } {
  if (body === undefined) return { body: undefined };
  if (typeof body === "string" || Buffer.isBuffer(body) || body instanceof Readable) return { body };
  return { body: JSON.stringify(body), contentType: "application/json" };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function json(status: number, body: unknown, headers?: Record<string, string>): FakeReply {
  return { status, body, ...(headers ? { headers } : {}) };
}
