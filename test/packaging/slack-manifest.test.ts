// The Slack app manifest declares exactly the slash commands drbot answers, sends commands and
// interactivity to drbot's one endpoint, and asks for exactly the bot scopes that the Web API
// methods drbot calls need.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { SLASH_COMMANDS } from "../../src/commands/index.ts";
import { VOLUME_SUBCOMMANDS } from "../../src/commands/volume.ts";

const root = new URL("../../", import.meta.url).pathname;
const manifest = parse(readFileSync(join(root, "slack/manifest.yaml"), "utf8"), {
  uniqueKeys: true,
  strict: true,
}) as Record<string, any>;
const REQUEST_URL = /^https:\/\/[a-z0-9.-]+\/slack\/events$/;

/**
 * The bot scope each Web API method drbot calls needs (Slack's method reference). A method that
 * is not listed here fails the test: add it with its scope, and the scope to the manifest.
 */
const METHOD_SCOPES: Record<string, string[]> = {
  "auth.test": [],
  "chat.postMessage": ["chat:write"],
  "chat.update": ["chat:write"],
  "chat.postEphemeral": ["chat:write"],
  "views.open": [],
  "usergroups.users.list": ["usergroups:read"],
};

/** Web API methods called through a WebClient (`web.` in the adapter, Bolt's `client.`). */
function methodsCalled(): Set<string> {
  const methods = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) {
        const text = readFileSync(path, "utf8");
        for (const m of text.matchAll(/\b(?:web|client)\.((?:[a-z][A-Za-z]*\.)+[a-z][A-Za-z]*)\(/g)) {
          methods.add(m[1] as string);
        }
      }
    }
  };
  walk(join(root, "src"));
  return methods;
}

describe("slack/manifest.yaml", () => {
  const commands: any[] = manifest.features.slash_commands;

  it("declares exactly the slash commands drbot registers", () => {
    expect(commands.map((c) => c.command).sort()).toEqual([...SLASH_COMMANDS].sort());
  });

  it.each([...SLASH_COMMANDS])(
    "%s points at /slack/events, unescaped, with a description and usage hint",
    (name) => {
      const command = commands.find((c) => c.command === name);
      expect(command.url).toMatch(REQUEST_URL);
      expect(command.should_escape).toBe(false);
      expect(command.description.length).toBeGreaterThan(10);
      expect(command.usage_hint.length).toBeGreaterThan(3);
      // Slack's limit for a command description.
      expect(command.description.length).toBeLessThanOrEqual(2000);
    },
  );

  it("hints every /volume subcommand, within what Slack shows", () => {
    const hint: string = commands.find((c) => c.command === "/volume").usage_hint;
    for (const sub of VOLUME_SUBCOMMANDS) expect(hint).toMatch(new RegExp(`(^|\\| )${sub}\\b`));
    expect(hint.length).toBeLessThanOrEqual(1000);
  });

  it("sends interactivity (the volume form, approval buttons) to the same endpoint", () => {
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.settings.interactivity.request_url).toMatch(REQUEST_URL);
    expect(new Set(commands.map((c) => c.url))).toEqual(
      new Set([manifest.settings.interactivity.request_url]),
    );
  });

  it("is in HTTP mode (Socket Mode is a switch for operators) with a bot user", () => {
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.features.bot_user.display_name).toBe("drbot");
    expect(manifest.display_information.name).toBe("drbot");
    expect(manifest.display_information.description.length).toBeLessThanOrEqual(140);
  });

  it("asks for exactly the bot scopes drbot's Web API calls and commands need", () => {
    const called = methodsCalled();
    const unknown = [...called].filter((m) => !(m in METHOD_SCOPES));
    expect(unknown, "Web API methods without a known scope").toEqual([]);
    const needed = new Set([...called].flatMap((m) => METHOD_SCOPES[m] ?? []));
    needed.add("commands");
    expect(called).toContain("usergroups.users.list");
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...needed].sort());
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
  });
});
