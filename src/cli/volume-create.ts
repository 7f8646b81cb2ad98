// `drbot volume create … [--follow]`: the same request as `/volume create`, from a CI pipeline.

import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { Authorizer } from "../core/authorize.ts";
import { admitVolumeRequest, checkVolumeInput, refuseUnauthorized } from "../jobs/volume-create/admit.ts";
import { volumeCreateJob } from "../jobs/volume-create/index.ts";
import { createRuntime, loadSettings } from "../runtime.ts";
import { followJob } from "./follow.ts";

export const VOLUME_CREATE_USAGE =
  "usage: drbot volume create --business-unit B --application A --namespace N --pvc P --size 10Gi [--follow]";

export async function volumeCreateCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "business-unit": { type: "string" },
        application: { type: "string" },
        namespace: { type: "string" },
        pvc: { type: "string" },
        size: { type: "string" },
        follow: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    print(`${(err as Error).message}\n${VOLUME_CREATE_USAGE}`);
    return 2;
  }
  const loaded = loadSettings(env, "cli");
  const { config } = loaded;
  const input = checkVolumeInput(config, {
    business_unit: values["business-unit"],
    application: values.application,
    namespace: values.namespace,
    pvc_name: values.pvc,
    pvc_size: values.size,
  });
  if (!input.ok) {
    print(
      input.reason
        .replaceAll("`", "")
        .replace(
          "/volume create bu=sales app=shipping ns=shipping-dev pvc=data size=10Gi",
          VOLUME_CREATE_USAGE,
        ),
    );
    return 2;
  }
  const rt = createRuntime(env, "cli", { loaded });
  const requester = { id: `cli:${env.USER ?? userInfo().username}` };
  try {
    const deps = {
      config,
      dr: rt.dr,
      git: rt.adapters.git,
      clusters: rt.adapters.clusters,
      authorizer: new Authorizer(undefined),
      queues: rt.queues,
      chat: undefined,
      audit: rt.audit,
    };
    const refusal = await refuseUnauthorized(deps, input.request, requester, undefined);
    const admitted = refusal
      ? { ok: false as const, reason: refusal }
      : await admitVolumeRequest(deps, input.request, requester, undefined);
    if (!admitted.ok) {
      print(admitted.reason.replaceAll("`", ""));
      return 1;
    }
    print(`queued ${admitted.volume} as request ${admitted.requestId} (job ${admitted.jobId})`);
    if (!values.follow) return 0;
    return await followJob(rt, "volume-create", admitted.jobId, volumeCreateJob, print);
  } finally {
    await rt.close();
  }
}
