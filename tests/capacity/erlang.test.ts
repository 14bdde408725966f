import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { erlangB, erlangC } from "../../capacity/index.js";

/** Erlang B straight from its definition, (a^c / c!) / Σ a^i / i!, summed in log space to avoid overflow. */
function erlangBByDefinition(a: number, c: number): number {
  const logTerms: number[] = [];
  let logFactorial = 0;
  for (let i = 0; i <= c; i++) {
    if (i > 0) logFactorial += Math.log(i);
    logTerms.push(i * Math.log(a) - logFactorial);
  }
  const max = Math.max(...logTerms);
  const sum = logTerms.reduce((s, t) => s + Math.exp(t - max), 0);
  return Math.exp((logTerms[c] ?? 0) - max) / sum;
}

describe("Erlang B", () => {
  it.each([
    // Offered load that gives 1 % blocking on N lines, from the standard Erlang B tables.
    [4.461, 10, 0.01],
    [12.031, 20, 0.01],
    [37.901, 50, 0.01],
    [84.064, 100, 0.01],
    // 10 % blocking on 10 lines.
    [7.511, 10, 0.1],
  ])("matches the published table: a = %f Erlangs on %i lines blocks %f", (a, c, blocking) => {
    expect(erlangB(a, c)).toBeCloseTo(blocking, 4);
  });

  it("gives the exact small cases: B(1, 1) = 1/2, B(1, 2) = 1/5, B(10, 12) = 0.11974", () => {
    expect(erlangB(1, 1)).toBeCloseTo(0.5, 12);
    expect(erlangB(1, 2)).toBeCloseTo(0.2, 12);
    // Exact rational value 0.119739188444825...
    expect(erlangB(10, 12)).toBeCloseTo(0.119739188444825, 12);
  });

  it("agrees with the definition to 1e-9 relative for any load and up to 3 000 servers", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 3000, noNaN: true }),
        fc.integer({ min: 1, max: 3000 }),
        (a, c) => {
          const expected = erlangBByDefinition(a, c);
          const got = erlangB(a, c);
          if (expected < 1e-280) return got < 1e-270;
          return Math.abs(got - expected) <= 1e-9 * expected;
        },
      ),
      { seed: 20261120, numRuns: 300 },
    );
  });

  it("stays finite and within [0, 1] at 10 000 servers for any load", () => {
    for (const a of [1e-6, 1, 100, 5000, 9999.9, 10_000, 10_000.1, 20_000, 1e6]) {
      const b = erlangB(a, 10_000);
      expect(Number.isFinite(b)).toBe(true);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThanOrEqual(1);
    }
    // Far over capacity B tends to 1 − c/a.
    expect(erlangB(20_000, 10_000)).toBeCloseTo(0.5, 3);
  });
});

describe("Erlang C", () => {
  it.each([
    [11, 0.6821],
    [12, 0.4494],
    [13, 0.2853],
    [14, 0.1741],
  ])("matches the classic worked example: 10 Erlangs on %i agents wait with probability %f", (c, pw) => {
    expect(erlangC(10, c)).toBeCloseTo(pw, 4);
  });

  it("is 1 when the load reaches the servers: every job waits", () => {
    expect(erlangC(12, 12)).toBe(1);
    expect(erlangC(31.25, 10)).toBe(1);
  });

  it("stays a probability at 10 000 servers, never NaN or Infinity", () => {
    for (const a of [1, 5000, 9000, 9999, 9999.999]) {
      const c = erlangC(a, 10_000);
      expect(Number.isFinite(c)).toBe(true);
      expect(c).toBeGreaterThanOrEqual(0);
      expect(c).toBeLessThanOrEqual(1);
    }
    expect(erlangC(9999.999, 10_000)).toBeGreaterThan(0.99);
  });

  it("never grows with more servers", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 500, noNaN: true }),
        fc.integer({ min: 1, max: 800 }),
        (a, c) => {
          return erlangC(a, c + 1) <= erlangC(a, c);
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });
});
