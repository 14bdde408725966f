/**
 * The q-quantile of a sample by the nearest-rank rule: the smallest value with at least q of the sample at or
 * below it. It is always a value that occurred, so "p95 wait 0 s" means at least 95 % of jobs did not wait,
 * as the model's p95 of 0 means (a wait distribution with an atom at zero).
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError("percentile of no values");
  if (!(q > 0 && q <= 1)) throw new RangeError(`q must be in (0, 1]; got ${q}`);
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(q * sorted.length) - 1] as number;
}

/** The arithmetic mean. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("mean of no values");
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}
