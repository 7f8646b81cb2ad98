import { z } from "zod";
import type { Label } from "../../core/names.ts";
import { isLabel } from "../../core/names.ts";

const label = z
  .string()
  .refine(isLabel, { error: "not a DNS-1123 label" })
  .transform((s) => s as Label);

/** The queued input: an already validated request (re-validated against the live config in step 1). */
export const volumeCreateInput = z.strictObject({
  businessUnit: label,
  application: label,
  namespace: label,
  pvcName: label,
  sizeGi: z.number().int().min(1),
});
export type VolumeCreateInput = z.output<typeof volumeCreateInput>;

export interface VolumeCreateState {
  site?: "primary" | "secondary";
  manifest?: string;
  gitPath?: string;
  commitUrl?: string;
  /** `<nfs server>:<exported path>`, as a PV or a mount would name it. */
  exported?: string;
}
