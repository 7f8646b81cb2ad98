// Structured JSON logs (pino): static messages, data in fields, child loggers per job/request.
// Known secret values are replaced wherever they appear, in any field.

import { type Logger, pino } from "pino";
import type { LogLevel } from "./env.ts";

export type { Logger };

export function createLogger(options: {
  level: LogLevel;
  secrets?: readonly string[];
  destination?: pino.DestinationStream;
}): Logger {
  const secrets = [...(options.secrets ?? [])].filter((s) => s.length >= 4);
  const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join("[redacted]"), text);
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
        // Belt and braces: a secret that slipped into a message or an error is still removed.
        streamWrite: secrets.length > 0 ? scrub : undefined,
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
