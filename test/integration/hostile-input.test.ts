// Hostile input: hundreds of bad requests through the Slack path and the CLI path, forged and
// replayed requests, and approvals that try to pass for someone else. Every one is refused with a
// reason and nothing is created anywhere.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { volumeDeleteCli, volumeResizeCli } from "../../src/cli/volume-change.ts";
import { volumeCreateCli } from "../../src/cli/volume-create.ts";
import { renderVolume, volumeGitPath } from "../../src/core/volumes.ts";
import { signRequest } from "../../src/sandbox/stand-ins/slack.ts";
import { createVolume } from "../support/volumes.ts";
import { CHANNEL, createWorld, USERS, type World } from "../support/world.ts";

const good = { bu: "sales", app: "shipping", ns: "dev", pvc: "data", size: "10Gi" };
type Field = keyof typeof good;

/** Bad values per field, each of which must be refused by name. */
const BAD: Record<Field, string[]> = {
  bu: [
    "marketing",
    "Sales",
    "sa_les",
    "sales;",
    "../sales",
    "s a",
    "-sales",
    "sales-",
    "ｓales",
    "x".repeat(64),
    "sales\u0000",
    "__proto__",
    "constructor",
    "sales.ops",
    "%2e%2e",
    "sa$les",
    "sales/",
    "SALES",
    "s\u200bales",
    "sales:",
  ],
  app: [
    "Shipping",
    "ship_ping",
    "../../etc",
    "/etc",
    "a.b",
    "-a",
    "a-",
    "a".repeat(64),
    "a:b",
    "{{x}}",
    "a\\b",
    "a*",
    "a?",
    "a#b",
    "a@b",
    "a'b",
    'a"b',
    "$(id)",
    "`id`",
    "a|b",
    "a&b",
    "a>b",
    "a<b",
    "a%b",
    "a+b",
    "a,b",
    "a=b",
    "ü",
    "🚢",
    "a\tb",
    "a[0]",
    "a{b}",
    "a~b",
    "a^b",
    "a!b",
    "..",
    ".",
    "&x",
    "*x",
    "!!str",
  ],
  ns: [
    "kube-system",
    "kube-public",
    "openshift",
    "openshift-config",
    "Dev",
    "dev_1",
    "d.e.v",
    "-dev",
    "dev-",
    "d".repeat(64),
    "dev/x",
    "..",
    "dev:",
    "dev;",
    "dev#",
    "dev x",
    "dév",
    "dev\u0007",
    "dev@",
    "dev%",
  ],
  pvc: [
    "Data",
    "data.db",
    "data_1",
    "-data",
    "data-",
    "p".repeat(64),
    "a/b",
    "..",
    "a:b",
    "a;b",
    "$(rm)",
    "`x`",
    "a b",
    "ä",
    "a\u2028b",
    'a"',
    "a'",
    "{a}",
    "[a]",
    "a*",
    "a?",
    "a!",
    "a#",
    "a%",
    "a&",
    "a+",
    "a,",
    "a<",
    "a>",
    "a|",
  ],
  size: [
    "0",
    "-1",
    "10G",
    "10GB",
    "1.5Gi",
    "512Mi",
    "1Ti",
    "1025",
    "99999999999",
    "ten",
    "1e3",
    "0x10",
    "10 Gi",
    "Gi",
    "10Gi10",
    "NaN",
    "Infinity",
    "+5",
    "5.0",
    "10gib",
    "१०",
    "10Ki",
    "10Pi",
    "10E",
    "-0",
    "1_000",
    "1,000",
    "10Gi;",
    "10/Gi",
    "∞",
  ],
};

// Every printable character a name may not contain, inside an otherwise good application name.
const PUNCTUATION = [..."!\"#$%&'()*+,./:;<=>?@[\\]^_`{|}~ ABCDEFGHIJKLMNOPQRSTUVWXYZ"];

function cases(): Array<{ field: Field; value: string }> {
  const listed = (Object.keys(BAD) as Field[]).flatMap((field) =>
    BAD[field].map((value) => ({ field, value })),
  );
  const embedded = PUNCTUATION.map((c) => ({ field: "app" as Field, value: `ship${c}ping` }));
  const controls = Array.from({ length: 8 }, (_, i) => ({
    field: "pvc" as Field,
    value: `da${String.fromCharCode(i + 1)}ta`,
  }));
  return [...listed, ...embedded, ...controls];
}

function commandText(field: Field, value: string): string {
  const v = { ...good, [field]: value };
  const q = (s: string) => (/[\s"]/.test(s) ? `'${s}'` : s);
  return `create bu=${q(v.bu)} app=${q(v.app)} ns=${q(v.ns)} pvc=${q(v.pvc)} size=${q(v.size)}`;
}

const FIELD_WORDS: Record<Field, RegExp> = {
  bu: /business unit|business_unit/,
  app: /application/,
  ns: /namespace/,
  pvc: /PVC name|pvc/,
  size: /size/,
};

describe("hostile input", () => {
  let world: World;
  let before: Awaited<ReturnType<World["snapshot"]>>;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    before = await world.snapshot();
  });
  afterAll(async () => {
    await world?.close();
  });

  it(`refuses ${cases().length} bad requests through signed slash commands, each naming the field`, async () => {
    expect(cases().length).toBeGreaterThanOrEqual(200);
    for (const { field, value } of cases()) {
      const res = await world.slash(commandText(field, value));
      expect(res.status).toBe(200);
      const answer = await world.answer(res);
      expect(answer, `${field}=${JSON.stringify(value)}`).toMatch(
        /was not understood|has (a problem|\d+ problems)|not configured|reserved/,
      );
      expect(answer, `${field}=${JSON.stringify(value)}`).toMatch(FIELD_WORDS[field]);
    }
    expect(await world.snapshot()).toEqual(before);
  }, 120_000);

  it(`refuses the same ${cases().length} bad requests through the CLI with exit status 2`, async () => {
    const env = { ...process.env, ...world.env, DRBOT_REDIS_PREFIX: world.prefix };
    for (const { field, value } of cases()) {
      const v = { ...good, [field]: value };
      const out: string[] = [];
      const code = await volumeCreateCli(
        [
          `--business-unit=${v.bu}`,
          `--application=${v.app}`,
          `--namespace=${v.ns}`,
          `--pvc=${v.pvc}`,
          `--size=${v.size}`,
        ],
        env,
        (line) => out.push(line),
      );
      expect(code, `${field}=${JSON.stringify(value)}: ${out.join(" ")}`).toBe(2);
      expect(out.join("\n")).toMatch(FIELD_WORDS[field]);
    }
    expect(await world.snapshot()).toEqual(before);
  }, 120_000);

  it("refuses forged, replayed and unsigned requests without running anything", async () => {
    const text = "create bu=sales app=shipping ns=dev pvc=forged size=1";
    const input = { command: "/volume", text, user_id: USERS.requester, channel_id: CHANNEL };
    const forged = await world.slack.sendSlashCommand(world.receiverUrl, input, {
      signingSecret: "not-the-secret",
    });
    const replayed = await world.slack.sendSlashCommand(world.receiverUrl, input, {
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    const unsigned = await world.slack.sendSlashCommand(world.receiverUrl, input, { unsigned: true });
    const tampered = await world.slack.sendSlashCommand(world.receiverUrl, input, {
      signature: "v0=deadbeef",
    });
    for (const r of [forged, replayed, unsigned, tampered]) expect(r.status).toBe(401);
    // Bolt answers 401 before any listener runs; a signed request afterwards is the proof that
    // the receiver handled what came before it.
    const signed = await world.slack.sendSlashCommand(world.receiverUrl, { ...input, text: "help" });
    expect(await world.answer(signed)).toMatch(/\/volume create/);
    expect(await world.snapshot()).toEqual(before);
    expect(world.slack.responses.filter((r) => r.text.includes("forged"))).toHaveLength(0);
  });

  it("counts only the signed user id of a click: names, edited payloads and other ids do not pass", async () => {
    await world.seedVolumes(1);
    await world.answer(await world.slash("failover", USERS.incident, "/dr"));
    const { card, id } = await world.approvalCard();

    // A stranger whose payload claims an approver's name and carries made-up approvals.
    const responseUrl = world.slack.issueResponseUrl({
      kind: "action",
      channel: CHANNEL,
      user: USERS.stranger,
    });
    const payload = {
      type: "block_actions",
      user: { id: USERS.stranger, name: "u0apr1", username: "u0apr1", approver: true },
      team: { id: "T0DRBOT01" },
      channel: { id: CHANNEL },
      container: { type: "message", channel_id: CHANNEL, message_ts: card.ts },
      response_url: responseUrl,
      trigger_id: "1.2.3",
      actions: [
        {
          type: "button",
          action_id: "approval_approve",
          value: id,
          approvals: [USERS.approver1, USERS.approver2],
        },
      ],
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const res = await fetch(world.receiverUrl, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...signRequest(body, world.env.SLACK_SIGNING_SECRET as string),
      },
      body,
    });
    expect(res.status).toBe(200);
    const reply = await world.until("the refusal", () =>
      world.slack.responses.find((r) => r.url === responseUrl),
    );
    expect(reply.text).toMatch(/You are not an approver/);

    // The same click re-signed with a wrong secret, as if the user id had been edited: refused at the door.
    const edited = JSON.stringify({ ...payload, user: { id: USERS.approver1, name: "u0apr1" } });
    const editedBody = new URLSearchParams({ payload: edited }).toString();
    const forged = await fetch(world.receiverUrl, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...signRequest(editedBody, "guessed-secret"),
      },
      body: editedBody,
    });
    expect(forged.status).toBe(401);

    // A made-up request id finds nothing.
    expect(await world.click(USERS.approver1, "approval_approve", "dr-ffffffff", card.ts)).toMatch(
      /does not exist/,
    );
    expect((await world.approvalsOf(id))?.approvals).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The rest of a volume's life: delete, resize, resume and list under hostile input — traversal,
// names that collide with the trash, sizes, and other tenants' volumes. Every one is refused with
// a reason, and nothing changes anywhere: no approval, no job, no commit, no directory moved.

const SALES = "bu=sales app=shipping ns=shipping-dev pvc=data";
const MARKETING_USER = "U0MKT1";

/** Hostile values for each key of a volume's name, in delete and resize alike. */
const HOSTILE_NAMES: Array<[key: string, value: string]> = [
  ["pvc", "../data"],
  ["pvc", ".."],
  ["pvc", "."],
  ["pvc", ".drbot-trash"],
  ["pvc", "data/../../.drbot-trash"],
  ["pvc", "%2e%2e"],
  ["pvc", "data\u0000"],
  ["pvc", "<!channel>"],
  ["app", "../../etc"],
  ["app", ".drbot-trash"],
  ["app", "/"],
  ["app", "shipping/.."],
  ["ns", ".."],
  ["ns", "kube-system"],
  ["ns", "openshift-config"],
  ["ns", "default"],
  ["ns", "../shipping-dev"],
  ["bu", ".drbot-trash"],
  ["bu", "../sales"],
  ["bu", "marketing;"],
  ["bu", "__proto__"],
  ["bu", "constructor"],
];

function withValue(base: string, key: string, value: string): string {
  const q = /[\s"]/.test(value) ? `'${value}'` : value;
  return base.replace(new RegExp(`\\b${key}=[^ ]+`), `${key}=${q}`);
}

const RESIZE_SIZES = [
  "0",
  "-1",
  "1.5Gi",
  "99999999",
  "10Ti",
  "ten",
  "1e3",
  "0x10",
  "NaN",
  "+5",
  "10GB",
  "Infinity",
  "1025",
];

function hostileVolumeLifeCases(): Array<{ text: string; user?: string; expect: RegExp }> {
  const refused =
    /not understood|has (a problem|\d+ problems)|You may not|was not (deleted|resized)|Say which deletion|no volume deletion|page must be|past the last page|not configured/;
  const cases: Array<{ text: string; user?: string; expect: RegExp }> = [];
  for (const [key, value] of HOSTILE_NAMES) {
    cases.push({ text: `delete ${withValue(SALES, key, value)}`, expect: refused });
    cases.push({ text: `resize ${withValue(SALES, key, value)} size=20`, expect: refused });
  }
  for (const size of RESIZE_SIZES) cases.push({ text: `resize ${SALES} size=${size}`, expect: /size/ });
  cases.push(
    // Names a tenant may use, beside the trash: nothing recorded there, nothing to delete.
    { text: "delete bu=sales app=drbot-trash ns=shipping-dev pvc=data", expect: /not recorded in Git/ },
    { text: "delete bu=sales app=shipping ns=shipping-dev pvc=drbot-trash", expect: /not recorded in Git/ },
    {
      text: "resize bu=sales app=drbot-trash ns=shipping-dev pvc=data size=20",
      expect: /not recorded in Git/,
    },
    // Shrinking and standing still.
    { text: `resize ${SALES} size=5`, expect: /volumes only grow/ },
    { text: `resize ${SALES} size=10Gi`, expect: /already 10Gi/ },
    // Other tenants' volumes, whichever way they are named.
    {
      text: "delete bu=marketing app=promo ns=mkt pvc=assets",
      expect: /You may not delete volumes of business unit marketing/,
    },
    {
      text: "resize bu=marketing app=promo ns=mkt pvc=assets size=20",
      expect: /You may not resize volumes of business unit marketing/,
    },
    { text: "delete bu=sales app=promo ns=mkt pvc=assets", expect: /not recorded in Git/ },
    {
      text: `delete ${SALES}`,
      user: MARKETING_USER,
      expect: /You may not delete volumes of business unit sales/,
    },
    {
      text: `delete ${SALES}`,
      user: USERS.stranger,
      expect: /You may not delete volumes of business unit sales/,
    },
    {
      text: `resize ${SALES} size=20`,
      user: USERS.stranger,
      expect: /You may not resize volumes of business unit sales/,
    },
    // A sales record planted in a namespace that belongs to marketing.
    { text: "delete bu=sales app=planted ns=mkt pvc=assets", expect: /belongs to business unit marketing/ },
    // Keys, words and repeats that are not a delete.
    { text: `delete ${SALES} size=10`, expect: /not understood/ },
    { text: `delete ${SALES} pvc=other`, expect: /not understood/ },
    { text: `delete ${SALES} now`, expect: /not understood/ },
    { text: "delete", expect: /has \d+ problems/ },
    { text: `resize ${SALES}`, expect: /size is missing/ },
    // Resume: only a volume deletion's id, and only the one that exists.
    { text: "delete resume", expect: /Say which deletion/ },
    { text: "delete resume ../vol-12345678", expect: /Say which deletion/ },
    { text: "delete resume vol-zzzzzzzz", expect: /Say which deletion/ },
    { text: "delete resume dr-12345678", expect: /Say which deletion/ },
    { text: "delete resume vol-12345678 extra", expect: /Say which deletion/ },
    { text: "delete resume vol-12345678", expect: /no volume deletion/ },
    // The list's filters and pages.
    { text: "list page=0", expect: /page must be/ },
    { text: "list page=-1", expect: /page must be/ },
    { text: "list page=abc", expect: /page must be/ },
    { text: "list page=1e3", expect: /page must be/ },
    { text: "list page=9999999", expect: /page must be/ },
    { text: "list page=../2", expect: /page must be/ },
    { text: "list page=99", expect: /past the last page/ },
    { text: "list bu=../sales", expect: /business unit/ },
    { text: "list bu=.drbot-trash", expect: /business unit/ },
    { text: "list bu=nobody", expect: /not configured/ },
    { text: "list app=../..", expect: /application/ },
    {
      text: "list bu=marketing",
      user: USERS.requester,
      expect: /You may not list the volumes of business unit marketing/,
    },
  );
  return cases;
}

describe("hostile input for delete, resize, resume and list", () => {
  let world: World;
  let before: Awaited<ReturnType<World["snapshot"]>>;
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"), {
      configure: (c) => (c.volumes.tenants.marketing = { requesters: { users: [MARKETING_USER] } }),
    });
    await world.start();
    await createVolume(world);
    const config = world.service.config;
    const id = (bu: string, app: string) =>
      ({ businessUnit: bu, application: app, namespace: "mkt", pvcName: "assets" }) as never;
    world.github.commitFiles(
      {
        [volumeGitPath(config, "primary", id("marketing", "promo"))]: renderVolume(
          config,
          "primary",
          id("marketing", "promo"),
          5,
        ),
        [volumeGitPath(config, "primary", id("sales", "planted"))]: renderVolume(
          config,
          "primary",
          id("sales", "planted"),
          5,
        ),
      },
      "marketing's volume, and a sales record planted in marketing's namespace",
    );
    world.kube.primary.seed({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "mkt", labels: { "drbot.io/tenant": "marketing" } },
    });
    before = await world.snapshot();
  }, 60_000);
  afterAll(async () => {
    await world?.close();
  });

  it(`refuses ${hostileVolumeLifeCases().length} hostile requests, each with its reason, and changes nothing`, async () => {
    expect(hostileVolumeLifeCases().length).toBeGreaterThanOrEqual(60);
    for (const c of hostileVolumeLifeCases()) {
      const answer = await world.answer(await world.slash(c.text, c.user ?? USERS.requester));
      expect(answer, c.text).toMatch(c.expect);
      expect(answer, c.text).not.toMatch(/^Accepted|requested as/);
      // Echoed values are plain text, never markup.
      expect(answer, c.text).not.toContain("<!channel>");
    }
    expect(await world.snapshot()).toEqual(before);
    expect(await world.redis.keys(`${world.prefix}:approval:*`)).toEqual([]);
  }, 180_000);

  it("refuses hostile names, sizes and channels through the CLI with exit status 2", async () => {
    const env = { ...process.env, ...world.env, DRBOT_REDIS_PREFIX: world.prefix };
    const flags = (key: string, value: string) => {
      const v: Record<string, string> = {
        bu: "sales",
        app: "shipping",
        ns: "shipping-dev",
        pvc: "data",
        [key]: value,
      };
      return [`--business-unit=${v.bu}`, `--application=${v.app}`, `--namespace=${v.ns}`, `--pvc=${v.pvc}`];
    };
    for (const [key, value] of HOSTILE_NAMES) {
      const out: string[] = [];
      expect(
        await volumeDeleteCli([...flags(key, value), "--channel=C0DRBOT"], env, (l) => out.push(l)),
        `${key}=${value}`,
      ).toBe(2);
      expect(
        await volumeResizeCli([...flags(key, value), "--size=20"], env, (l) => out.push(l)),
        `${key}=${value}`,
      ).toBe(2);
    }
    for (const size of RESIZE_SIZES.slice(0, -1)) {
      const out: string[] = [];
      expect(
        await volumeResizeCli([...flags("pvc", "data"), `--size=${size}`], env, (l) => out.push(l)),
        size,
      ).toBe(2);
      expect(out.join("\n")).toMatch(/size/);
    }
    const out: string[] = [];
    expect(
      await volumeDeleteCli([...flags("pvc", "data"), "--channel=../C0DRBOT"], env, (l) => out.push(l)),
    ).toBe(2);
    expect(out.join("\n")).toMatch(/--channel: expected a Slack channel id/);
    expect(await world.snapshot()).toEqual(before);
  }, 120_000);
});
