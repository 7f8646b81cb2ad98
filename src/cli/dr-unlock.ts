// `drbot dr unlock <request-id>`: the operator's way out when a DR lock outlived its operation
// (say, its job was deleted by hand). Refuses while that operation is still under way, and while
// it is halted past its point of no return (it must be resumed and finished, never abandoned).

import { isUnfinishedState, jobIdFor } from "../jobs/queues.ts";
import { createRuntime, type Runtime } from "../runtime.ts";

/** Every DR operation takes the same lock; the holder's job is in one of these queues. */
const DR_KINDS = ["failover", "reprotect", "switchover"] as const;

async function findJob(rt: Runtime, id: string) {
  for (const kind of DR_KINDS) {
    const job = await rt.queues[`dr-${kind}`].getJob(jobIdFor(`dr-${kind}`, id));
    if (job) return { kind, job };
  }
  return undefined;
}

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
    const found = await findJob(rt, id);
    const state = found ? await found.job.getState() : "missing";
    if (found && !found.job.data.outcome) {
      const { kind, job } = found;
      // Past its point of no return an operation holds the lock until it is finished, whatever
      // BullMQ says of its job (a job the queue failed by itself is resumable too).
      if (job.data.halted || job.data.pastPointOfNoReturn) {
        print(
          `The ${kind} ${id} is past its point of no return and not finished (${job.data.halted ? "halted" : state}); it keeps the lock until it ends. Resume it (/dr ${kind} resume ${id}) and let it finish; nothing was changed.`,
        );
        return 1;
      }
      if (isUnfinishedState(state)) {
        print(
          `The ${kind} ${id} is still ${state}; its lock is released when it ends. Let it finish; nothing was changed.`,
        );
        return 1;
      }
    }
    await dr.releaseDrLock(id);
    await audit.record({
      event: "lock.released-by-operator",
      request: id,
      user: `cli:${env.USER ?? "operator"}`,
      ...(found ? { kind: `dr-${found.kind}` } : {}),
      job: state,
      at: String(Date.now()),
    });
    print(`Released the DR lock of ${id} (its job is ${state}). Volume requests are accepted again.`);
    return 0;
  } finally {
    await rt.close();
  }
}
