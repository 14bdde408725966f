/** Growth of the poll interval per status request. */
export const POLL_GROWTH = 1.6;
/** Spread of each interval around its nominal value (±15 %), so jobs submitted together do not poll in step. */
const jitter = 0.15;

/**
 * How long to wait before status request number `polls + 1`: 2 s growing by 1.6x per poll up to 10 s
 * (with the defaults), each ±15 % at random. fal's own client polls every 500 ms; at 30 jobs in flight
 * that is 60 requests a second, this is 3-15.
 */
export function pollDelayMs(
  polls: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(maxMs, initialMs * POLL_GROWTH ** Math.max(0, polls));
  return Math.round(nominal * (1 - jitter + 2 * jitter * random()));
}
