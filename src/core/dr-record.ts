// The DR state as recorded: which site is active and which way replication runs, with the
// operation that made it so. Git holds it as `dr/state.yaml` (written in every DR operation's one
// commit); Redis holds a copy. Losing Redis loses nothing: the copy is rebuilt from Git.

import { parse, stringify } from "yaml";
import { z } from "zod";
import type { SiteName } from "./paths.ts";

export const DR_STATE_PATH = "dr/state.yaml";

const site = z.enum(["primary", "secondary"]);

const recordSchema = z.object({
  activeSite: site,
  /** null when nothing replicates from the active site: it has no disaster-recovery copy. */
  replication: z.object({ source: site, destination: site }).nullable(),
  operation: z.string().optional(),
  requestId: z.string().optional(),
  /** ISO time of the operation. */
  at: z.string().optional(),
  requester: z.string().optional(),
  approvers: z.array(z.string()).optional(),
  /**
   * After a failover: everything written on the old site before this ISO time had reached the
   * new one. Writes after it are what a re-protect rescues.
   */
  replicatedUntil: z.string().optional(),
});

export type DrRecord = z.output<typeof recordSchema>;

/** How a fresh installation starts: the primary active, replicating to the secondary. */
export const INITIAL_RECORD: DrRecord = {
  activeSite: "primary",
  replication: { source: "primary", destination: "secondary" },
};

export function otherSite(site: SiteName): SiteName {
  return site === "primary" ? "secondary" : "primary";
}

/** Whether the active site has a replica on the other site, as recorded. */
export function isProtected(record: DrRecord): boolean {
  return record.replication?.source === record.activeSite;
}

export function serializeDrRecord(record: DrRecord): string {
  return `# Managed by drbot: the active site and the replication direction, written by every DR operation.\n${stringify(recordSchema.parse(record), { lineWidth: 0 })}`;
}

/** The record in `text`; throws with the reason when it is not one. */
export function parseDrRecord(text: string): DrRecord {
  const parsed = recordSchema.safeParse(parse(text));
  if (!parsed.success) {
    throw new Error(
      `${DR_STATE_PATH} is not a DR state drbot wrote: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
    );
  }
  return parsed.data;
}
