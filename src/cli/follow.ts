// `--follow` for the volume commands: prints each step as it changes, until the job ends; exit
// status 0 only when it succeeded.

import type { Queue } from "bullmq";
import { stepLogLine } from "../core/status-card.ts";
import type { JobEnvelope } from "../core/steps.ts";

export async function followJob(
  queue: Queue<JobEnvelope>,
  jobId: string,
  definition: { steps: readonly { name: string; title: string }[] },
  print: (line: string) => void,
  pollMs = 500,
): Promise<number> {
  const printed = new Set<string>();
  for (;;) {
    const job = await queue.getJob(jobId);
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
        print(
          plainText(stepLogLine(index, step.title, record).replace(/^:[a-z_]+: /, `[${record.status}] `)),
        );
      }
    });
    if (envelope.outcome) {
      const { state, reason } = envelope.outcome;
      print(`${state}${reason ? `: ${plainText(reason)}` : ""}`);
      for (const line of envelope.summary ?? []) print(plainText(line));
      return state === "succeeded" ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Slack mrkdwn as a terminal shows it: links as `label (url)`, mentions as ids, no emphasis. */
export function plainText(mrkdwn: string): string {
  return mrkdwn
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
