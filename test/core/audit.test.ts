// The audit trail against the run's real Redis: what is recorded comes back oldest first, page by
// page, per request through its index; retention trims by age and never by count; approval
// transitions land in the same trail, indexed; and the lines read safely in a terminal and Slack.

import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAuditArgs } from "../../src/cli/audit.ts";
import { Approvals } from "../../src/core/approvals.ts";
import { type AuditEntry, AuditLog } from "../../src/core/audit.ts";
import { formatAuditEntry, formatAuditTrail, SLACK_TRAIL_MAX } from "../../src/core/audit-format.ts";

let redis: Redis;
const prefixes: string[] = [];

function freshPrefix(): string {
  const prefix = `t${randomBytes(4).toString("hex")}`;
  prefixes.push(prefix);
  return prefix;
}

async function all(iterable: AsyncIterable<AuditEntry>): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(() => {
  redis = new Redis(inject("redisUrl"));
});
afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
});

describe("AuditLog", () => {
  it("gives back what was recorded, oldest first, with the time of recording", async () => {
    const audit = new AuditLog(redis, freshPrefix());
    const before = Date.now();
    await audit.record({ event: "failover.requested", request: "dr-0000000a", user: "U0REQ1", digest: "d1" });
    await audit.record({
      event: "drill.succeeded",
      user: "U0SRE1",
      detail: "8 checks passed",
      skip: undefined,
    });
    const entries = await all(audit.read());
    expect(entries.map((e) => [e.event, e.request, e.user, e.digest, e.fields])).toEqual([
      ["failover.requested", "dr-0000000a", "U0REQ1", "d1", {}],
      ["drill.succeeded", undefined, "U0SRE1", undefined, { detail: "8 checks passed" }],
    ]);
    for (const e of entries) {
      expect(e.at).toBeGreaterThanOrEqual(before - 1);
      expect(e.at).toBeLessThanOrEqual(Date.now() + 1);
    }
  });

  it("refuses an entry without an event and writes nothing", async () => {
    const audit = new AuditLog(redis, freshPrefix());
    await expect(audit.record({ event: "" })).rejects.toThrow(/needs an event/);
    expect(await redis.exists(audit.key)).toBe(0);
  });

  it("pages through more entries than one read fetches, in order", async () => {
    const audit = new AuditLog(redis, freshPrefix());
    const pipeline = redis.pipeline();
    for (let i = 0; i < 1_234; i++)
      audit.recordIn(pipeline, { event: "volume.created", request: `vol-${i % 7}`, detail: String(i) });
    await pipeline.exec();
    const entries = await all(audit.read());
    expect(entries.map((e) => Number(e.fields.detail))).toEqual(Array.from({ length: 1_234 }, (_, i) => i));
  });

  it("reads one request's trail through its index, without the others' entries", async () => {
    const audit = new AuditLog(redis, freshPrefix());
    const pipeline = redis.pipeline();
    // More than one page of the request, interleaved with other requests' entries.
    for (let i = 0; i < 1_300; i++)
      audit.recordIn(pipeline, {
        event: "step",
        request: i % 2 === 0 ? "dr-0000000b" : `dr-other${i}`,
        detail: String(i),
      });
    await pipeline.exec();
    const trail = await all(audit.read({ request: "dr-0000000b" }));
    expect(trail).toHaveLength(650);
    expect(trail.every((e) => e.request === "dr-0000000b")).toBe(true);
    expect(trail.map((e) => Number(e.fields.detail))).toEqual(Array.from({ length: 650 }, (_, i) => i * 2));
    expect(await all(audit.read({ request: "dr-nobody00" }))).toEqual([]);
  });

  it("reads only what was recorded since a given instant", async () => {
    const audit = new AuditLog(redis, freshPrefix());
    await audit.record({ event: "old", request: "dr-0000000c" });
    const since = Date.now() + 2;
    await waitUntil("the clock to pass the cut-off", () => Date.now() > since);
    await audit.record({ event: "new", request: "dr-0000000c" });
    expect((await all(audit.read({ sinceMs: since }))).map((e) => e.event)).toEqual(["new"]);
    expect((await all(audit.read({ sinceMs: since, request: "dr-0000000c" }))).map((e) => e.event)).toEqual([
      "new",
    ]);
  });

  it("trims entries older than the retention, from the stream and from request indexes", async () => {
    const DAY = 86_400_000;
    const audit = new AuditLog(redis, freshPrefix(), DAY);
    // 250 entries of two days ago, as Redis stamped them then, indexed under their request.
    const twoDaysAgo = Date.now() - 2 * DAY;
    const pipeline = redis.pipeline();
    for (let i = 0; i < 250; i++) {
      const id = `${twoDaysAgo}-${i}`;
      pipeline.xadd(audit.key, id, "event", "old", "request", "dr-0000000d");
      pipeline.rpush(audit.indexKey("dr-0000000d"), id);
    }
    await pipeline.exec();
    expect(await redis.xlen(audit.key)).toBe(250);
    await audit.record({ event: "new", request: "dr-0000000d" });
    await audit.record({ event: "new-unindexed" });
    // Trimming drops whole stream nodes (100 entries each by default), so the stream shrinks…
    expect(await redis.xlen(audit.key)).toBeLessThanOrEqual(100);
    // …the request's index holds only the entry within the retention…
    expect(await redis.llen(audit.indexKey("dr-0000000d"))).toBe(1);
    expect(await redis.pttl(audit.indexKey("dr-0000000d"))).toBeGreaterThan(0);
    // …and reading never shows an entry past the retention, trimmed yet or not.
    expect((await all(audit.read())).map((e) => e.event)).toEqual(["new", "new-unindexed"]);
    expect((await all(audit.read({ request: "dr-0000000d" }))).map((e) => e.event)).toEqual(["new"]);
  });

  it("never trims by count: more than the old 100,000-entry cap are all kept", async () => {
    const audit = new AuditLog(redis, freshPrefix());
    const total = 100_500;
    for (let start = 0; start < total; start += 10_000) {
      const pipeline = redis.pipeline();
      for (let i = start; i < Math.min(total, start + 10_000); i++)
        audit.recordIn(pipeline, { event: "volume.created", detail: String(i) });
      await pipeline.exec();
    }
    expect(await redis.xlen(audit.key)).toBe(total);
    const [first] = await redis.xrange(audit.key, "-", "+", "COUNT", 1);
    expect(first?.[1]).toEqual(["event", "volume.created", "detail", "0"]);
  }, 60_000);
});

describe("approval transitions in the audit trail", () => {
  it("are indexed under the request, with the denial's reason, and trimmed by age", async () => {
    const prefix = freshPrefix();
    const audit = new AuditLog(redis, prefix, 60_000);
    const approvals = new Approvals(redis, prefix, audit);
    await approvals.create({
      id: "dr-0000000e",
      action: "failover",
      requester: "U0REQ1",
      digest: "abc123",
      plan: ["move 1 volume"],
      approversText: "<@U1>",
      required: 2,
      createdAt: Date.now(),
      expiresAt: Date.now() + 60_000,
    });
    await approvals.transition("dr-0000000e", "approve", "U0APR1");
    await approvals.transition("dr-0000000e", "deny", "U0APR2", Date.now(), "primary is back");
    const trail = await all(audit.read({ request: "dr-0000000e" }));
    expect(trail.map((e) => [e.event, e.user, e.digest, e.fields.state, e.fields.reason])).toEqual([
      ["approval.requested", "U0REQ1", "abc123", "pending", undefined],
      ["approval.recorded", "U0APR1", "abc123", "pending", undefined],
      ["approval.denied", "U0APR2", "abc123", "denied", "primary is back"],
    ]);
    // The approval script trims with the same bound: its index key expires with the retention.
    const ttl = await redis.pttl(audit.indexKey("dr-0000000e"));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});

describe("audit lines", () => {
  const entry = (over: Partial<AuditEntry>): AuditEntry => ({
    id: "1763719200000-0",
    at: Date.UTC(2025, 10, 21, 10, 0, 0),
    event: "approval.denied",
    request: "dr-1234abcd",
    user: "U0APR1",
    digest: "abc123",
    fields: { action: "failover", reason: "primary is back" },
    ...over,
  });

  it("read as one terminal line each: time, event, request, actor, digest, details", () => {
    expect(formatAuditEntry(entry({}), "text")).toBe(
      '2025-11-21T10:00:00.000Z  approval.denied  dr-1234abcd  U0APR1  abc123  action=failover reason="primary is back"',
    );
    expect(formatAuditEntry(entry({ request: undefined, digest: undefined, fields: {} }), "text")).toBe(
      "2025-11-21T10:00:00.000Z  approval.denied  -  U0APR1  -",
    );
  });

  it("cannot carry terminal control sequences or break the line", () => {
    const line = formatAuditEntry(
      entry({ user: "cli:\u001b[2Jmallory", fields: { reason: "a\nb\u009b31mc\u2028d" } }),
      "text",
    );
    expect(line).not.toMatch(/[\p{Cc}\u2028\u2029]/u);
    expect(line).toContain('"cli:\\u001b[2Jmallory"');
    expect(line).toContain('reason="a\\nb\\u009b31mc\\u2028d"');
  });

  it("escape every stored value in Slack style and mention Slack users", () => {
    const text = formatAuditTrail(
      [entry({ fields: { reason: "<!channel> see <https://evil|here>\n*forged line*" } })],
      "slack",
    );
    expect(text).toContain("<@U0APR1>");
    expect(text).toContain("`dr-1234abcd`");
    expect(text).toContain("&lt;!channel&gt; see &lt;https://evil|here&gt; *forged line*");
    expect(text).not.toContain("<!channel>");
    expect(text.split("\n")).toHaveLength(1);
  });

  it("show the newest entries of a long trail in Slack and say how to see the rest", () => {
    const entries = Array.from({ length: SLACK_TRAIL_MAX + 5 }, (_, i) =>
      entry({ id: `${1763719200000 + i}-0`, at: 1763719200000 + i, event: `e${i}` }),
    );
    const lines = formatAuditTrail(entries, "slack").split("\n");
    expect(lines).toHaveLength(SLACK_TRAIL_MAX + 1);
    expect(lines[0]).toContain("5 earlier entries not shown: `drbot audit --request dr-1234abcd`");
    expect(lines.at(-1)).toContain(`*e${SLACK_TRAIL_MAX + 4}*`);
    expect(formatAuditTrail(entries, "text").split("\n")).toHaveLength(SLACK_TRAIL_MAX + 5);
  });
});

describe("drbot audit arguments", () => {
  const now = Date.UTC(2026, 10, 21, 12, 0, 0);

  it("reads a window, a request and the output form", () => {
    expect(parseAuditArgs([], now)).toEqual({ json: false });
    expect(parseAuditArgs(["--since", "7d", "--request", "dr-1a2b3c4d", "--json"], now)).toEqual({
      sinceMs: now - 7 * 86_400_000,
      request: "dr-1a2b3c4d",
      json: true,
    });
    expect(parseAuditArgs(["--since=90m"], now)).toEqual({ sinceMs: now - 90 * 60_000, json: false });
  });

  it("names what is wrong with bad arguments", () => {
    expect(parseAuditArgs(["--since", "yesterday"], now)).toMatch(
      /^--since "yesterday": expected a duration/,
    );
    expect(parseAuditArgs(["--since", "0d"], now)).toMatch(/^--since "0d": expected a duration/);
    expect(parseAuditArgs(["--request", "../etc"], now)).toMatch(
      /^--request "..\/etc": expected a request id/,
    );
    expect(parseAuditArgs(["--request", "x".repeat(101)], now)).toMatch(/expected a request id/);
    expect(parseAuditArgs(["--verbose"], now)).toMatch(/Unknown option '--verbose'/);
    expect(parseAuditArgs(["extra"], now)).toMatch(/Unexpected argument 'extra'/);
    expect(parseAuditArgs(["--since"], now)).toMatch(/--since <value>' argument missing/);
  });
});
