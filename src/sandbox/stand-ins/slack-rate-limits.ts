// Slack's Web API rate limits: each method belongs to a tier (Tier 1: 1+ calls a minute, Tier 2:
// 20+, Tier 3: 50+, Tier 4: 100+), counted per token and method, with bursts up to a minute's
// worth; chat.postMessage allows about one message a second per channel, with short bursts. A
// call over the limit is answered HTTP 429 with Retry-After (seconds), as Slack does.

export type Tier = 1 | 2 | 3 | 4;

const PER_MINUTE: Record<Tier, number> = { 1: 1, 2: 20, 3: 50, 4: 100 };

/** The tier of every method the stand-in serves (Slack's method reference); others count as Tier 3. */
export const METHOD_TIERS: Readonly<Record<string, Tier>> = {
  "apps.connections.open": 1,
  "usergroups.users.list": 2,
  "chat.update": 3,
  "conversations.info": 3,
  "chat.postEphemeral": 4,
  "chat.getPermalink": 4,
  "views.open": 4,
  "views.update": 4,
  "users.info": 4,
  "auth.test": 4,
};

/** chat.postMessage: one a second per channel, a burst of a few first. */
export const POST_MESSAGE_PER_SECOND = 1;
export const POST_MESSAGE_BURST = 5;

interface Bucket {
  tokens: number;
  at: number;
}

export class SlackRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * Counts one call; undefined when it is allowed, else the seconds the caller must wait
   * (Retry-After). `channel` matters for chat.postMessage only.
   */
  take(token: string, method: string, channel?: string, now = Date.now()): number | undefined {
    const perChannel = method === "chat.postMessage";
    const key = perChannel ? `${token} ${method} ${channel ?? ""}` : `${token} ${method}`;
    const capacity = perChannel ? POST_MESSAGE_BURST : PER_MINUTE[METHOD_TIERS[method] ?? 3];
    const perMs = perChannel ? POST_MESSAGE_PER_SECOND / 1000 : capacity / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
  }

  reset(): void {
    this.buckets.clear();
  }
}
