// Where a deleted volume's data waits before it is purged: nothing is destroyed when a volume is
// deleted, its directory is renamed to `<rootDirectory>/.drbot-trash/<request-id>/<bu>/<app>/<ns>/<pvc>`
// on the active file system. Each entry carries a small file saying what it is, when it was
// moved and where the delete was asked for, so the daily purge (on either site, replication
// carries the file along) knows its age and whom to tell.

import { z } from "zod";
import { directorySegments, pathSegments, type VolumeId } from "./paths.ts";

/** Beside the tenants' folders; a business unit (a DNS-1123 label) can never be named like it. */
export const TRASH_DIRECTORY = ".drbot-trash";

/** The entry file inside `<request-id>/`: its leading dot keeps it apart from any business unit. */
export const TRASH_ENTRY_FILE = ".drbot-entry.json";

/** Request ids of volume deletes: the only names the purge ever removes. */
export const TRASH_REQUEST_ID = /^vol-[0-9a-f]{8}$/;

/** An entry the purge has claimed (renamed) and is removing. */
export const PURGING_PREFIX = ".purging-";

/** Segments of the trash folder below a site's mount path. */
export function trashRoot(rootDirectory: string): string[] {
  return [...pathSegments(rootDirectory), TRASH_DIRECTORY];
}

/** Segments of one delete's entry: `<root>/.drbot-trash/<request-id>`. */
export function trashEntry(rootDirectory: string, requestId: string): string[] {
  if (!TRASH_REQUEST_ID.test(requestId)) throw new Error(`not a volume delete request id: ${requestId}`);
  return [...trashRoot(rootDirectory), requestId];
}

/** Where the volume's directory goes: `<root>/.drbot-trash/<request-id>/<bu>/<app>/<ns>/<pvc>`. */
export function trashedVolume(rootDirectory: string, requestId: string, id: VolumeId): string[] {
  const volume = directorySegments(rootDirectory, id).slice(pathSegments(rootDirectory).length);
  return [...trashEntry(rootDirectory, requestId), ...volume];
}

export const trashEntryInfo = z.object({
  requestId: z.string().regex(TRASH_REQUEST_ID),
  /** `<bu>.<app>.<ns>.<pvc>` */
  volume: z.string().max(253),
  /** When the directory was moved (ms since the epoch): the start of its retention. */
  movedAt: z.number().int().nonnegative(),
  site: z.enum(["primary", "secondary"]),
  /** The channel the delete was asked in; absent for a CLI request without one. */
  channel: z
    .string()
    .regex(/^[CGD][A-Z0-9]{2,}$/)
    .optional(),
  requester: z.string().max(200),
});
export type TrashEntryInfo = z.output<typeof trashEntryInfo>;

/** The entry file's text, or null when it is not one drbot wrote. */
export function parseTrashEntryInfo(text: string | null): TrashEntryInfo | null {
  if (text === null) return null;
  try {
    const parsed = trashEntryInfo.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
