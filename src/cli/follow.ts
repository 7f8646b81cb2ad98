// `--follow`: prints each step of a job as it ends, until the job does, listening to the queue's
// events (BullMQ QueueEvents: a progress event per step transition) instead of polling.

import { QueueEvents } from "bullmq";
import { stepLogLine } from "../core/status-card.ts";
import type { JobDefinition, JobEnvelope } from "../core/steps.ts";
import type { JobKind } from "../jobs/queues.ts";
import type { Runtime } from "../runtime.ts";

/** Slack mrkdwn as a terminal shows it: links as `label (url)`, mentions as ids, no emphasis. */
export function plainText(mrkdwn: string): string {
  return mrkdwn
    .replace(/^:[a-z_]+: /, "")
    .replace(/<(https?:[^|>]+)\|([^>]+)>/g, "$2 ($1)")
    .replace(/<@([UW][A-Z0-9]+)>/g, "$1")
    .replace(/<!subteam\^(S[A-Z0-9]+)>/g, "$1")
    .replace(/<#([CG][A-Z0-9]+)>/g, "$1")
    .replace(/<!date\^\d+\^[^|]*\|([^>]+)>/g, "$1")
    .replace(/[*`]/g, "")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
}

/** Exit status: 0 when the job succeeded, 1 otherwise. */
export async function followJob(
  rt: Pick<Runtime, "queues" | "connection" | "prefix">,
  kind: JobKind,
  jobId: string,
  // biome-ignore lint/suspicious/noExplicitAny: any job definition's steps
  definition: Pick<JobDefinition<any, any, any>, "steps">,
  print: (line: string) => void,
): Promise<number> {
  const events = new QueueEvents(rt.queues[kind].name, { connection: rt.connection, prefix: rt.prefix });
  const printed = new Set<string>();
  let wake: () => void = () => {};
  const onEvent = ({ jobId: id }: { jobId: string }) => id === jobId && wake();
  events.on("progress", onEvent);
  events.on("completed", onEvent);
  events.on("failed", onEvent);
  try {
    await events.waitUntilReady();
    for (;;) {
      const next = new Promise<void>((resolve) => {
        wake = resolve;
      });
      const job = await rt.queues[kind].getJob(jobId);
      if (!job) {
        print(`job ${jobId} disappeared`);
        return 1;
      }
      const envelope = job.data as JobEnvelope;
      definition.steps.forEach((step, index) => {
        const record = envelope.steps[step.name];
        const key = `${step.name}:${record?.status}:${record?.detail ?? ""}`;
        if (record && record.status !== "pending" && !printed.has(key)) {
          printed.add(key);
          print(`[${record.status}] ${plainText(stepLogLine(index, step.title, record))}`);
        }
      });
      if (envelope.outcome) {
        const { state, reason } = envelope.outcome;
        print(`${state}${reason ? `: ${plainText(reason)}` : ""}`);
        for (const line of envelope.summary ?? []) print(plainText(line));
        return state === "succeeded" ? 0 : 1;
      }
      // A progress event, the outcome, or (should an event be missed) a look every 10 s.
      await Promise.race([next, new Promise((r) => setTimeout(r, 10_000).unref())]);
    }
  } finally {
    await events.close();
  }
}
