// The sandbox console in a real browser (Debian's chromium driven by playwright-core), as people
// use it: the requester creates a volume through the modal and watches its card run to the end;
// with the primary region failed the failover plan says so; the requester cannot approve their own
// failover; two approvers can, and afterwards `/dr status` shows the secondary active. Cards must
// change in place, pushed to the page: a card that stops updating fails these tests.

import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { PEOPLE } from "../../src/sandbox/people.ts";
import { type Sandbox, startSandbox } from "../../src/sandbox/sandbox.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const WAIT = { timeout: 20_000 };

describe("the sandbox console in a browser", () => {
  let dir: string;
  let sandbox: Sandbox;
  let browser: Browser;
  let page: Page;
  const logs: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
      );
    dir = await mkdtemp(join(tmpdir(), "drbot-console-"));
    sandbox = await startSandbox({
      dir,
      port: 0,
      env: { REDIS_URL: inject("redisUrl"), LOG_LEVEL: "debug" },
      redisPrefix: `t${Math.random().toString(16).slice(2, 10)}`,
      timing: {
        replicateEveryMs: 200,
        replicationDeletionMs: 300,
        bindDelayMs: 50,
        cardUpdateMs: 50,
        pollMs: 50,
        saveEveryMs: 500,
        worldRefreshMs: 150,
      },
      logDestination: new Writable({
        write(chunk, _enc, done) {
          logs.push(String(chunk));
          done();
        },
      }),
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    // Script errors only: the console's API answering 4xx to a refused request is expected.
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await page.goto(sandbox.url);
    // A page that reloads loses this; every check below must happen without a reload.
    await page.evaluate(() => {
      (globalThis as unknown as { loadedOnce: number }).loadedOnce = 1;
    });
  });

  afterAll(async () => {
    await browser?.close();
    await sandbox?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const actAs = async (person: { id: string; realName: string }) => {
    await page.locator(`.person[data-person="${person.id}"]`).click();
    await expect.poll(() => page.locator("#me").textContent(), WAIT).toBe(person.realName);
    await expect.poll(() => page.locator("#connection").textContent(), WAIT).toBe("live");
  };
  const type = async (text: string) => {
    await page.locator("#message-box").fill(text);
    await page.locator("#message-box").press("Enter");
    await expect.poll(() => page.locator("#message-box").inputValue(), WAIT).toBe("");
  };
  const ephemeral = (text: string | RegExp) =>
    page.locator(".messages .message.ephemeral", { hasText: text });
  const card = (text: string | RegExp) =>
    page.locator(`.messages .message[data-user="${sandbox.slack.bot.userId}"]`, { hasText: text });
  const visible = (l: Locator) => l.first().waitFor({ state: "visible", ...WAIT });
  const panel = (site: "primary" | "secondary") => page.locator(`.world section.site[data-site="${site}"]`);
  const confirmClick = async (button: Locator, confirmLabel: string) => {
    await button.click();
    const dialog = page.locator(".overlay .dialog.confirm");
    await visible(dialog);
    await dialog.getByRole("button", { name: confirmLabel, exact: true }).click();
  };

  it("creates a volume from the modal: inline errors, then a card updated in place until it succeeds", {
    timeout: 90_000,
  }, async () => {
    await actAs(PEOPLE.requester);
    await type("/volume create");
    const modal = page.locator(".modal");
    await visible(modal);
    expect(await modal.locator("h2").textContent()).toBe("Request a volume");

    // Bad input is explained beside the field, and what was typed stays.
    await modal.locator("select[name=business_unit]").selectOption("sales");
    await modal.locator("input[name=application]").fill("shop");
    await modal.locator("input[name=namespace]").fill("kube-system");
    await modal.locator("input[name=pvc_name]").fill("data");
    await modal.locator("input[name=pvc_size]").fill("lots");
    await modal.getByRole("button", { name: "Request" }).click();
    await visible(modal.locator('[data-block-id="pvc_size"] .input-error'));
    expect(await modal.locator('[data-block-id="namespace"] .input-error').textContent()).toMatch(
      /system namespace|kube-system/,
    );
    expect(await modal.locator("input[name=application]").inputValue()).toBe("shop");

    // The claim will wait for binding, so the card is seen running before it succeeds.
    const volumeCard = card("Volume sales.shop.shop-dev.data");
    let ts: string | null;
    let versionRunning: number;
    sandbox.kube.primary.holdBinding();
    try {
      await modal.locator("input[name=namespace]").fill("shop-dev");
      await modal.locator("input[name=pvc_size]").fill("10");
      await modal.getByRole("button", { name: "Request" }).click();
      await modal.waitFor({ state: "detached", ...WAIT });
      await visible(ephemeral(/Accepted: volume sales\.shop\.shop-dev\.data is queued/));
      await expect.poll(() => volumeCard.textContent(), WAIT).toMatch(/Wait until the PVC is Bound running/);
      ts = await volumeCard.getAttribute("data-ts");
      versionRunning = Number(await volumeCard.getAttribute("data-version"));
      await expect
        .poll(() => panel("primary").locator('tr[data-name="shop-dev/data"]').textContent(), WAIT)
        .toMatch(/Pending/);
    } finally {
      sandbox.kube.primary.releaseBinding();
    }
    await expect.poll(() => volumeCard.textContent(), WAIT).toMatch(/succeeded/);
    // The same message, updated in place: one card, a later version, no reload.
    expect(await card("Volume sales.shop.shop-dev.data").count()).toBe(1);
    expect(await volumeCard.getAttribute("data-ts")).toBe(ts);
    expect(Number(await volumeCard.getAttribute("data-version"))).toBeGreaterThan(versionRunning);
    expect(await page.evaluate(() => (globalThis as unknown as { loadedOnce?: number }).loadedOnce)).toBe(1);
    expect(await volumeCard.textContent()).toMatch(/Requested by @Riya Patel/);

    // The thread holds a reply per step.
    await volumeCard.getByRole("button", { name: /replies/ }).click();
    await expect.poll(() => page.locator(".thread").textContent(), WAIT).toMatch(/Record in Git done/);

    // Beside the channel: Bound on the primary cluster, the directory on both mounts, the commit.
    await expect
      .poll(() => panel("primary").locator('tr[data-name="shop-dev/data"]').textContent(), WAIT)
      .toMatch(/Bound/);
    await visible(panel("primary").locator('li[data-path="k8s-static-volumes/sales/shop/shop-dev/data"]'));
    await visible(panel("secondary").locator('li[data-path="k8s-static-volumes/sales/shop/shop-dev/data"]'));
    const commit = page.locator(".commits li", { hasText: "Add volume sales.shop.shop-dev.data" });
    await commit.locator("button.commit").click();
    await expect
      .poll(() => commit.locator("pre.diff").textContent(), WAIT)
      .toMatch(/\+\+\+ b\/PV-PVCs\/primary\/sales\/rosa-primary\/shop\/shop-dev\/pv-pvc_data\.yaml/);
  });

  it("renders mrkdwn as Slack does, from text nodes only", async () => {
    // As a string: the test runner would rewrite a dynamic import inside a function.
    const rendered = (await page.evaluate(`(async () => {
      const { renderMrkdwn } = await import("/static/mrkdwn.js");
      const el = document.createElement("div");
      const names = { user: (id) => (id === "U0SBXAPR1" ? "Ada Okafor" : undefined), channel: () => "dr-ops" };
      el.append(renderMrkdwn(${JSON.stringify(
        "&lt;script&gt;alert(1)&lt;/script&gt; *bold* _italic_ ~gone~ `a &lt; b` <@U0SBXAPR1> &amp;lt;\n" +
          "<https://example.com/x?a=1&amp;b=2|a &amp; b> <javascript:alert(1)|click me> :white_check_mark: snake_case_name\n" +
          "> quoted *line*\n```<pre> *not bold*```",
      )}, names));
      const link = el.querySelector("a");
      return {
        text: el.textContent,
        tags: [...el.querySelectorAll("*")].map((n) => n.tagName.toLowerCase()),
        bold: el.querySelector("b")?.textContent,
        href: link?.getAttribute("href"),
        links: el.querySelectorAll("a").length,
        quote: el.querySelector("blockquote")?.textContent,
        pre: el.querySelector("pre")?.textContent,
      };
    })()`)) as Record<string, any>;
    expect(rendered.text).toContain("<script>alert(1)</script> bold italic gone a < b @Ada Okafor &lt;");
    expect(rendered.text).toContain("a & b click me ✅ snake_case_name");
    expect(rendered.tags).not.toContain("script");
    expect(rendered.tags).toEqual(
      expect.arrayContaining(["b", "i", "s", "code", "span", "a", "blockquote", "pre"]),
    );
    expect(rendered.bold).toBe("bold");
    expect(rendered.href).toBe("https://example.com/x?a=1&b=2");
    expect(rendered.links).toBe(1); // javascript: is not made a link
    expect(rendered.quote).toBe("quoted line");
    expect(rendered.pre).toBe("<pre> *not bold*");
  });

  it("answers bad input with drbot's explanation, shown as text", { timeout: 60_000 }, async () => {
    await actAs(PEOPLE.requester);
    await type("/volume create bu=sales app=<b>bold</b> ns=x pvc=y size=1");
    await visible(ephemeral(/may contain only lowercase letters, digits and "-"/));
    expect(await page.locator(".messages b", { hasText: /^bold$/ }).count()).toBe(0);

    await type("/deploy now");
    await visible(ephemeral("/deploy is not a valid command"));
    // A plain message is refused by the console itself, visibly.
    await page.locator("#message-box").fill("hello everyone");
    await page.locator("#message-box").press("Enter");
    await expect.poll(() => page.locator("#notice").textContent(), WAIT).toMatch(/slash commands only/);
    expect(await page.locator("#message-box").inputValue()).toBe("hello everyone");
    await page.locator("#message-box").fill("");
  });

  it("with the primary region failed, the failover plan says so", { timeout: 90_000 }, async () => {
    await page.getByRole("button", { name: "Make the primary region fail" }).click();
    await expect.poll(() => panel("primary").locator("h3").textContent(), WAIT).toMatch(/region down/);
    await actAs(PEOPLE.requester);
    await type("/dr failover");
    const approval = card("DR failover: approval needed");
    await visible(approval);
    await expect
      .poll(() => approval.textContent(), WAIT)
      .toMatch(/does not answer; expected in a regional outage/);
    expect(await approval.textContent()).toMatch(/LOCAL_CONFIGURATION_ONLY/);

    // An approver ends it; the card says who.
    await actAs(PEOPLE.approver1);
    await approval.getByRole("button", { name: "Deny" }).click();
    await visible(ephemeral(/You denied `?dr-[0-9a-f]{8}/));
    await expect.poll(() => approval.textContent(), WAIT).toMatch(/Denied by @Ada Okafor/);
    await page.getByRole("button", { name: "Bring the primary region back" }).click();
    await expect.poll(() => panel("primary").locator("h3").textContent(), WAIT).not.toMatch(/region down/);
  });

  it("fails over after two approvals, never the requester's, and /dr status shows the secondary active", {
    timeout: 120_000,
  }, async () => {
    await actAs(PEOPLE.requester);
    await type("/dr failover");
    const approval = card("DR failover: approval needed").last();
    await expect.poll(() => approval.textContent(), WAIT).toMatch(/Waiting for 2 more approvals/);
    expect(await approval.textContent()).toMatch(/still answers/);

    // The requester's own click is refused, only to them.
    await confirmClick(approval.getByRole("button", { name: "Approve failover" }), "Approve");
    const refusal = ephemeral(/You asked for `?dr-[0-9a-f]{8}`?, so you cannot approve it/);
    await visible(refusal);

    // Someone else does not see it, and cannot approve either.
    await actAs(PEOPLE.outsider);
    await visible(approval);
    expect(await ephemeral(/so you cannot approve it/).count()).toBe(0);
    await confirmClick(approval.getByRole("button", { name: "Approve failover" }), "Approve");
    await visible(ephemeral(/You are not an approver for failovers/));

    await actAs(PEOPLE.approver1);
    await confirmClick(approval.getByRole("button", { name: "Approve failover" }), "Approve");
    await visible(ephemeral(/recorded \(1\/2\)/));
    await expect.poll(() => approval.textContent(), WAIT).toMatch(/Waiting for 1 more approval/);
    if (process.env.DRBOT_SCREENSHOT) {
      await mkdir(dirname(process.env.DRBOT_SCREENSHOT), { recursive: true });
      await page.screenshot({ path: process.env.DRBOT_SCREENSHOT });
    }

    await actAs(PEOPLE.approver2);
    await confirmClick(approval.getByRole("button", { name: "Approve failover" }), "Approve");
    await visible(ephemeral(/Your approval completed/));
    const failover = card(/DR failover/).filter({ hasNotText: "approval needed" });
    await expect.poll(() => failover.last().textContent(), { timeout: 30_000 }).toMatch(/succeeded/);

    await type("/dr status");
    await visible(ephemeral(/Active site: secondary \(rosa-secondary\)/));
    await expect.poll(() => page.locator(".world .active-site").textContent(), WAIT).toBe("secondary");
    await expect
      .poll(() => panel("secondary").locator('tr[data-name="shop-dev/data"]').textContent(), WAIT)
      .toMatch(/Bound/);
    await expect
      .poll(() => page.locator(".world .replication-state").getAttribute("data-status"), WAIT)
      .toBe("none");
    expect(pageErrors).toEqual([]);
  });
});
