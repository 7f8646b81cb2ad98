// Every slash command and interactive handler, registered on one Bolt app.

import type { App } from "@slack/bolt";
import { registerApprovalButtons } from "./approval-buttons.ts";
import type { BotDeps } from "./deps.ts";
import { registerDrCommand } from "./dr.ts";
import { registerVolumeCommand } from "./volume.ts";
import { registerVolumeModal } from "./volume-modal.ts";

/** Slash commands drbot answers; the Slack app manifest must declare exactly these. */
export const SLASH_COMMANDS = ["/volume", "/dr"] as const;

export function registerCommands(app: App, deps: BotDeps): void {
  registerVolumeCommand(app, deps);
  registerVolumeModal(app, deps);
  registerDrCommand(app, deps);
  registerApprovalButtons(app, deps);
}
