// The queued input of the jobs that act on an existing volume: already validated by admission,
// checked again here because a job's data is read back from Redis.

import { z } from "zod";
import { isLabel, type Label } from "../../core/names.ts";

const label = z
  .string()
  .refine(isLabel, { error: "not a DNS-1123 label" })
  .transform((s) => s as Label);

export const volumeIdInput = z.strictObject({
  businessUnit: label,
  application: label,
  namespace: label,
  pvcName: label,
});
export type VolumeIdInput = z.output<typeof volumeIdInput>;

export const volumeResizeInput = z.strictObject({
  ...volumeIdInput.shape,
  sizeGi: z.number().int().min(1),
});
export type VolumeResizeInput = z.output<typeof volumeResizeInput>;
