// `drbot dr unlock <request-id>`: the operator's way out when a DR lock outlived its failover
// (say, its job was deleted by hand). Refuses while that failover is still under way.

import { isUnfinishedState, jobIdFor } from "../jobs/queues.ts";
import { createRuntime } from "../runtime.ts";

export async function drUnlockCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  print: (line: string) => void,
): Promise<number> {
  const [id, ...rest] = argv;
  if (!id || rest.length > 0 || !/^dr-[0-9a-f]{8}$/.test(id)) {
    print("usage: drbot dr unlock <request-id>   (the id `drbot dr status` shows as the DR operation)");
    return 2;
  }
  // A broken configuration is reported before anything is touched.
  const rt = createRuntime(env, "cli");
  const { dr, audit } = rt;
  const queue = rt.queues["dr-failover"];
  try {
    const holder = await dr.drLockHolder();
    if (holder !== id) {
      print(
        holder
          ? `The DR lock is held by ${holder}, not ${id}; nothing was changed.`
          : "No DR lock is held; nothing to do.",
      );
      return 1;
    }
    const job = await queue.getJob(jobIdFor("dr-failover", id));
    const state = job ? await job.getState() : "missing";
    if (job && !job.data.outcome && isUnfinishedState(state)) {
      print(
        `Failover ${id} is still ${state}; its lock is released when it ends. Cancel it (/dr cancel) or let it finish.`,
      );
      return 1;
    }
    await dr.releaseDrLock(id);
    await audit.record({
      event: "lock.released-by-operator",
      request: id,
      user: `cli:${env.USER ?? "operator"}`,
      at: String(Date.now()),
    });
    print(`Released the DR lock of ${id} (its job is ${state}). Volume requests are accepted again.`);
    return 0;
  } finally {
    await rt.close();
  }
}
