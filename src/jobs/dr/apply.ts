// Applying a DR operation's planned volumes to the target cluster: namespaces first (labelled
// for their tenant), each volume once (checkpointed in Redis), then every claim must bind.

import { formatDuration } from "../../core/duration.ts";
import { errorMessage, isTransient } from "../../core/errors.ts";
import { parseManifests } from "../../core/manifests.ts";
import { mapLimit } from "../../core/map-limit.ts";
import { type Mrkdwn, md } from "../../core/mrkdwn.ts";
import type { SiteName } from "../../core/paths.ts";
import { pause, pollDelay } from "../../core/steps.ts";
import { TENANT_LABEL } from "../../core/tenancy.ts";
import type { DrContext } from "./engine.ts";

export async function applyVolumes(
  { deps, envelope, progress, signal }: DrContext,
  to: SiteName,
): Promise<{ applied: number; attention: number; detail: Mrkdwn }> {
  const id = envelope.requestId;
  const cluster = deps.clusters[to];
  const volumes = await deps.operations.loadPlan(id);
  const applied = await deps.operations.applied(id);
  const attention = await deps.operations.attention(id);
  const todo = volumes.filter((v) => !applied.has(v.path) && !(v.path in attention));

  const namespaces = new Map(todo.map((v) => [v.namespace, v.businessUnit]));
  await mapLimit([...namespaces], deps.config.failover.applyConcurrency, async ([ns, tenant]) => {
    await cluster.ensureNamespace(ns, { [TENANT_LABEL]: tenant });
  });
  let done = applied.size;
  await mapLimit(todo, deps.config.failover.applyConcurrency, async (v) => {
    try {
      const objects = parseManifests(v.manifest);
      for (const kind of ["PersistentVolume", "PersistentVolumeClaim"]) {
        for (const o of objects.filter((x) => x.kind === kind)) await cluster.apply(o);
      }
    } catch (err) {
      if (isTransient(err)) throw err; // the step is retried; applied volumes are skipped
      await deps.operations.markAttention(id, v.path, errorMessage(err));
      return;
    }
    // Outside the catch: a Redis hiccup here retries the step, it does not mislabel the volume.
    await deps.operations.markApplied(id, v.path);
    done++;
    if (done % 25 === 0 || done === volumes.length) progress(`applied ${done}/${volumes.length}`);
  });

  // Every applied claim must bind; one list call per round, however many volumes. By name, not
  // by label: manifests recorded before drbot (or from custom templates) may lack it.
  progress("waiting for the claims to bind");
  const appliedNow = await deps.operations.applied(id);
  const expected = volumes.filter((v) => appliedNow.has(v.path));
  const deadline = Date.now() + deps.config.failover.bindTimeout;
  let unbound = expected;
  for (let round = 0; ; round++) {
    const pvs = await cluster.list("PersistentVolume");
    const bound = new Set(
      pvs
        .filter((p) => (p.status as { phase?: string } | undefined)?.phase === "Bound")
        .map((p) => p.metadata.name),
    );
    unbound = expected.filter((v) => !bound.has(v.pvName));
    if (unbound.length === 0 || Date.now() >= deadline) break;
    progress(`${expected.length - unbound.length}/${expected.length} claims bound`);
    await pause(pollDelay(round, deps.timing.pollMs), signal);
  }
  for (const v of unbound) {
    await deps.operations.markAttention(
      id,
      v.path,
      `PVC ${v.namespace}/${v.pvcName} not Bound after ${formatDuration(deps.config.failover.bindTimeout)}`,
    );
  }
  const needing = Object.keys(await deps.operations.attention(id)).length;
  return {
    applied: expected.length,
    attention: needing,
    detail: md`${expected.length}/${volumes.length} applied, ${expected.length - unbound.length} bound${needing > 0 ? `, ${needing} need attention` : ""}`,
  };
}
