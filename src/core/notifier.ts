// Posts job progress to chat without ever slowing or failing a job. Card updates are coalesced
// per message (only the newest state is sent, at most one update per `minIntervalMs`), thread
// replies are queued in order, and when Slack rate-limits (429) or fails, delivery backs off and
// catches up later. The job never awaits Slack.

import { setTimeout as sleep } from "node:timers/promises";
import { DrbotError, isTransient } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Blocks, ChatPort, MessageRef } from "./ports/chat.ts";

export interface NotifierOptions {
  /** Minimum time between two updates of the same message. */
  minIntervalMs?: number;
  /** Back-off after a failed call when Slack gave no Retry-After. */
  retryDelayMs?: number;
}

interface CardState {
  channel: string;
  ts: string | undefined;
  text: string;
  blocks: Blocks | undefined;
  dirty: boolean;
  lastSentAt: number;
  onPosted: ((ref: MessageRef) => void) | undefined;
  replies: Array<{ text: string }>;
  /** After a failure of this card alone (not a rate limit), when to try it again. */
  retryAt: number;
  /** Slack refused it for good (no such channel, not invited): nothing more is sent for it. */
  dead: boolean;
}

export class Notifier {
  private readonly chat: ChatPort;
  private readonly log: Logger;
  private readonly minIntervalMs: number;
  private readonly retryDelayMs: number;
  private readonly cards = new Map<string, CardState>();
  private pausedUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Calls made, for metrics and benchmarks. */
  calls = 0;

  constructor(chat: ChatPort, log: Logger, options: NotifierOptions = {}) {
    this.chat = chat;
    this.log = log;
    this.minIntervalMs = options.minIntervalMs ?? 1_000;
    this.retryDelayMs = options.retryDelayMs ?? 2_000;
  }

  /**
   * The card of `key` should now read `text`/`blocks`. When no message exists yet (`ts`
   * undefined) one is posted and `onPosted` learns where.
   */
  card(
    key: string,
    where: { channel: string; ts: string | undefined },
    text: string,
    blocks?: Blocks,
    onPosted?: (ref: MessageRef) => void,
  ): void {
    const existing = this.cards.get(key);
    const state: CardState = existing ?? {
      channel: where.channel,
      ts: where.ts,
      text,
      blocks,
      dirty: true,
      lastSentAt: 0,
      onPosted,
      replies: [],
      retryAt: 0,
      dead: false,
    };
    state.text = text;
    state.blocks = blocks;
    state.dirty = true;
    if (where.ts) state.ts ??= where.ts;
    if (onPosted) state.onPosted = onPosted;
    this.cards.set(key, state);
    this.schedule();
  }

  /** A reply in the card's thread, posted after the card exists, in order. */
  reply(key: string, text: string): void {
    const state = this.cards.get(key);
    if (!state) return;
    state.replies.push({ text });
    this.schedule();
  }

  /** Sends everything pending now (minimum interval ignored), within `timeoutMs`. */
  async drain(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending() && Date.now() < deadline) {
      await this.flush(true);
      if (this.pending())
        await sleep(
          Math.min(Math.max(this.pausedUntil - Date.now(), 50), Math.max(deadline - Date.now(), 0)),
        );
    }
  }

  /**
   * Waits (at most `timeoutMs`) until everything about one card is delivered: a job's final
   * state is sent before the job is marked complete, so a worker dying right after still leaves
   * a truthful card. Never throws; a Slack outage only shortens the wait to the timeout.
   */
  async settle(key: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.cards.get(key);
      if (!s || s.dead || (!s.dirty && s.replies.length === 0)) return true;
      if (Date.now() >= deadline) return false;
      if (Date.now() >= this.pausedUntil) await this.flush(true);
      await sleep(Math.min(50, Math.max(deadline - Date.now(), 0)));
    }
  }

  /**
   * Posts (or updates, when `ts` is known) a message and waits until Slack has it; returns where
   * it is, or undefined when Slack could not be reached in time (delivery goes on in the
   * background). `onPosted` hears where a new message is the moment Slack answers.
   */
  async deliver(
    key: string,
    where: { channel: string; ts: string | undefined },
    text: string,
    blocks?: Blocks,
    timeoutMs = 10_000,
    onPosted?: (ref: MessageRef) => void,
  ): Promise<MessageRef | undefined> {
    let posted: MessageRef | undefined = where.ts ? { channel: where.channel, ts: where.ts } : undefined;
    this.card(key, where, text, blocks, (ref) => {
      posted = ref;
      onPosted?.(ref);
    });
    await this.settle(key, timeoutMs);
    return (
      posted ??
      (this.cards.get(key)?.ts
        ? { channel: where.channel, ts: this.cards.get(key)?.ts as string }
        : undefined)
    );
  }

  /** Forgets a finished card once everything about it has been delivered. */
  forget(key: string): void {
    const s = this.cards.get(key);
    if (s && (s.dead || (!s.dirty && s.replies.length === 0))) this.cards.delete(key);
  }

  pending(): boolean {
    for (const s of this.cards.values()) if (!s.dead && (s.dirty || s.replies.length > 0)) return true;
    return false;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delay = 0): void {
    if (this.timer) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.flush(false);
      },
      Math.max(delay, this.pausedUntil - Date.now(), 0),
    );
    this.timer.unref();
  }

  private flush(force: boolean): Promise<void> {
    this.flushing ??= this.flushOnce(force).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushOnce(force: boolean): Promise<void> {
    let wait = Number.POSITIVE_INFINITY;
    for (const [key, s] of this.cards) {
      if (Date.now() < this.pausedUntil) break;
      if (s.dead) continue;
      if (Date.now() < s.retryAt) {
        wait = Math.min(wait, s.retryAt - Date.now());
        continue;
      }
      try {
        if (s.dirty) {
          const due = s.lastSentAt + this.minIntervalMs;
          if (!s.ts || force || Date.now() >= due) {
            await this.sendCard(s);
          } else {
            wait = Math.min(wait, due - Date.now());
          }
        }
        // Thread replies need the card's ts.
        while (s.ts && s.replies.length > 0) {
          const next = s.replies[0] as { text: string };
          this.calls++;
          await this.chat.post(s.channel, next.text, undefined, s.ts);
          s.replies.shift();
        }
      } catch (err) {
        this.backOff(err, key, s);
      }
    }
    if (Date.now() < this.pausedUntil) this.schedule();
    else if (this.pending() && Number.isFinite(wait)) this.schedule(wait);
    else if (this.pending()) this.schedule(this.minIntervalMs);
  }

  private async sendCard(s: CardState): Promise<void> {
    const text = s.text;
    const blocks = s.blocks;
    s.dirty = false;
    try {
      this.calls++;
      if (s.ts) {
        await this.chat.update({ channel: s.channel, ts: s.ts }, text, blocks);
      } else {
        const ref = await this.chat.post(s.channel, text, blocks);
        s.ts = ref.ts;
        s.onPosted?.(ref);
      }
      s.lastSentAt = Date.now();
    } catch (err) {
      s.dirty = true;
      throw err;
    }
  }

  /**
   * A rate limit pauses all delivery (Slack limits the workspace, not one message); any other
   * passing failure delays only this card; a permanent refusal (the channel does not exist, the
   * bot is not in it) drops the card so it cannot hold up the others.
   */
  private backOff(err: unknown, key: string, card: CardState): void {
    const rateLimited =
      err instanceof DrbotError && (err.retryAfterMs !== undefined || err.code === "slack.ratelimited");
    if (rateLimited) {
      this.pausedUntil = Date.now() + ((err as DrbotError).retryAfterMs ?? this.retryDelayMs);
      this.log.warn(
        { err, card: key, retryInMs: this.pausedUntil - Date.now() },
        "chat rate-limited, will catch up",
      );
    } else if (isTransient(err)) {
      card.retryAt = Date.now() + this.retryDelayMs;
      this.log.warn({ err, card: key, retryInMs: this.retryDelayMs }, "chat delivery failed, will catch up");
    } else {
      card.dead = true;
      card.dirty = false;
      card.replies = [];
      this.log.error(
        { err, card: key, channel: card.channel },
        "chat refused this card for good; dropping it",
      );
    }
  }
}
