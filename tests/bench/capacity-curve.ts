/**
 * How long the capacity curve over 1..100 000 users in steps of 100 (1 000 plans) takes to compute, at the
 * defaults and with a provider cap. Run: npx tsx tests/bench/capacity-curve.ts
 * Prints the median of several runs after a warm-up; only the model is timed (no parsing, printing, chart).
 */
import { curve, type PlanInput, parsePlanInput } from "../../capacity/index.js";
import { median } from "./proc-stats.js";

const RANGE = { from: 1, to: 100_000, step: 100 };
const RUNS = 7;

function time(input: PlanInput): { totalMs: number; points: number } {
  curve(input, RANGE); // warm-up: JIT and caches
  const times: number[] = [];
  let points = 0;
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    points = curve(input, RANGE).points.length;
    times.push(performance.now() - start);
  }
  return { totalMs: median(times), points };
}

for (const [label, raw] of [
  ["defaults", { users: 1 }],
  ["providerConcurrency 400", { users: 1, providerConcurrency: 400 }],
] as const) {
  const { totalMs, points } = time(parsePlanInput(raw));
  console.log(
    `capacity curve ${RANGE.from}..${RANGE.to} step ${RANGE.step}, ${label}: ${points} plans in ${totalMs.toFixed(1)} ms ` +
      `(${((totalMs / points) * 1000).toFixed(1)} µs per plan, median of ${RUNS})`,
  );
}
