import { describe, expect, it } from "vitest";
import { mean, percentile } from "./percentile.js";
import { poissonArrivals } from "./poisson-arrivals.js";
import { exponentialDraw, seededRandom } from "./seeded-random.js";

describe("the load benchmark's random draws", () => {
  it("repeats a run for the same seed and differs for another", () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const c = seededRandom(8);
    const first = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(first);
    expect(Array.from({ length: 5 }, c)).not.toEqual(first);
    for (const u of first) expect(u >= 0 && u < 1).toBe(true);
  });

  it("draws exponential job times: the mean as asked, about 5 % above 3 × the mean, none negative", () => {
    const random = seededRandom(1);
    const draws = Array.from({ length: 40_000 }, () => exponentialDraw(25, random));
    expect(mean(draws)).toBeGreaterThan(24.5);
    expect(mean(draws)).toBeLessThan(25.5);
    // P(X > 3m) = e^-3 ≈ 0.0498 for an exponential; a uniform or normal draw with the same mean would not give it.
    const tail = draws.filter((d) => d > 75).length / draws.length;
    expect(tail).toBeGreaterThan(0.045);
    expect(tail).toBeLessThan(0.055);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
  });

  it("refuses a mean that is not a positive number, naming it", () => {
    expect(() => exponentialDraw(0, Math.random)).toThrow(/mean must be a number > 0; got 0/);
  });

  it("spreads Poisson arrivals at the rate asked, with exponential gaps (as many gaps under the mean gap as e says)", () => {
    const times = poissonArrivals(10, 2_000, seededRandom(3));
    expect(times.length).toBeGreaterThan(19_600);
    expect(times.length).toBeLessThan(20_400);
    expect(times.every((t, i) => i === 0 || t > (times[i - 1] as number))).toBe(true);
    expect(times.at(-1)).toBeLessThan(2_000);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // P(gap < 1/λ) = 1 − e^-1 ≈ 0.632; evenly spaced arrivals would give 0 or 1.
    const short = gaps.filter((g) => g < 0.1).length / gaps.length;
    expect(short).toBeGreaterThan(0.62);
    expect(short).toBeLessThan(0.645);
  });

  it("arrives nothing in no time and refuses a rate that is not positive", () => {
    expect(poissonArrivals(5, 0, seededRandom(1))).toEqual([]);
    expect(() => poissonArrivals(-1, 10, seededRandom(1))).toThrow(/rate must be .* > 0; got -1/);
  });
});

describe("percentile and mean", () => {
  it("gives the nearest-rank percentile: a value that occurred", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
    expect(percentile(hundred, 0.95)).toBe(95);
    expect(percentile(hundred, 1)).toBe(100);
    expect(percentile([3], 0.95)).toBe(3);
    expect(percentile([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4], 0.95)).toBe(0);
    expect(percentile([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4], 0.95)).toBe(4);
    expect(mean([1, 2, 6])).toBe(3);
  });

  it("refuses an empty sample instead of printing NaN", () => {
    expect(() => percentile([], 0.95)).toThrow(/no values/);
    expect(() => mean([])).toThrow(/no values/);
  });
});
