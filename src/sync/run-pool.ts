// A work queue drained by at most `limit` concurrent tasks, where each task may enqueue more work (a tree crawl).

/** Runs `task` on every queued value and on whatever the tasks return; resolves with the number of tasks run. */
export function runPool<T>(
  initial: readonly T[],
  limit: number,
  task: (value: T) => Promise<readonly T[]>,
): Promise<number> {
  const queue = [...initial];
  let active = 0;
  let ran = 0;
  let failed = false;
  return new Promise<number>((resolve, reject) => {
    const pump = (): void => {
      while (!failed && active < limit && queue.length > 0) {
        const value = queue.shift() as T;
        active++;
        ran++;
        task(value).then(
          (more) => {
            active--;
            queue.push(...more);
            pump();
          },
          (err: unknown) => {
            failed = true;
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      }
      if (!failed && active === 0 && queue.length === 0) resolve(ran);
    };
    pump();
  });
}
