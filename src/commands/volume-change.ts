// `/volume delete …`, `/volume delete resume <id>` and `/volume resize …`: input errors are
// answered in the acknowledgement; who may ask, what is recorded, pods, quotas and the DR lock
// right after through the response URL. A deletion then waits for its approval card; a resize
// starts at once.

import type { SlashCommand } from "@slack/bolt";
import { describePrincipals } from "../core/authorize.ts";
import type { Config } from "../core/config.ts";
import { errorMessage } from "../core/errors.ts";
import { escapeMrkdwn, md } from "../core/mrkdwn.ts";
import { pvName } from "../core/paths.ts";
import { type FieldProblem, validateVolumeId, validateVolumeRequest } from "../core/volume-request.ts";
import { refuseUnauthorized } from "../jobs/volume-create/admit.ts";
import { admitVolumeDelete, resumeVolumeDelete } from "../jobs/volume-delete/admit.ts";
import { admitVolumeResize } from "../jobs/volume-resize/admit.ts";
import { parseArgs, VOLUME_KEYS } from "./args.ts";
import { type BotDeps, ephemeral, type safeReplies } from "./deps.ts";

type Replies = ReturnType<typeof safeReplies>;
/** What the command counts in its metric. */
export type CommandResult = "ok" | "accepted" | "refused" | "error";

/** The keys that name a volume (no size). */
export const VOLUME_ID_KEYS: Record<string, string> = Object.fromEntries(
  Object.entries(VOLUME_KEYS).filter(([, field]) => field !== "pvc_size"),
);

const VOLUME_REQUEST_ID = /^vol-[0-9a-f]{8}$/;
const DELETE_EXAMPLE = "`/volume delete bu=sales app=shipping ns=shipping-dev pvc=data`";
const RESIZE_EXAMPLE = "`/volume resize bu=sales app=shipping ns=shipping-dev pvc=data size=20Gi`";
const UNCHANGED = "Nothing was changed.";

const rules = (config: Config) => ({ tenants: config.volumes.tenants, maxSizeGi: config.volumes.maxSizeGi });

function problemsText(what: string, problems: readonly FieldProblem[], example: string): string {
  const count = problems.length === 1 ? "a problem" : `${problems.length} problems`;
  return `The ${what} has ${count}:\n${problems.map((p) => `• ${escapeMrkdwn(p.message)}`).join("\n")}\n${UNCHANGED} Example: ${example}`;
}

export async function volumeDelete(
  deps: BotDeps,
  command: SlashCommand,
  { ack, respond }: Replies,
): Promise<CommandResult> {
  const requester = { id: command.user_id, name: command.user_name };
  const words = command.text.trim().split(/\s+/);
  if (words[1]?.toLowerCase() === "resume") {
    const id = words[2];
    if (!id || words.length > 3 || !VOLUME_REQUEST_ID.test(id)) {
      await ack(
        ephemeral(
          "Say which deletion to resume: `/volume delete resume vol-1234abcd` (the id is on its card).",
        ),
      );
      return "refused";
    }
    await ack();
    await respond(ephemeral(await resumeVolumeDelete(deps, id, requester.id)));
    return "ok";
  }
  const parsed = parseArgs(command.text, VOLUME_ID_KEYS);
  if (parsed.errors.length > 0) {
    await ack(
      ephemeral(
        `The deletion was not understood: ${escapeMrkdwn(parsed.errors.join(" "), 1000)} ${UNCHANGED} Example: ${DELETE_EXAMPLE}`,
      ),
    );
    return "refused";
  }
  const valid = validateVolumeId(parsed.values, rules(deps.config));
  if (!valid.ok) {
    await ack(ephemeral(problemsText("deletion request", valid.problems, DELETE_EXAMPLE)));
    return "refused";
  }
  const id = valid.value;
  await ack(ephemeral(`Checking your request to delete volume ${pvName(id)}…`));
  try {
    const refusal = await refuseUnauthorized(deps, id, requester, command.channel_id, {
      verb: "delete volumes of",
      nothing: UNCHANGED,
    });
    if (refusal) {
      await respond(ephemeral(refusal));
      return "refused";
    }
    const admitted = await admitVolumeDelete(
      { ...deps, chat: deps.cardChat },
      id,
      requester,
      command.channel_id,
    );
    if (!admitted.ok) {
      await respond(ephemeral(admitted.reason));
      return "refused";
    }
    const policy = deps.config.approvals.volumeDelete;
    await respond(
      ephemeral(
        md`Deletion of volume ${admitted.volume} requested as \`${admitted.requestId}\`. An approval card follows in this channel: ${policy.required} approval${policy.required === 1 ? "" : "s"} from ${describePrincipals(policy.approvers, requester.id)}, never yours. Nothing is deleted before that.`,
      ),
    );
    return "accepted";
  } catch (err) {
    deps.log.error({ err }, "volume deletion request failed");
    await respond(
      ephemeral(
        `drbot could not take the request: ${escapeMrkdwn(errorMessage(err))}. ${UNCHANGED} Try again, and tell the platform team if it persists.`,
      ),
    );
    return "error";
  }
}

export async function volumeResize(
  deps: BotDeps,
  command: SlashCommand,
  { ack, respond }: Replies,
): Promise<CommandResult> {
  const requester = { id: command.user_id, name: command.user_name };
  const parsed = parseArgs(command.text, VOLUME_KEYS);
  if (parsed.errors.length > 0) {
    await ack(
      ephemeral(
        `The resize was not understood: ${escapeMrkdwn(parsed.errors.join(" "), 1000)} ${UNCHANGED} Example: ${RESIZE_EXAMPLE}`,
      ),
    );
    return "refused";
  }
  const valid = validateVolumeRequest(parsed.values, rules(deps.config));
  if (!valid.ok) {
    await ack(ephemeral(problemsText("resize request", valid.problems, RESIZE_EXAMPLE)));
    return "refused";
  }
  const request = valid.value;
  await ack(ephemeral(`Checking your request to resize volume ${pvName(request)} to ${request.sizeGi}Gi…`));
  try {
    const refusal = await refuseUnauthorized(deps, request, requester, command.channel_id, {
      verb: "resize volumes of",
      nothing: UNCHANGED,
    });
    if (refusal) {
      await respond(ephemeral(refusal));
      return "refused";
    }
    const admitted = await admitVolumeResize(
      { ...deps, chat: deps.cardChat },
      request,
      requester,
      command.channel_id,
    );
    if (!admitted.ok) {
      await respond(ephemeral(admitted.reason));
      return "refused";
    }
    await respond(
      ephemeral(
        md`Accepted: volume ${admitted.volume} grows to ${request.sizeGi}Gi as request \`${admitted.requestId}\`. Its status card in this channel shows each step.`,
      ),
    );
    return "accepted";
  } catch (err) {
    deps.log.error({ err }, "volume resize request failed");
    await respond(
      ephemeral(
        `drbot could not take the request: ${escapeMrkdwn(errorMessage(err))}. ${UNCHANGED} Try again, and tell the platform team if it persists.`,
      ),
    );
    return "error";
  }
}
