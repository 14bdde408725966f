/**
 * Random draws a benchmark can repeat: the same seed gives the same arrivals, users and job times, so two
 * runs differ only in what the system under test did.
 */

/** Mulberry32: a small seeded PRNG of uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One draw of an exponential distribution with the given mean, by inversion: −mean × ln(1 − U). The
 * model's M/M/c assumes exponential service times, so fal's job times in the load benchmark are drawn so.
 */
export function exponentialDraw(mean: number, random: () => number): number {
  if (!(mean > 0) || !Number.isFinite(mean)) throw new RangeError(`mean must be a number > 0; got ${mean}`);
  return -mean * Math.log(1 - random());
}
