import { setImmediate as tick } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { boundedPool, mapLimit } from "../../src/core/map-limit.ts";

/** A task per call that stays in flight until released, recording the most ever in flight. */
function gauge() {
  let inFlight = 0;
  let peak = 0;
  const releases: Array<() => void> = [];
  return {
    get peak() {
      return peak;
    },
    get waiting() {
      return releases.length;
    },
    task: () =>
      new Promise<void>((resolve) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        releases.push(() => {
          inFlight--;
          resolve();
        });
      }),
    releaseAll: () => {
      for (const release of releases.splice(0)) release();
    },
  };
}

describe("mapLimit", () => {
  it("calls fn once per item with its index, never more than `limit` at a time", async () => {
    const seen: string[] = [];
    let inFlight = 0;
    let peak = 0;
    await mapLimit(["a", "b", "c", "d", "e", "f", "g"], 3, async (item, index) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await tick();
      seen.push(`${index}:${item}`);
      inFlight--;
    });
    expect(seen.sort()).toEqual(["0:a", "1:b", "2:c", "3:d", "4:e", "5:f", "6:g"]);
    expect(peak).toBe(3);
  });

  it("does nothing for no items, and starts no more workers than items", async () => {
    let calls = 0;
    await mapLimit([], 4, async () => {
      calls++;
    });
    expect(calls).toBe(0);
    let inFlight = 0;
    let peak = 0;
    await mapLimit([1, 2], 10, async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await tick();
      inFlight--;
    });
    expect(peak).toBe(2);
  });

  it("rejects with the first error and starts nothing after it", async () => {
    const started: number[] = [];
    const run = mapLimit([0, 1, 2, 3, 4, 5], 1, async (item) => {
      started.push(item);
      if (item === 1) throw new Error("first");
      if (item === 2) throw new Error("second");
    });
    await expect(run).rejects.toThrow("first");
    expect(started).toEqual([0, 1]);
  });
});

describe("boundedPool", () => {
  it("holds `submit` back while `limit` tasks run, then lets the next one in", async () => {
    const g = gauge();
    const pool = boundedPool(2);
    await pool.submit(g.task);
    await pool.submit(g.task);
    let third = false;
    const submitting = pool.submit(g.task).then(() => {
      third = true;
    });
    await tick();
    expect(third).toBe(false);
    expect(g.waiting).toBe(2);
    g.releaseAll();
    await submitting;
    expect(third).toBe(true);
    g.releaseAll();
    await pool.drain();
    expect(g.peak).toBe(2);
  });

  it("drain waits for every task and rejects with the first failure; a later submit refuses", async () => {
    const pool = boundedPool(3);
    const done: number[] = [];
    await pool.submit(async () => {
      await tick();
      done.push(1);
    });
    await pool.submit(async () => {
      throw new Error("boom");
    });
    await expect(pool.drain()).rejects.toThrow("boom");
    expect(done).toEqual([1]);
    await expect(pool.submit(async () => {})).rejects.toThrow("boom");
  });

  it("drains at once when nothing was submitted", async () => {
    await expect(boundedPool(1).drain()).resolves.toBeUndefined();
  });
});
