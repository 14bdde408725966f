import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { largestFitting, largestFittingBelow } from "../../capacity/max-users.js";
import { meetsTarget, peakArrivalPerSecond, queueMetrics } from "../../capacity/queue.js";
import { slotHold } from "../../capacity/slot-hold.js";

describe("the maxUsers searches", () => {
  it("find the last count that fits for any threshold, or null when nothing binds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9_000_000 }), (last) => {
        expect(largestFitting((u) => u <= last)).toBe(last);
        expect(largestFittingBelow((u) => u <= last, 9_000_001)).toBe(last);
      }),
      { seed: 5, numRuns: 200 },
    );
    expect(largestFitting(() => true)).toBeNull();
  });

  it("the worker-slot limit is the last user count whose steps' p95 wait meets their share on today's slots", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200_000 }),
        fc.double({ min: 0.5, max: 30, noNaN: true }),
        fc.double({ min: 2, max: 60, noNaN: true }),
        (users, target, jobSeconds) => {
          const stepSeconds = jobSeconds / 50;
          const input = parsePlanInput({ users, targetWaitP95Seconds: target, stepSeconds });
          const p = plan(input);
          const servers = p.workers * p.workerConcurrency;
          const limit = p.limits.find((l) => l.resource === "workers")?.maxUsers ?? -1;
          const fits = (u: number) =>
            meetsTarget(
              queueMetrics(peakArrivalPerSecond(u, input) * input.stepsPerJob, stepSeconds, servers),
              target / input.stepsPerJob,
            );
          return (limit === 0 || fits(limit)) && !fits(limit + 1);
        },
      ),
      { seed: 2026, numRuns: 150 },
    );
  });

  it("the provider limit is the last user count whose p95 wait for a fal slot meets the target", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.double({ min: 0.5, max: 30, noNaN: true }),
        fc.double({ min: 2, max: 60, noNaN: true }),
        (providerConcurrency, target, jobSeconds) => {
          const input = parsePlanInput({
            users: 1,
            targetWaitP95Seconds: target,
            jobSeconds,
            providerConcurrency,
          });
          const p = plan(input);
          const limit = p.limits.find((l) => l.resource === "provider")?.maxUsers ?? -1;
          expect(p.provider.bindsAtUsers).toBe(limit);
          const fits = (u: number) =>
            meetsTarget(
              queueMetrics(
                peakArrivalPerSecond(u, input),
                slotHold(input).meanSeconds,
                providerConcurrency,
                slotHold(input).cv2,
              ),
              target,
            );
          return (limit === 0 || fits(limit)) && !fits(limit + 1);
        },
      ),
      { seed: 7, numRuns: 100 },
    );
  });
});
