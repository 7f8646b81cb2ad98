// `/volume create | resize | delete | list | help`. Input errors are answered in the acknowledgement itself;
// checks that need Redis, Git or the cluster answer through the response URL right after.

import type { App } from "@slack/bolt";
import { errorMessage } from "../core/errors.ts";
import { escapeMrkdwn, Mrkdwn, md } from "../core/mrkdwn.ts";
import type { RawVolumeRequest } from "../core/volume-request.ts";
import { admitVolumeRequest, checkVolumeInput, refuseUnauthorized } from "../jobs/volume-create/admit.ts";
import { parseArgs, VOLUME_KEYS } from "./args.ts";
import { type BotDeps, ephemeral, safeReplies } from "./deps.ts";
import { volumeDelete, volumeResize } from "./volume-change.ts";
import { filterProblem, listVolumes, parsePage } from "./volume-list.ts";
import { volumeModal } from "./volume-modal.ts";

export const VOLUME_USAGE = [
  "*`/volume` — static EFS volumes, recorded in Git*",
  "• `/volume create bu=<business unit> app=<application> ns=<namespace> pvc=<claim name> size=<GiB>` — e.g. `/volume create bu=sales app=shipping ns=shipping-dev pvc=data size=10Gi`",
  "  (long keys `business_unit`, `application`, `namespace`, `pvc_name`, `pvc_size` work too; size `10` or `10Gi`)",
  "• `/volume create` — the same, in a form",
  "• `/volume resize bu=… app=… ns=… pvc=… size=<GiB>` — grow a volume (never shrink); within your business unit's quota",
  "• `/volume delete bu=… app=… ns=… pvc=…` — delete a volume once an approver agrees: PV, PVC and Git files go, the directory moves to the trash (purged later)",
  "• `/volume delete resume <request-id>` — finish a deletion that stopped after its PVC was deleted",
  "• `/volume list [bu=…] [app=…] [page=N]` — volumes recorded in Git for the active site, whether each is Bound, its directory's size, and totals against quotas",
  "• `/volume help` — this text",
].join("\n");

/** Subcommands, as metrics count them (anything else is `unknown`). */
export const VOLUME_SUBCOMMANDS = ["create", "list", "delete", "resize", "help"] as const;

const LIST_KEYS: Record<string, string> = {
  bu: "business_unit",
  business_unit: "business_unit",
  app: "application",
  application: "application",
  page: "page",
};

export function registerVolumeCommand(app: App, deps: BotDeps): void {
  app.command("/volume", async (args) => {
    const { command } = args;
    const { ack, respond } = safeReplies(args);
    const sub = command.text.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
    const requester = { id: command.user_id, name: command.user_name };
    // Label values from a closed set: a typed word never becomes a metric series of its own.
    const known =
      sub === "" ? "help" : (VOLUME_SUBCOMMANDS as readonly string[]).includes(sub) ? sub : "unknown";
    const count = (result: string) => deps.metrics.commands.inc({ command: `/volume ${known}`, result });

    if (sub === "" || sub === "help") {
      await ack(ephemeral(VOLUME_USAGE));
      return count("help");
    }

    if (sub === "list") {
      const list = parseArgs(command.text, LIST_KEYS);
      if (list.errors.length > 0) {
        await ack(ephemeral(`${escapeMrkdwn(list.errors.join(" "), 1000)}\n\n${VOLUME_USAGE}`));
        return count("refused");
      }
      const page = parsePage(list.values.page);
      const problem = typeof page === "string" ? page : filterProblem(deps.config, list.values);
      if (problem || typeof page === "string") {
        await ack(ephemeral(`${problem}\n\n${VOLUME_USAGE}`));
        return count("refused");
      }
      await ack();
      await respond(
        ephemeral(
          await listVolumes(deps, requester.id, {
            ...(list.values.business_unit ? { businessUnit: list.values.business_unit } : {}),
            ...(list.values.application ? { application: list.values.application } : {}),
            page,
          }),
        ),
      );
      return count("ok");
    }

    if (sub === "delete" || sub === "resize") {
      const result = await (sub === "delete" ? volumeDelete : volumeResize)(deps, command, { ack, respond });
      return count(result);
    }

    if (sub !== "create") {
      await ack(ephemeral(md`Unknown subcommand "${sub.slice(0, 40)}".\n\n${new Mrkdwn(VOLUME_USAGE)}`));
      return count("refused");
    }

    const parsed = parseArgs(command.text, VOLUME_KEYS);
    if (parsed.errors.length === 0 && Object.keys(parsed.values).length === 0) {
      // No arguments: a form. The trigger id is only valid for 3 s, so open it before anything else.
      await ack();
      try {
        if (!deps.chat) throw new Error("SLACK_BOT_TOKEN is not set");
        await deps.chat.openView(command.trigger_id, volumeModal(deps.config, command.channel_id));
        count("modal");
      } catch (err) {
        await respond(
          ephemeral(
            `The form could not be opened (${escapeMrkdwn(errorMessage(err))}). Use the one-line form instead:\n${VOLUME_USAGE}`,
          ),
        );
        count("error");
      }
      return;
    }
    if (parsed.errors.length > 0) {
      await ack(
        ephemeral(
          `The volume request was not understood: ${escapeMrkdwn(parsed.errors.join(" "), 1000)} Nothing was created.\n\n${VOLUME_USAGE}`,
        ),
      );
      return count("refused");
    }
    const input = checkVolumeInput(deps.config, parsed.values as RawVolumeRequest);
    if (!input.ok) {
      await ack(ephemeral(input.reason));
      return count("refused");
    }
    const { request } = input;
    await ack(
      ephemeral(
        `Checking your request for volume ${request.businessUnit}.${request.application}.${request.namespace}.${request.pvcName}…`,
      ),
    );
    try {
      const refusal = await refuseUnauthorized(deps, request, requester, command.channel_id);
      if (refusal) {
        await respond(ephemeral(refusal));
        return count("refused");
      }
      const admitted = await admitVolumeRequest(
        { ...deps, chat: deps.cardChat },
        request,
        requester,
        command.channel_id,
      );
      if (!admitted.ok) {
        await respond(ephemeral(admitted.reason));
        return count("refused");
      }
      await respond(
        ephemeral(
          `Accepted: volume ${admitted.volume} is queued as request \`${admitted.requestId}\`. Its status card in this channel shows each step.`,
        ),
      );
      count("accepted");
    } catch (err) {
      deps.log.error({ err }, "volume request failed");
      await respond(
        ephemeral(
          `drbot could not take the request: ${escapeMrkdwn(errorMessage(err))}. Nothing was created; try again, and tell the platform team if it persists.`,
        ),
      );
      count("error");
    }
  });
}
