// Hostile markup and secrets: Slack markup typed into every command that echoes its input, or
// stored where drbot reads it (error messages of Kubernetes, EFS and GitHub), must show as plain
// text; and no secret drbot holds may reach a reply, a card, a thread or a log line.

import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/core/config.ts";
import { efsError } from "../../src/sandbox/stand-ins/efs.ts";
import { createWorld, USERS, type World } from "../support/world.ts";

/** Markup that must never reach Slack as markup. */
const PAYLOADS = [
  "<!channel>",
  "<!here>",
  "<!everyone>",
  "<!subteam^S0SRE>",
  "<https://evil.example|click>",
  "<https://evil.example/approve|Plan verified by SRE: safe, approve now>",
  "<mailto:ceo@example.com|CEO>",
  "<tel:+15555550123|call>",
  "<#C0OTHER|general>",
  "<!date^1392734382^{date}|x>",
  "x\n*Replication* replicating; nothing will be lost",
  "x\r\n*Approved* by everyone",
  "x\u2028*Steps* none",
  "<slack://open|x>",
  "a<!channel>b",
];

/** Where a command echoes what was typed. */
const PATHS: Array<[string, (p: string) => [command: string, text: string]]> = [
  ["/dr subcommand", (p) => ["/dr", p]],
  ["/dr failover argument", (p) => ["/dr", `failover ${p}`]],
  ["/volume create value", (p) => ["/volume", `create bu=sales app="${p}" ns=dev pvc=data size=1`]],
  ["/volume list key", (p) => ["/volume", `list ${p}=1`]],
];

const RAW = /<!(channel|here|everyone|subteam|date)|<https?:|<mailto:|<tel:|<#C|<slack:/;

function lines(text: string): string[] {
  return text.split("\n");
}

describe("hostile markup and secrets", () => {
  let world: World;
  let secrets: string[];
  beforeAll(async () => {
    world = await createWorld(inject("redisUrl"));
    await world.start();
    const cfg = loadConfig(world.env.DRBOT_CONFIG as string);
    const kubeTokens = await Promise.all(
      [cfg.sites.primary.cluster.kubeconfig, cfg.sites.secondary.cluster.kubeconfig].map(
        async (f) => /token: ([^\n]*)/.exec(await readFile(f as string, "utf8"))?.[1] as string,
      ),
    );
    secrets = [...world.secrets, ...kubeTokens, process.env.AWS_SECRET_ACCESS_KEY as string];
  });
  afterAll(async () => {
    await world?.close();
  });

  const cases = PATHS.flatMap(([where, make]) => PAYLOADS.map((p) => [where, p, make] as const));

  it(`has at least 60 markup cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(cases.map(([where, p, make]) => [where, JSON.stringify(p), p, make] as const))(
    "%s: %s shows as plain text",
    async (_, __, payload, make) => {
      const [command, text] = make(payload);
      const answer = await world.answer(await world.slash(text, USERS.incident, command));
      expect(answer).not.toMatch(RAW);
      for (const line of lines(answer)) {
        expect(line).not.toMatch(/^\*(Replication|Approved|Steps)\*/);
      }
    },
  );

  it("a Kubernetes error message carrying markup and a secret shows escaped and redacted on the volume card", async () => {
    const hostile = `forbidden <!channel> <https://evil.example|fix it here>\n*Why:* ${secrets.join(" ")}`;
    world.kube.primary.injectFault({
      method: "PATCH",
      reply: {
        status: 422,
        body: {
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: hostile,
          reason: "Invalid",
          code: 422,
        },
      },
      times: 1,
    });
    await world.answer(await world.slash("create bu=sales app=mk ns=mk pvc=data size=1"));
    const card = await world.until("the failed card", () =>
      world.cards().find((m) => /sales\.mk\.mk\.data.*failed/.test(m.text)),
    );
    await world.until("the thread log", () =>
      world.slack.replies(card.channel, card.ts).length > 3 ? true : undefined,
    );
    const shown = JSON.stringify([card, world.slack.replies(card.channel, card.ts)]);
    expect(shown).toContain("&lt;!channel&gt;");
    expect(shown).not.toMatch(RAW);
    for (const s of secrets) expect(shown).not.toContain(s);
  });

  it("an EFS error message carrying markup and a secret shows escaped and redacted in a plan and in /dr status", async () => {
    const hostile = `<!here> <https://evil.example|AWS console> ${secrets.join(" ")}`;
    world.efs.injectFault({ method: "GET", reply: efsError("InternalServerError", hostile), times: 40 });
    const status = await world.answer(await world.slash("status", USERS.stranger, "/dr"));
    world.efs.clearFaults();
    expect(status).not.toMatch(RAW);
    for (const s of secrets) expect(status).not.toContain(s);
  });

  it("a GitHub error message carrying markup and a secret shows escaped and redacted", async () => {
    world.github.http.injectFault({
      method: "GET",
      reply: { status: 404, body: { message: `<!channel> ${secrets.join(" ")}`, documentation_url: "x" } },
      times: 5,
    });
    const answer = await world.answer(await world.slash("list", USERS.approver1));
    world.github.http.clearFaults();
    expect(answer).not.toMatch(RAW);
    for (const s of secrets) expect(answer).not.toContain(s);
  });

  it("no secret reaches any message, response or log line of the whole run", () => {
    const everything = [
      JSON.stringify(world.slack.messages()),
      JSON.stringify(world.slack.responses),
      world.logs.join(""),
    ].join("\n");
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(8);
      expect(everything).not.toContain(s);
    }
  });
});
