/** Waiting in tests: for a condition that becomes true, bounded; and plain sleeping. */

/**
 * Polls until `check` passes (returns without throwing) or the time is up; the last failure is
 * rethrown. The default bound is generous: on a loaded machine a condition may take seconds.
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(everyMs);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
