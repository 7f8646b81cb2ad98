// `drbot volume delete … [--channel C…] [--follow]` and `drbot volume resize … --size 20Gi
// [--follow]`: the same requests as the Slack commands, from a pipeline or a shell. A deletion
// still needs its approval in Slack: the CLI queues it, says where the approval card is, and
// with --follow waits for the approval and the steps.

import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { describePrincipals } from "../core/authorize.ts";
import type { Config } from "../core/config.ts";
import type { FieldProblem } from "../core/volume-request.ts";
import { validateVolumeId, validateVolumeRequest } from "../core/volume-request.ts";
import { admitVolumeDelete } from "../jobs/volume-delete/admit.ts";
import { volumeDeleteJob } from "../jobs/volume-delete/index.ts";
import { admitVolumeResize } from "../jobs/volume-resize/admit.ts";
import { volumeResizeJob } from "../jobs/volume-resize/index.ts";
import { createRuntime, loadSettings } from "../runtime.ts";
import { followJob, plainText } from "./follow.ts";

export const VOLUME_DELETE_USAGE =
  "usage: drbot volume delete --business-unit B --application A --namespace N --pvc P [--channel C…] [--follow]";
export const VOLUME_RESIZE_USAGE =
  "usage: drbot volume resize --business-unit B --application A --namespace N --pvc P --size 20Gi [--follow]";

const ID_OPTIONS = {
  "business-unit": { type: "string" },
  application: { type: "string" },
  namespace: { type: "string" },
  pvc: { type: "string" },
  follow: { type: "boolean", default: false },
} as const;

const CHANNEL = /^[CG][A-Z0-9]{2,}$/;

type Print = (line: string) => void;

function readArgs(
  argv: string[],
  extra: Record<string, { type: "string" }>,
  usage: string,
  print: Print,
): Record<string, string | boolean | undefined> | undefined {
  try {
    return parseArgs({
      args: argv,
      options: { ...ID_OPTIONS, ...extra },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    print(`${(err as Error).message}\n${usage}`);
    return undefined;
  }
}

function printProblems(problems: readonly FieldProblem[], usage: string, print: Print): void {
  for (const p of problems) print(`${p.field}: ${p.message}`);
  print(usage);
}

const rules = (config: Config) => ({ tenants: config.volumes.tenants, maxSizeGi: config.volumes.maxSizeGi });

export async function volumeDeleteCli(argv: string[], env: NodeJS.ProcessEnv, print: Print): Promise<number> {
  const values = readArgs(argv, { channel: { type: "string" } }, VOLUME_DELETE_USAGE, print);
  if (!values) return 2;
  const loaded = loadSettings(env, "cli");
  const { config } = loaded;
  const valid = validateVolumeId(
    {
      business_unit: values["business-unit"],
      application: values.application,
      namespace: values.namespace,
      pvc_name: values.pvc,
    },
    rules(config),
  );
  if (!valid.ok) {
    printProblems(valid.problems, VOLUME_DELETE_USAGE, print);
    return 2;
  }
  // The approval card needs a channel: the one given, else the configured ones.
  const channel = (values.channel as string | undefined) ?? config.channels[0] ?? config.dr.alertChannel;
  if (!channel || !CHANNEL.test(channel)) {
    print(
      channel
        ? `--channel: expected a Slack channel id like C012ABCDEF, got ${JSON.stringify(channel)}`
        : "--channel: a deletion needs an approval in Slack; name the channel for its approval card (no channels or dr.alertChannel are configured)",
    );
    print(VOLUME_DELETE_USAGE);
    return 2;
  }
  const rt = createRuntime(env, "cli", { loaded });
  const requester = { id: `cli:${env.USER ?? userInfo().username}` };
  try {
    const admitted = await admitVolumeDelete(
      {
        config,
        dr: rt.dr,
        git: rt.adapters.git,
        clusters: rt.adapters.clusters,
        queues: rt.queues,
        chat: rt.adapters.chat,
        audit: rt.audit,
      },
      valid.value,
      requester,
      channel,
    );
    if (!admitted.ok) {
      print(plainText(admitted.reason));
      return 1;
    }
    const policy = config.approvals.volumeDelete;
    print(
      `queued the deletion of ${admitted.volume} as request ${admitted.requestId} (job ${admitted.jobId}); its approval card is in Slack channel ${channel}${admitted.statusTs ? ` (status card ${admitted.statusTs})` : ""}: ${policy.required} approval(s) from ${plainText(describePrincipals(policy.approvers).text)}`,
    );
    if (!values.follow) return 0;
    return await followJob(rt, "volume-delete", admitted.jobId, volumeDeleteJob, print);
  } finally {
    await rt.close();
  }
}

export async function volumeResizeCli(argv: string[], env: NodeJS.ProcessEnv, print: Print): Promise<number> {
  const values = readArgs(argv, { size: { type: "string" } }, VOLUME_RESIZE_USAGE, print);
  if (!values) return 2;
  const loaded = loadSettings(env, "cli");
  const { config } = loaded;
  const valid = validateVolumeRequest(
    {
      business_unit: values["business-unit"],
      application: values.application,
      namespace: values.namespace,
      pvc_name: values.pvc,
      pvc_size: values.size,
    },
    rules(config),
  );
  if (!valid.ok) {
    printProblems(valid.problems, VOLUME_RESIZE_USAGE, print);
    return 2;
  }
  const rt = createRuntime(env, "cli", { loaded });
  const requester = { id: `cli:${env.USER ?? userInfo().username}` };
  try {
    const admitted = await admitVolumeResize(
      {
        config,
        dr: rt.dr,
        git: rt.adapters.git,
        clusters: rt.adapters.clusters,
        queues: rt.queues,
        chat: undefined,
        audit: rt.audit,
      },
      valid.value,
      requester,
      undefined,
    );
    if (!admitted.ok) {
      print(plainText(admitted.reason));
      return 1;
    }
    print(
      `queued the resize of ${admitted.volume} to ${valid.value.sizeGi}Gi as request ${admitted.requestId} (job ${admitted.jobId})`,
    );
    if (!values.follow) return 0;
    return await followJob(rt, "volume-resize", admitted.jobId, volumeResizeJob, print);
  } finally {
    await rt.close();
  }
}
