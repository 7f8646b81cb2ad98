// GitHub's REST request budget as its answers report it (x-ratelimit-* headers): kept for the
// port's rateLimit(), mirrored to a gauge, and logged once per window when it runs low.
import type { RateLimit } from "../core/ports/git.ts";

export interface RateLimitObserver {
  /** Called with every new reading. */
  onReading?: (budget: RateLimit) => void;
  /** Called once per reset window when less than `lowFraction` of the budget is left. */
  onLow?: (budget: RateLimit) => void;
  /** Default 0.1. */
  lowFraction?: number;
}

export class RateLimitTracker {
  private last: RateLimit | undefined;
  private warnedWindow = 0;
  private readonly observer: RateLimitObserver;

  constructor(observer: RateLimitObserver = {}) {
    this.observer = observer;
  }

  /** Reads the headers of one answer; answers without a complete core budget are ignored. */
  observe(headers: Headers): void {
    const resource = headers.get("x-ratelimit-resource");
    // Search and GraphQL have budgets of their own; drbot spends the core one.
    if (resource !== null && resource !== "core") return;
    const remaining = integer(headers.get("x-ratelimit-remaining"));
    const limit = integer(headers.get("x-ratelimit-limit"));
    const reset = integer(headers.get("x-ratelimit-reset"));
    if (remaining === undefined || limit === undefined || reset === undefined) return;
    const budget = { remaining, limit, resetAt: new Date(reset * 1000) };
    this.last = budget;
    this.observer.onReading?.(budget);
    if (remaining < limit * (this.observer.lowFraction ?? 0.1) && this.warnedWindow !== reset) {
      this.warnedWindow = reset;
      this.observer.onLow?.(budget);
    }
  }

  current(): RateLimit | undefined {
    return this.last && { ...this.last, resetAt: new Date(this.last.resetAt) };
  }
}

function integer(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}
