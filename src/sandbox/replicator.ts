// EFS replication, played on the sandbox's mount folders: every few seconds, for each replication
// configuration the EFS stand-in reports ENABLED, the source mount's tree is mirrored onto the
// destination mount and the destination's LastReplicatedTimestamp is moved to when the pass began
// (everything written before then has arrived). Nothing moves while either region is down, while
// the configuration is being deleted or is gone, or while replication is told to fall behind.

import { mirrorTree } from "./mirror.ts";
import type { FakeEfs } from "./stand-ins/efs.ts";

export interface ReplicatorOptions {
  efs: FakeEfs;
  /** The folder each file system is mounted at, by file system id. */
  mounts: Record<string, string>;
  intervalMs: number;
  /** Whether a region is down (the sandbox's "make the primary region fail"). */
  regionDown(region: string): boolean;
  /** Replication is falling behind: passes are skipped and the lag grows. */
  fallingBehind(): boolean;
  onError?(err: unknown): void;
}

export type PassOutcome =
  | { fileSystemId: string; outcome: "replicated"; copied: number; removed: number; at: Date }
  | { fileSystemId: string; outcome: "skipped"; reason: string };

export class Replicator {
  private readonly options: ReplicatorOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  constructor(options: ReplicatorOptions) {
    this.options = options;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops the timer and waits for a pass under way, so nothing writes after it returns. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every replication whose source is a known mount. */
  async pass(): Promise<PassOutcome[]> {
    const outcomes: PassOutcome[] = [];
    for (const fileSystemId of Object.keys(this.options.mounts)) {
      const outcome = await this.replicate(fileSystemId);
      if (outcome) outcomes.push(outcome);
    }
    return outcomes;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      const pass = this.pass().catch((err: unknown) => this.options.onError?.(err));
      this.running = pass;
      void pass.then(() => {
        if (!this.stopped) this.schedule(this.options.intervalMs);
      });
    }, delayMs);
  }

  /** Undefined when `fileSystemId` is not the source of a replication. */
  private async replicate(fileSystemId: string): Promise<PassOutcome | undefined> {
    const why = this.blocked(fileSystemId);
    if (why === "not a source") return undefined;
    if (why) return { fileSystemId, outcome: "skipped", reason: why };
    const rep = this.options.efs.replicationOf(fileSystemId);
    const destination = rep?.destinations[0];
    const target = destination && this.options.mounts[destination.fileSystemId];
    const source = this.options.mounts[fileSystemId];
    if (!target || !source) return { fileSystemId, outcome: "skipped", reason: "destination not mounted" };
    const at = new Date();
    const { copied, removed } = await mirrorTree(source, target);
    // Deleted or failed meanwhile: the copy may have landed, but no sync completed.
    const after = this.blocked(fileSystemId);
    if (after) return { fileSystemId, outcome: "skipped", reason: after };
    this.options.efs.setLastReplicated(fileSystemId, at);
    return { fileSystemId, outcome: "replicated", copied, removed, at };
  }

  private blocked(fileSystemId: string): string | undefined {
    const rep = this.options.efs.replicationOf(fileSystemId);
    if (!rep || rep.sourceFileSystemId !== fileSystemId) return "not a source";
    const destination = rep.destinations[0];
    if (!destination) return "no destination";
    if (rep.deleting) return "replication is being deleted";
    if (destination.status !== "ENABLED") return `replication is ${destination.status}`;
    if (this.options.regionDown(rep.sourceRegion)) return `source region ${rep.sourceRegion} is down`;
    if (this.options.regionDown(destination.region))
      return `destination region ${destination.region} is down`;
    if (this.options.fallingBehind()) return "replication is falling behind";
    return undefined;
  }
}
