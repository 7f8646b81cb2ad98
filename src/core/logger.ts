// Structured JSON logs (pino): static messages, data in fields, child loggers per job/request.
// Every secret the process knows (core/secrets.ts) is replaced wherever it appears, in any field.

import { type Logger, pino } from "pino";
import type { LogLevel } from "./env.ts";
import { registerSecrets, scrub } from "./secrets.ts";

export type { Logger };

export function createLogger(options: {
  level: LogLevel;
  secrets?: readonly string[];
  destination?: pino.DestinationStream;
}): Logger {
  registerSecrets(options.secrets ?? []);
  return pino(
    {
      level: options.level,
      base: { service: "drbot" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "*.token",
          "*.password",
          "*.authorization",
          "*.headers.authorization",
          "*.privateKey",
          "*.signingSecret",
        ],
        censor: "[redacted]",
      },
      hooks: {
        // Belt and braces: a secret that slipped into a message or an error is still removed,
        // also in its JSON-escaped and line-split forms (see secrets.ts).
        streamWrite: scrub,
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
