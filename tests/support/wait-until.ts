/**
 * Calls `attempt` every `intervalMs` until it resolves to something other than `undefined`, and returns
 * that. Throws `describe()`'s text when `timeoutMs` passes first, or at once when `abort()` gives a reason.
 */
export async function waitUntil<T>(
  attempt: () => Promise<T | undefined>,
  opts: {
    timeoutMs: number;
    intervalMs?: number;
    describe: () => string;
    abort?: () => string | undefined;
  },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 50;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted !== undefined) throw new Error(`${aborted}\n${opts.describe()}`);
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeoutMs} ms: ${opts.describe()}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
