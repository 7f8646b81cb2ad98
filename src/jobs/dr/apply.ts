// Applying a DR operation's planned volumes to the target cluster: read back from Redis a batch at
// a time (a worker never holds the whole fleet), namespaces first (labelled for their tenant),
// each volume once (checkpointed in Redis), then every claim must bind.

import { formatDuration } from "../../core/duration.ts";
import { errorMessage, isTransient } from "../../core/errors.ts";
import { mapLimit } from "../../core/map-limit.ts";
import { type Mrkdwn, md } from "../../core/mrkdwn.ts";
import type { SiteName } from "../../core/paths.ts";
import type { GitFile } from "../../core/ports/git.ts";
import { pause, pollDelay } from "../../core/steps.ts";
import { TENANT_LABEL } from "../../core/tenancy.ts";
import type { JobDeps } from "../deps.ts";
import { type DrContext, type DrStep, planOf } from "./engine.ts";
import { planStaleError, recordedChanges } from "./volumes.ts";

export async function applyVolumes(
  { deps, envelope, progress, signal }: DrContext,
  to: SiteName,
): Promise<{ applied: number; attention: number; detail: Mrkdwn }> {
  const id = envelope.requestId;
  const cluster = deps.clusters[to];
  const total = await deps.operations.planSize(id);
  const applied = await deps.operations.applied(id);
  const attention = new Set(Object.keys(await deps.operations.attention(id)));
  const namespaces = new Set<string>();
  /** Applied volumes' PV names, for the bind check (names only). */
  const expected = new Map<string, string>();
  let done = applied.size;
  await deps.operations.scanPlan(id, async (batch) => {
    for (const v of batch) if (applied.has(v.path)) expected.set(v.pvName, v.path);
    const todo = batch.filter((v) => !applied.has(v.path) && !attention.has(v.path));
    const fresh = [
      ...new Map(todo.filter((v) => !namespaces.has(v.namespace)).map((v) => [v.namespace, v.businessUnit])),
    ];
    await mapLimit(fresh, deps.config.failover.applyConcurrency, async ([ns, tenant]) => {
      await cluster.ensureNamespace(ns, { [TENANT_LABEL]: tenant });
      namespaces.add(ns);
    });
    await mapLimit(todo, deps.config.failover.applyConcurrency, async (v) => {
      try {
        for (const kind of ["PersistentVolume", "PersistentVolumeClaim"]) {
          for (const o of v.objects.filter((x) => x.kind === kind)) await cluster.apply(o);
        }
      } catch (err) {
        if (isTransient(err)) throw err; // the step is retried; applied volumes are skipped
        await deps.operations.markAttention(id, v.path, errorMessage(err));
        return;
      }
      // Outside the catch: a Redis hiccup here retries the step, it does not mislabel the volume.
      await deps.operations.markApplied(id, v.path);
      expected.set(v.pvName, v.path);
      done++;
      if (done % 25 === 0 || done === total) progress(`applied ${done}/${total}`);
    });
  });

  // Every applied claim must bind; one list call per round, however many volumes. By name, not
  // by label: manifests recorded before drbot (or from custom templates) may lack it.
  progress("waiting for the claims to bind");
  const deadline = Date.now() + deps.config.failover.bindTimeout;
  let unbound = [...expected.keys()];
  for (let round = 0; ; round++) {
    const pvs = await cluster.list("PersistentVolume");
    const bound = new Set(
      pvs
        .filter((p) => (p.status as { phase?: string } | undefined)?.phase === "Bound")
        .map((p) => p.metadata.name),
    );
    unbound = unbound.filter((name) => !bound.has(name));
    if (unbound.length === 0 || Date.now() >= deadline) break;
    progress(`${expected.size - unbound.length}/${expected.size} claims bound`);
    await pause(pollDelay(round, deps.timing.pollMs), signal);
  }
  for (const name of unbound) {
    await deps.operations.markAttention(
      id,
      expected.get(name) as string,
      `PV ${name} not Bound after ${formatDuration(deps.config.failover.bindTimeout)}`,
    );
  }
  const needing = Object.keys(await deps.operations.attention(id)).length;
  return {
    applied: expected.size,
    attention: needing,
    detail: md`${expected.size}/${total} applied, ${expected.size - unbound.length} bound${needing > 0 ? `, ${needing} need attention` : ""}`,
  };
}

/** The Git files of the volumes applied so far (their manifests for the target site). */
export async function appliedManifests(deps: JobDeps, id: string): Promise<GitFile[]> {
  const applied = await deps.operations.applied(id);
  const files: GitFile[] = [];
  await deps.operations.scanPlan(id, async (batch) => {
    for (const v of batch) if (applied.has(v.path)) files.push({ path: v.targetPath, content: v.manifest });
  });
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The step that applies the planned volumes to the target site's cluster. */
export const applyStep: DrStep = {
  name: "apply",
  title: "Apply the volumes to the target cluster",
  async run(ctx) {
    const result = await applyVolumes(ctx, planOf(ctx.state).to);
    ctx.state.applied = result.applied;
    ctx.state.attention = result.attention;
    return { detail: result.detail };
  },
};

/** At the lock: the recorded manifests must still be the planned ones (paths and blobs). */
export async function planStillCurrent(ctx: DrContext, again: string): Promise<void> {
  const plan = planOf(ctx.state);
  const planned = await ctx.deps.operations.plannedShas(ctx.envelope.requestId);
  const changes = await recordedChanges(ctx.deps, plan.from, planned, [
    ...plan.excluded.map((e) => e.path),
    ...plan.differing.map((d) => d.path),
  ]);
  if (changes.changed.length + changes.added.length + changes.removed.length > 0)
    throw planStaleError(changes, again);
}
