import { exponentialDraw } from "./seeded-random.js";

/**
 * Arrival times of a Poisson process of `ratePerSecond` over [0, durationSeconds): the gaps between arrivals
 * are exponential with mean 1 / rate, which is what "users arrive independently at a steady rate" means and
 * what the model's M/M/c assumes. Seconds from the start, increasing.
 */
export function poissonArrivals(
  ratePerSecond: number,
  durationSeconds: number,
  random: () => number,
): number[] {
  if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond))
    throw new RangeError(`rate must be a number of arrivals per second > 0; got ${ratePerSecond}`);
  if (!(durationSeconds >= 0) || !Number.isFinite(durationSeconds))
    throw new RangeError(`duration must be a number of seconds ≥ 0; got ${durationSeconds}`);
  const times: number[] = [];
  for (let t = exponentialDraw(1 / ratePerSecond, random); t < durationSeconds; ) {
    times.push(t);
    t += exponentialDraw(1 / ratePerSecond, random);
  }
  return times;
}
