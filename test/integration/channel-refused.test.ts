// A request asked in a channel drbot was never invited to: Slack answers `not_in_channel` to its
// status card, so the requester is told at once what to do, and nothing is queued or reserved.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createWorld, USERS, type World } from "../support/world.ts";

const NO_BOT = "C0NOBOT01";

describe("a channel drbot is not a member of", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    await world.seedVolumes(1);
    world.slack.addChannel({
      id: NO_BOT,
      name: "no-bot",
      members: [USERS.requester, USERS.incident, USERS.approver1, USERS.approver2],
    });
  });
  afterAll(async () => {
    await world?.close();
  });

  it("refuses a volume request at once, naming /invite, and queues nothing", async () => {
    const answer = await world.answer(
      await world.slash(
        "create bu=sales app=shipping ns=shipping-dev pvc=uninvited size=1",
        USERS.requester,
        "/volume",
        NO_BOT,
      ),
    );
    expect(answer).toMatch(/cannot post its status card in this channel[\s\S]*`\/invite @drbot`/);
    expect(await world.queue("volume-create").getJobCounts()).toMatchObject({
      waiting: 0,
      active: 0,
      delayed: 0,
    });
    expect(world.slack.messages(NO_BOT)).toHaveLength(0);
  });

  it("refuses a failover and a drill at once, and leaves the DR slot free for the right channel", async () => {
    expect(await world.answer(await world.slash("failover", USERS.incident, "/dr", NO_BOT))).toMatch(
      /drbot cannot post in this channel \(it is not a member\): invite it with `\/invite @drbot`[\s\S]*Nothing was started/,
    );
    expect(await world.answer(await world.slash("drill", USERS.incident, "/dr", NO_BOT))).toMatch(
      /drbot cannot post in this channel: invite it with `\/invite @drbot`/,
    );
    expect(world.slack.messages(NO_BOT)).toHaveLength(0);
    // The refused failover released its reservation: the same request in drbot's channel plans.
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    expect((await world.approvalCard()).id).toMatch(/^dr-[0-9a-f]{8}$/);
  });
});
