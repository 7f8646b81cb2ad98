// The optional queue dashboard (bull-board), off unless DRBOT_DASHBOARD_PATH is set, always
// behind basic auth. Loaded only when enabled, so it costs nothing otherwise.

import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Queue } from "bullmq";

export interface DashboardSettings {
  path: string;
  user: string;
  password: string;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export async function createDashboard(settings: DashboardSettings, queues: Queue[]): Promise<Handler> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }, { default: express }] =
    await Promise.all([
      import("@bull-board/api"),
      import("@bull-board/api/bullMQAdapter"),
      import("@bull-board/express"),
      import("express"),
    ]);
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(settings.path);
  // Read-only: editing a job's data or adding jobs here could bypass the approval gate.
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter,
  });
  const app = express();
  app.disable("x-powered-by");
  app.use(settings.path, serverAdapter.getRouter());
  const expected = Buffer.from(
    `Basic ${Buffer.from(`${settings.user}:${settings.password}`).toString("base64")}`,
  );
  return (req, res) => {
    const given = Buffer.from(req.headers.authorization ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401, {
        "www-authenticate": 'Basic realm="drbot queues", charset="UTF-8"',
        "content-type": "text/plain",
      });
      res.end("authentication required");
      return;
    }
    // Read-only by construction: nothing but reads reaches bull-board, whatever it would allow.
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      res.end("the queue dashboard is read-only");
      return;
    }
    app(req as never, res as never);
  };
}
