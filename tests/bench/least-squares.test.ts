import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fitLine } from "./least-squares.js";

describe("fitLine (the calibration's least squares)", () => {
  it("recovers any line from points on it, with zero residuals", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1000, max: 1000, noNaN: true }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.uniqueArray(fc.integer({ min: 0, max: 5000 }), { minLength: 2, maxLength: 8 }),
        (intercept, slope, xs) => {
          const fit = fitLine(xs.map((x) => ({ x, y: intercept + slope * x })));
          expect(fit.intercept).toBeCloseTo(intercept, 6);
          expect(fit.slope).toBeCloseTo(slope, 6);
          for (const r of fit.residuals) expect(Math.abs(r)).toBeLessThan(1e-6);
        },
      ),
    );
  });

  it("gives the textbook fit and residuals for scattered points", () => {
    const fit = fitLine([
      { x: 0, y: 1 },
      { x: 1, y: 3 },
      { x: 2, y: 2 },
      { x: 3, y: 5 },
    ]);
    expect(fit.slope).toBeCloseTo(1.1, 10);
    expect(fit.intercept).toBeCloseTo(1.1, 10);
    expect(fit.residuals.map((r) => Number(r.toFixed(10)))).toEqual([-0.1, 0.8, -1.3, 0.6]);
    expect(fit.r2).toBeCloseTo(1 - 2.7 / 8.75, 10);
  });

  it("refuses points that do not determine a line", () => {
    expect(() => fitLine([{ x: 3, y: 1 }])).toThrow("a line needs at least two points with different x");
    expect(() =>
      fitLine([
        { x: 3, y: 1 },
        { x: 3, y: 2 },
      ]),
    ).toThrow("different x");
  });
});
