/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error. */
export async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const index = next++;
      try {
        await fn(items[index] as T, index);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

/**
 * Runs submitted tasks with at most `limit` in flight, for a stream whose items arrive one at a
 * time: `submit` waits while the pool is full (so the stream is held back, nothing piles up);
 * `drain` waits for the rest and rejects with the first error.
 */
export function boundedPool(limit: number) {
  const running = new Set<Promise<void>>();
  let failed: { error: unknown } | undefined;
  return {
    async submit(task: () => Promise<void>): Promise<void> {
      while (running.size >= limit) await Promise.race(running);
      if (failed) throw failed.error;
      const p: Promise<void> = task()
        .catch((error: unknown) => {
          failed ??= { error };
        })
        .finally(() => running.delete(p));
      running.add(p);
    },
    async drain(): Promise<void> {
      await Promise.all(running);
      if (failed) throw failed.error;
    },
  };
}
