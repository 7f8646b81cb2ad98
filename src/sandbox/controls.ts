// The console's levers on the outside world: make the primary region fail (its EFS region answers
// 503 ServiceUnavailable and its Kubernetes API server drops every connection), bring it back,
// and make replication fall behind (the replicator stops, the lag grows) or catch up.

import { SITES } from "./people.ts";
import type { FakeEfs } from "./stand-ins/efs.ts";
import type { FakeKube } from "./stand-ins/kube.ts";

export interface ControlState {
  primaryDown: boolean;
  fallingBehind: boolean;
}

export const CONTROL_ACTIONS = ["fail-primary", "restore-primary", "fall-behind", "catch-up"] as const;
export type ControlAction = (typeof CONTROL_ACTIONS)[number];

export function isControlAction(value: unknown): value is ControlAction {
  return typeof value === "string" && (CONTROL_ACTIONS as readonly string[]).includes(value);
}

export class Controls {
  private readonly efs: FakeEfs;
  private current: ControlState = { primaryDown: false, fallingBehind: false };
  private readonly listeners = new Set<() => void>();

  constructor(efs: FakeEfs, primaryCluster: FakeKube, initial?: ControlState) {
    this.efs = efs;
    // One standing rule: while the primary is down, its API server cuts every connection.
    primaryCluster.injectFault({ match: () => this.current.primaryDown, reply: "reset" });
    if (initial) this.set(initial);
  }

  state(): ControlState {
    return { ...this.current };
  }

  regionDown(region: string): boolean {
    return this.current.primaryDown && region === SITES.primary.region;
  }

  apply(action: ControlAction): ControlState {
    const next = { ...this.current };
    if (action === "fail-primary") next.primaryDown = true;
    if (action === "restore-primary") next.primaryDown = false;
    if (action === "fall-behind") next.fallingBehind = true;
    if (action === "catch-up") next.fallingBehind = false;
    this.set(next);
    return this.state();
  }

  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  private set(next: ControlState): void {
    this.current = { ...next };
    this.efs.setRegionDown(SITES.primary.region, next.primaryDown);
    for (const l of this.listeners) l();
  }
}
