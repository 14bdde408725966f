import { USERS_MAX } from "./defaults.js";

/**
 * The largest user count a resource carries, for a `fits(users)` that is true up to some count and false after
 * (more users never need less of any resource). Zero users always fit. Both searches cost O(log USERS_MAX)
 * calls of `fits`.
 */

/** Binary search below `failsAt`, a count known not to fit. */
export function largestFittingBelow(fits: (users: number) => boolean, failsAt: number): number {
  let lo = 0;
  let hi = failsAt;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Doubles from 1 to find a count that does not fit, then searches below it; null when USERS_MAX fits. */
export function largestFitting(fits: (users: number) => boolean): number | null {
  let lo = 0;
  for (let probe = 1; probe < USERS_MAX; probe *= 2) {
    if (!fits(probe)) return lo + largestFittingBelow((u) => fits(lo + u), probe - lo);
    lo = probe;
  }
  return fits(USERS_MAX) ? null : lo + largestFittingBelow((u) => fits(lo + u), USERS_MAX - lo);
}

/** A probe of a smooth resource: whether `users` fits, and a gap that grows with users and is ≤ 0 when it fits. */
export interface Probe {
  fits: boolean;
  gap: number;
}

/**
 * Like largestFittingBelow, for a resource with a smooth gap (the queue's wait against its target): the next
 * count is interpolated between the bracket's gaps (regula falsi, Illinois variant) rather than halved, which
 * finds the answer in a handful of probes instead of ~20. A step that fails to halve the bracket is followed
 * by a bisection, so it never needs more than twice the probes of a plain binary search.
 */
export function largestFittingGuided(probe: (users: number) => Probe, failsAt: number): number {
  let lo = 0;
  let hi = failsAt;
  // Zero users fit; the gaps keep their signs even where rounding would put them on the boundary.
  let gapLo = Math.min(probe(lo).gap, -Number.MIN_VALUE);
  let gapHi = Math.max(probe(hi).gap, Number.MIN_VALUE);
  let bisect = false;
  let side = 0;
  while (hi - lo > 1) {
    const width = hi - lo;
    const guess = bisect ? lo + width / 2 : lo + (width * -gapLo) / (gapHi - gapLo);
    const mid = Math.min(hi - 1, Math.max(lo + 1, Math.round(guess)));
    const p = probe(mid);
    if (p.fits) {
      lo = mid;
      gapLo = Math.min(p.gap, -Number.MIN_VALUE);
      if (side === -1) gapHi /= 2; // Illinois: the stale end loses weight
      side = -1;
    } else {
      hi = mid;
      gapHi = Math.max(p.gap, Number.MIN_VALUE);
      if (side === 1) gapLo /= 2;
      side = 1;
    }
    bisect = !bisect && hi - lo > width / 2;
  }
  return lo;
}
