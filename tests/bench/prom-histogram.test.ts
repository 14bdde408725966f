import { describe, expect, it } from "vitest";
import { histogramFromMetrics } from "./prom-histogram.js";

const NAME = "tapbot_fal_slot_wait_seconds";

const worker = (buckets: [string, number][], sum: number, count: number): string =>
  [
    "# TYPE tapbot_fal_slot_wait_seconds histogram",
    ...buckets.map(([le, n]) => `tapbot_fal_slot_wait_seconds_bucket{le="${le}"} ${n}`),
    `tapbot_fal_slot_wait_seconds_sum ${sum}`,
    `tapbot_fal_slot_wait_seconds_count ${count}`,
    "tapbot_fal_slots_in_use 3",
  ].join("\n");

describe("an app histogram, summed over the processes' /metrics", () => {
  it("adds the workers' histograms and reads the mean and the p95 as Prometheus would", () => {
    const a = worker(
      [
        ["0.1", 40],
        ["1", 48],
        ["5", 50],
        ["+Inf", 50],
      ],
      10,
      50,
    );
    const b = worker(
      [
        ["0.1", 40],
        ["1", 48],
        ["5", 50],
        ["+Inf", 50],
      ],
      20,
      50,
    );
    const summary = histogramFromMetrics(NAME, [a, b]);
    expect(summary?.count).toBe(100);
    expect(summary?.meanSeconds).toBeCloseTo(0.3, 10);
    // 80 of 100 are ≤ 0.1 s and 96 ≤ 1 s, so rank 95 lies in (0.1, 1], 15 of its 16 along.
    expect(summary?.p95Seconds).toBeCloseTo(0.1 + (0.9 * (95 - 80)) / (96 - 80), 10);
  });

  it("says nothing (null) when the workers do not expose it or counted no wait", () => {
    expect(histogramFromMetrics(NAME, ["tapbot_jobs_completed_total 3"])).toBeNull();
    expect(histogramFromMetrics(NAME, [worker([["+Inf", 0]], 0, 0)])).toBeNull();
  });
});
