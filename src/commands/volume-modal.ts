// `/volume create` without arguments: a form. Its submission is checked like the one-line
// command; input errors are shown inline beside the fields.

import { setTimeout as sleep } from "node:timers/promises";
import type { App } from "@slack/bolt";
import type { ModalView } from "@slack/types";
import type { Config } from "../core/config.ts";
import { errorMessage } from "../core/errors.ts";
import type { RawVolumeRequest, VolumeField } from "../core/volume-request.ts";
import { admitVolumeRequest, checkVolumeInput, refuseUnauthorized } from "../jobs/volume-create/admit.ts";
import type { BotDeps } from "./deps.ts";

export const VOLUME_MODAL_ID = "volume_create";

const INLINE_ANSWER_MS = 1_500;
const SLOW = Symbol("slow");

const FIELDS: Array<{
  field: Exclude<VolumeField, "business_unit">;
  label: string;
  hint: string;
  placeholder: string;
}> = [
  {
    field: "application",
    label: "Application",
    hint: "Lowercase letters, digits and -.",
    placeholder: "shipping",
  },
  {
    field: "namespace",
    label: "Namespace",
    hint: "Created if it does not exist.",
    placeholder: "shipping-dev",
  },
  { field: "pvc_name", label: "PVC name", hint: "The claim your pods mount.", placeholder: "data" },
  { field: "pvc_size", label: "Size (GiB)", hint: "A whole number of GiB, like 10.", placeholder: "10" },
];

export function volumeModal(config: Config, channel: string): ModalView {
  const tenants = Object.keys(config.volumes.tenants).sort().slice(0, 100);
  return {
    type: "modal",
    callback_id: VOLUME_MODAL_ID,
    private_metadata: JSON.stringify({ channel }),
    title: { type: "plain_text", text: "Request a volume" },
    submit: { type: "plain_text", text: "Request" },
    close: { type: "plain_text", text: "Cancel" },
    blocks: [
      {
        type: "input",
        block_id: "business_unit",
        label: { type: "plain_text", text: "Business unit" },
        element: {
          type: "static_select",
          action_id: "value",
          placeholder: { type: "plain_text", text: "Choose" },
          options: tenants.map((t) => ({ text: { type: "plain_text", text: t }, value: t })),
        },
      },
      ...FIELDS.map((f) => ({
        type: "input",
        block_id: f.field,
        label: { type: "plain_text", text: f.label },
        hint: { type: "plain_text", text: f.hint },
        element: {
          type: "plain_text_input",
          action_id: "value",
          max_length: 63,
          placeholder: { type: "plain_text", text: f.placeholder },
        },
      })),
    ],
  };
}

type ViewValues = Record<
  string,
  Record<string, { value?: string | null; selected_option?: { value: string } | null }>
>;

export function registerVolumeModal(app: App, deps: BotDeps): void {
  app.view(VOLUME_MODAL_ID, async ({ ack, view, body }) => {
    const values = view.state.values as ViewValues;
    const read = (block: string) =>
      values[block]?.value?.selected_option?.value ?? values[block]?.value?.value ?? undefined;
    const raw: RawVolumeRequest = {
      business_unit: read("business_unit"),
      application: read("application"),
      namespace: read("namespace"),
      pvc_name: read("pvc_name"),
      pvc_size: read("pvc_size"),
    };
    const channel = channelOf(view.private_metadata);
    const requester = { id: body.user.id, name: body.user.name };

    const input = checkVolumeInput(deps.config, raw);
    if (!input.ok) {
      await ack({ response_action: "errors", errors: input.fields });
      return;
    }
    // Membership may need a Slack lookup; answer inline if it is quick, otherwise close the form
    // within Slack's 3 seconds and say it in the channel.
    const authorization = refuseUnauthorized(deps, input.request, requester, channel);
    const quick = await Promise.race([authorization, sleep(INLINE_ANSWER_MS, SLOW)]);
    if (typeof quick === "string") {
      await ack({ response_action: "errors", errors: { business_unit: quick.slice(0, 150) } });
      return;
    }
    await ack();
    const tell = async (text: string) => {
      if (!channel) return;
      try {
        await deps.chat?.postEphemeral(channel, requester.id, text);
      } catch (err) {
        deps.log.warn({ err }, "could not tell the requester");
      }
    };
    const refusal = quick === SLOW ? await authorization : undefined;
    if (refusal) {
      await tell(refusal);
      return;
    }
    try {
      const admitted = await admitVolumeRequest(
        { ...deps, chat: deps.cardChat },
        input.request,
        requester,
        channel,
      );
      await tell(
        admitted.ok
          ? `Accepted: volume ${admitted.volume} is queued as request \`${admitted.requestId}\`. Its status card in this channel shows each step.`
          : admitted.reason,
      );
    } catch (err) {
      deps.log.error({ err }, "volume request from the form failed");
      await tell(`drbot could not take the request: ${errorMessage(err)}. Nothing was created; try again.`);
    }
  });
}

function channelOf(metadata: string): string | undefined {
  try {
    const parsed = JSON.parse(metadata) as { channel?: unknown };
    return typeof parsed.channel === "string" && /^[CGD][A-Z0-9]+$/.test(parsed.channel)
      ? parsed.channel
      : undefined;
  } catch {
    return undefined;
  }
}
