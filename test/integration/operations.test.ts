// What an operator relies on: health and readiness probes, Prometheus metrics after real work,
// and no secret value anywhere drbot writes (logs, Slack, job data, Git).

import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { type RedisServer, startRedisServer } from "../support/redis-server.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

describe("operations", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    // Real work of both kinds, with approvals.
    await world.seedVolumes(3);
    await world.answer(await world.slash("create bu=sales app=ops ns=ops pvc=data size=1"));
    await world.until("the volume", () =>
      world.cards().find((m) => /sales\.ops\.ops\.data.*succeeded/.test(m.text)),
    );
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard();
    await world.click(USERS.approver1, "approval_approve", id, card.ts);
    await world.click(USERS.approver2, "approval_approve", id, card.ts);
    await world.until("the failover", () =>
      world.cards().find((m) => /^DR failover for .*: succeeded/.test(m.text)),
    );
  });
  afterAll(async () => {
    await world?.close();
  });

  it("answers the probes", async () => {
    const health = await fetch(`${world.service.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", role: "serve" });
    const ready = await fetch(`${world.service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { config: "ok", redis: "ok", workers: "ok" } });
    expect((await fetch(`${world.service.url}/nope`)).status).toBe(404);
  });

  it("exposes jobs, steps, approvals, dependency calls and replication lag as Prometheus metrics", async () => {
    const res = await fetch(`${world.service.url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^drbot_jobs_total\{kind="volume-create",outcome="succeeded"\} 1$/m);
    expect(text).toMatch(/^drbot_jobs_total\{kind="dr-failover",outcome="succeeded"\} 1$/m);
    expect(text).toMatch(
      /^drbot_step_duration_seconds_count\{kind="volume-create",step="commit",status="done"\} 1$/m,
    );
    expect(text).toMatch(/^drbot_approval_wait_seconds_count\{action="failover",outcome="approved"\} 1$/m);
    expect(text).toMatch(
      /^drbot_dependency_call_duration_seconds_count\{dependency="kubernetes-secondary",method="apply"\} \d+$/m,
    );
    expect(text).toMatch(/^drbot_commands_total\{command="\/volume create",result="accepted"\} 1$/m);
    expect(text).toMatch(/^drbot_replication_lag_seconds\{file_system_id="fs-0bbb2222"\} \d+/m);
    // The REST budget GitHub reported last; nothing has called GitHub since the failover.
    expect(text).toMatch(
      new RegExp(`^drbot_github_rate_limit_remaining ${world.github.budget.remaining}$`, "m"),
    );
    expect(world.github.budget.remaining).toBeLessThan(world.github.budget.limit);
  });

  it("counts failed dependency calls by code", async () => {
    world.github.injectFault({
      method: "GET",
      path: /\/contents\//,
      reply: { status: 401, body: { message: "Bad credentials" } },
      times: 1,
    });
    await world.answer(await world.slash("create bu=sales app=ops ns=ops pvc=other size=1"));
    const text = await (await fetch(`${world.service.url}/metrics`)).text();
    expect(text).toMatch(
      /^drbot_dependency_errors_total\{dependency="github",code="git\.unauthorized"\} 1$/m,
    );
  });

  it("never writes a secret value into logs, Slack, job data or Git", async () => {
    const secrets = [...world.secrets, "fake-secret-access-key"];
    expect(world.logs.length).toBeGreaterThan(50);
    const logs = world.logs.join("");
    const slack = JSON.stringify([
      world.slack.messages(),
      world.slack.ephemerals,
      world.slack.responses,
      world.slack.views,
    ]);
    const keys = await world.redis.keys(`${world.prefix}:*`);
    const redisValues: string[] = [];
    for (const key of keys) {
      const type = await world.redis.type(key);
      if (type === "string") redisValues.push((await world.redis.get(key)) ?? "");
      if (type === "hash") redisValues.push(JSON.stringify(await world.redis.hgetall(key)));
    }
    const files = await world.github.listFiles();
    const git =
      (await Promise.all(files.map((f) => world.github.readFile(f)))).join("\n") +
      (await world.github.git("log", "--format=%B"));
    for (const secret of secrets) {
      expect(logs.includes(secret), `secret in logs: ${secret.slice(0, 6)}…`).toBe(false);
      expect(slack.includes(secret), "secret in Slack").toBe(false);
      expect(redisValues.join("\n").includes(secret), "secret in Redis").toBe(false);
      expect(git.includes(secret), "secret in Git").toBe(false);
    }
    expect(logs).toContain('"jobId":"volume-create.sales.ops.ops.data"');
  });
});

describe("the queue dashboard", () => {
  let world: World;
  afterAll(async () => {
    await world?.close();
  });

  it("is off by default, and behind basic auth at its path when enabled", async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    expect((await fetch(`${world.service.url}/admin/queues`)).status).toBe(404);
    await world.service.stop();
    world.services.length = 0;

    Object.assign(world.env, {
      DRBOT_DASHBOARD_PATH: "/admin/queues",
      DRBOT_DASHBOARD_USER: "ops",
      DRBOT_DASHBOARD_PASSWORD: "correct-horse-battery",
    });
    await world.start();
    const url = `${world.service.url}/admin/queues`;
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect(
      (await fetch(url, { headers: { authorization: `Basic ${btoa("ops:wrong-password-here")}` } })).status,
    ).toBe(401);
    const auth = { authorization: `Basic ${btoa("ops:correct-horse-battery")}` };
    const page = await fetch(url, { headers: auth });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const api = await fetch(`${url}/api/queues`, { headers: auth });
    const body = (await api.json()) as { queues: Array<{ name: string }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual([
      "dr-drill",
      "dr-failover",
      "dr-reprotect",
      "dr-switchover",
      "protection-watch",
      "schedules",
      "trash-purge",
      "volume-create",
      "volume-delete",
      "volume-measure",
      "volume-resize",
    ]);
  });
});

describe("/readyz", () => {
  let world: World | undefined;
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await world?.close();
    await redis?.stop();
    world = undefined;
    redis = undefined;
  });

  const readyz = async (w: World) => {
    const res = await fetch(`${w.service.url}/readyz`);
    return {
      status: res.status,
      body: (await res.json()) as { ready: boolean; checks: Record<string, string> },
    };
  };

  it("fails with 503, naming Redis, while Redis is down, and recovers when it is back", async () => {
    redis = await startRedisServer();
    world = await createWorld(redis.url);
    const w = world;
    await w.start();
    expect((await readyz(w)).status).toBe(200);

    const { port } = redis;
    await redis.stop();
    const down = await readyz(w);
    expect(down.status).toBe(503);
    expect(down.body.ready).toBe(false);
    expect(down.body.checks.config).toBe("ok");
    expect(down.body.checks.redis).not.toBe("ok");
    // ioredis's own words, e.g. "Reached the max retries per request limit (which is 3)…".
    expect(down.body.checks.redis).toMatch(/\w/);

    redis = await startRedisServer({ port });
    const back = await w.until("/readyz to pass again", async () => {
      const r = await readyz(w);
      return r.status === 200 ? r : undefined;
    });
    expect(back.body).toEqual({ ready: true, checks: { config: "ok", redis: "ok", workers: "ok" } });
  });

  it("fails with 503, naming the workers, when a queue's worker is not running", async () => {
    world = await createWorld(inject("redisUrl"));
    const w = world;
    await w.start("worker");
    expect((await readyz(w)).body.checks.workers).toBe("ok");
    const failover = w.service.workers?.workers.find((x) => x.name === "dr-failover");
    await failover?.close();
    const res = await readyz(w);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      ready: false,
      checks: { config: "ok", redis: "ok", workers: "not running: dr-failover" },
    });
  });

  it("has no workers to check in a bot", async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start("bot");
    expect(await readyz(world)).toEqual({
      status: 200,
      body: { ready: true, checks: { config: "ok", redis: "ok" } },
    });
  });
});
