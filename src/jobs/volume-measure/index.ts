// Directory sizes for `/volume list`. Only workers mount the EFS file systems (the bot does
// not), so the bot asks through a queue: a worker walks the directories until a deadline and
// answers; the bot waits no longer than its time budget, and a directory not walked by then is
// "not measured". The job carries only paths drbot derived from recorded volumes.

import { type ConnectionOptions, Job, Worker } from "bullmq";
import type { Config } from "../../core/config.ts";
import type { Logger } from "../../core/logger.ts";
import { mapLimit } from "../../core/map-limit.ts";
import type { SiteName } from "../../core/paths.ts";
import type { DirectoryStore } from "../../core/ports/directories.ts";
import { QUEUES, type Queues } from "../queues.ts";

export interface MeasureRequest {
  site: SiteName;
  /** Each volume's directory, as segments below the site's mount path. */
  directories: string[][];
  /** When the answer is no longer wanted (ms since the epoch). */
  deadline: number;
}

/** Per directory: its size, "missing" when there is no directory, null when not measured in time. */
export type Measurement = { bytes: number; files: number } | "missing" | null;

const CONCURRENCY = 8;

/** The worker's side: walks each directory until the deadline. */
export async function measureDirectories(
  deps: { config: Config; directories: DirectoryStore },
  request: MeasureRequest,
): Promise<Measurement[]> {
  const out: Measurement[] = request.directories.map(() => null);
  const mount = deps.config.sites[request.site].efs.mountPath;
  try {
    await deps.directories.probe(mount);
  } catch {
    return out; // not mounted here: nothing can be measured
  }
  await mapLimit(request.directories, CONCURRENCY, async (segments, i) => {
    if (Date.now() >= request.deadline) return;
    try {
      const measured = await deps.directories.measure(mount, segments, { deadline: request.deadline });
      out[i] =
        measured === null
          ? "missing"
          : measured.complete
            ? { bytes: measured.bytes, files: measured.files }
            : null;
    } catch {
      out[i] = null;
    }
  });
  return out;
}

export interface RunningMeasure {
  worker: Worker;
  close(): Promise<void>;
}

export function startVolumeMeasure(
  deps: { config: Config; directories: DirectoryStore; log: Logger },
  settings: { connection: ConnectionOptions; prefix: string },
): RunningMeasure {
  const worker = new Worker(
    QUEUES["volume-measure"],
    (job: Job<MeasureRequest>) => measureDirectories(deps, job.data),
    { connection: settings.connection, prefix: settings.prefix, concurrency: 2 },
  );
  worker.on("error", (err) => deps.log.error({ err, queue: "volume-measure" }, "worker error"));
  return { worker, close: () => worker.close() };
}

/**
 * The bot's side: asks a worker to measure, and waits at most `budgetMs`. Undefined when no
 * answer came in time (no worker running, or all busy); the request is then withdrawn.
 */
export async function requestMeasurements(
  queues: Pick<Queues, "volume-measure">,
  site: SiteName,
  directories: string[][],
  budgetMs: number,
): Promise<Measurement[] | undefined> {
  if (directories.length === 0) return [];
  const deadline = Date.now() + budgetMs;
  const queue = queues["volume-measure"];
  const request: MeasureRequest = { site, directories, deadline: deadline - 100 };
  const added = await queue.add("measure", request as never, {
    attempts: 1,
    removeOnComplete: { age: 300 },
    removeOnFail: { age: 300 },
  });
  const id = added.id as string;
  try {
    while (Date.now() < deadline) {
      const job = await Job.fromId(queue, id);
      if (!job) return undefined;
      if (job.finishedOn)
        return Array.isArray(job.returnvalue) ? (job.returnvalue as Measurement[]) : undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  } finally {
    // Nobody waits any more: a worker that has not started it must not walk for nobody.
    await Job.fromId(queue, id)
      .then((job) => (job && !job.finishedOn ? job.remove() : undefined))
      .catch(() => {});
  }
}
