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
