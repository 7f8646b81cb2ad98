// Scheduled drills and the overdue reminder, against the Slack stand-in and a real Redis.

import { afterEach, describe, expect, inject, it } from "vitest";
import { createSlackChat } from "../../src/adapters/slack.ts";
import { Authorizer } from "../../src/core/authorize.ts";
import { loadConfig } from "../../src/core/config.ts";
import { DrState } from "../../src/core/dr-state.ts";
import { createLogger } from "../../src/core/logger.ts";
import { remindIfStale, runScheduledDrill, type ScheduleDeps } from "../../src/jobs/schedules.ts";
import { createWorld, type World } from "../support/world.ts";

const ALERTS = "C0ALERTS";
const DAY = 86_400_000;

describe("drbot's schedules", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  async function deps(w: World, watchingSince: number): Promise<ScheduleDeps> {
    const config = loadConfig(w.env.DRBOT_CONFIG as string);
    const chat = createSlackChat({ token: w.env.SLACK_BOT_TOKEN as string, apiUrl: w.slack.apiUrl });
    return {
      config,
      dr: new DrState(w.redis as never, w.prefix),
      authorizer: new Authorizer(chat),
      queues: { "dr-drill": w.queue("dr-drill") } as never,
      chat,
      log: createLogger({ level: "error", destination: { write: () => {} } as never }),
      remindOnce: async (key, ttl) =>
        (await w.redis.set(`${w.prefix}:remind:${key}`, "1", "EX", ttl, "NX")) === "OK",
      watchingSince: async () => watchingSince,
    };
  }

  it("reminds once a day when no drill succeeded within drills.maxAge, and not on a fresh install", async () => {
    world = await createWorld(inject("redisUrl"), { configure: (c) => (c.dr = { alertChannel: ALERTS }) });
    const fresh = await deps(world, Date.now());
    expect(await remindIfStale(fresh)).toBe("recent drill");
    const old = await deps(world, Date.now() - 40 * DAY);
    expect(await remindIfStale(old)).toBe("reminded");
    expect(await remindIfStale(old)).toBe("reminded today");
    expect(world.slack.messages(ALERTS)).toHaveLength(1);
    expect(world.slack.messages(ALERTS)[0]?.text).toMatch(
      /DR drill overdue\*: No drill has succeeded in the 40d/,
    );
    await old.dr.setLastDrill({
      id: "dr-00000001",
      at: Date.now() - DAY,
      outcome: "succeeded",
      report: "dr/drills/x.md",
    });
    await world.redis.del(`${world.prefix}:remind:drill-reminder`);
    expect(await remindIfStale(old)).toBe("recent drill");
  });

  it("a scheduled drill posts its card to the alert channel as drbot's schedule", async () => {
    world = await createWorld(inject("redisUrl"), { configure: (c) => (c.dr = { alertChannel: ALERTS }) });
    const d = await deps(world, Date.now());
    const id = await runScheduledDrill(d);
    expect(id).toMatch(/^dr-[0-9a-f]{8}$/);
    expect(world.slack.messages(ALERTS)[0]?.text).toMatch(
      /^Scheduled DR drill for cli:drbot-schedule: queued/,
    );
    expect(await runScheduledDrill(d)).toMatch(/A drill is already running/);
  });
});
