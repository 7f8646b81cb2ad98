// Wraps a port so every call is timed and every failure counted by dependency and error code,
// without the adapters knowing about metrics.

import { DrbotError } from "./errors.ts";
import type { Metrics } from "./metrics.ts";

export function instrument<T extends object>(port: T, dependency: string, metrics: Metrics): T {
  return new Proxy(port, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      const method = String(property);
      return (...args: unknown[]) => {
        const stop = metrics.dependencyCallSeconds.startTimer({ dependency, method });
        let result: unknown;
        try {
          result = value.apply(target, args);
        } catch (err) {
          stop();
          metrics.dependencyErrors.inc({ dependency, code: codeOf(err) });
          throw err;
        }
        if (!(result instanceof Promise)) {
          stop();
          return result;
        }
        return result.then(
          (v) => {
            stop();
            return v;
          },
          (err: unknown) => {
            stop();
            metrics.dependencyErrors.inc({ dependency, code: codeOf(err) });
            throw err;
          },
        );
      };
    },
  });
}

function codeOf(err: unknown): string {
  return err instanceof DrbotError ? err.code : "unexpected";
}
