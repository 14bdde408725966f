/**
 * Splits worker indices 0..count-1 into consecutive batches of `size`. Each batch depends on the one before
 * it, so a deploy that replaces the workers (a new image) takes down at most one batch at a time while the
 * others keep taking jobs; with a single worker there is nothing to keep running, so it is one batch.
 */
export function workerBatches(count: number, size: number): number[][] {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`worker count must be an integer ≥ 1; got ${count}`);
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`worker batch size must be an integer ≥ 1; got ${size}`);
  const batch = Math.min(size, Math.max(1, Math.floor(count / 2)));
  const batches: number[][] = [];
  for (let start = 0; start < count; start += batch) {
    batches.push(Array.from({ length: Math.min(batch, count - start) }, (_, i) => start + i));
  }
  return batches;
}
