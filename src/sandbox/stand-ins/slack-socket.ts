// Slack's Socket Mode, for drbot's SocketModeReceiver: `apps.connections.open` (on the Web API
// fake, authorised by the app-level token) hands out a WebSocket URL; events arrive as envelopes
// the app must acknowledge with their `envelope_id`.

import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

export interface Envelope {
  envelope_id: string;
  type: "slash_commands" | "interactive" | "events_api";
  payload: Record<string, unknown>;
  accepts_response_payload: boolean;
}

export class FakeSocketMode {
  readonly appToken: string;
  private readonly server: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private readonly waiting = new Map<string, (ack: Record<string, unknown>) => void>();
  /** Envelopes sent and the acknowledgements received, for assertions. */
  readonly acks: Array<{ envelope_id: string; payload?: unknown; ms: number }> = [];

  constructor(appToken: string, server: WebSocketServer) {
    this.appToken = appToken;
    this.server = server;
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("message", (data) => {
        const message = JSON.parse(String(data)) as {
          envelope_id?: string;
          payload?: Record<string, unknown>;
        };
        if (message.envelope_id) this.waiting.get(message.envelope_id)?.(message.payload ?? {});
      });
      socket.send(
        JSON.stringify({
          type: "hello",
          num_connections: this.sockets.size,
          debug_info: { host: "fake" },
          connection_info: { app_id: "A0DRBOT01" },
        }),
      );
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/link`;
  }

  get connected(): number {
    return this.sockets.size;
  }

  /** Sends an envelope to a connected app and resolves with its acknowledgement payload. */
  async send(
    type: Envelope["type"],
    payload: Record<string, unknown>,
    timeoutMs = 3_000,
  ): Promise<{ payload: Record<string, unknown>; ms: number }> {
    const socket = [...this.sockets][0];
    if (!socket) throw new Error("no app is connected over Socket Mode");
    const envelope: Envelope = {
      envelope_id: randomUUID(),
      type,
      payload,
      accepts_response_payload: type !== "events_api",
    };
    const started = performance.now();
    const ack = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ack for ${type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiting.set(envelope.envelope_id, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
    });
    socket.send(JSON.stringify(envelope));
    const result = await ack;
    const ms = performance.now() - started;
    this.acks.push({ envelope_id: envelope.envelope_id, payload: result, ms });
    return { payload: result, ms };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function startFakeSocketMode(appToken: string): Promise<FakeSocketMode> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  return new FakeSocketMode(appToken, server);
}
