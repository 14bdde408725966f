import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chooseConcurrency } from "../../capacity/concurrency.js";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { meetsTarget, queueMetrics } from "../../capacity/queue.js";

describe("the worked values of the design", () => {
  it("100 users: 4 workers × 4 = 16 servers, a = 10.42, p95 wait ≈ 1.97 s", () => {
    const p = plan(parsePlanInput({ users: 100 }));
    expect(p.workers).toBe(4);
    expect(p.workerConcurrency).toBe(4);
    expect(p.queue.servers).toBe(16);
    expect(p.queue.offeredErlangs).toBeCloseTo(10.42, 2);
    expect(p.queue.p95WaitSeconds).toBeCloseTo(1.97, 2);
  });

  it("300 users: 10 workers × 4, a = 31.25, ρ ≈ 0.78, p95 wait ≈ 1.73 s", () => {
    const p = plan(parsePlanInput({ users: 300 }));
    expect([p.workers, p.workerConcurrency, p.queue.servers]).toEqual([10, 4, 40]);
    expect(p.queue.offeredErlangs).toBeCloseTo(31.25, 10);
    expect(p.queue.utilization).toBeCloseTo(0.78, 2);
    expect(p.queue.p95WaitSeconds).toBeCloseTo(1.73, 2);
    expect(p.queue.stable).toBe(true);
  });

  it("300 users with providerConcurrency 10: unstable, no finite wait, and the provider binds", () => {
    const p = plan(parsePlanInput({ users: 300, providerConcurrency: 10 }));
    expect(p.queue.servers).toBe(10);
    expect(p.queue.stable).toBe(false);
    expect(p.queue.p95WaitSeconds).toBeNull();
    expect(p.queue.meanWaitSeconds).toBeNull();
    expect(p.queue.meanQueueLength).toBeNull();
    expect(p.bottleneck.resource).toBe("provider");
    expect(p.bottleneck.maxUsers).toBeLessThan(96); // 10 servers carry less than a = 10 Erlangs
    const codes = p.findings.map((f) => f.code);
    expect(codes).toContain("QUEUE_UNSTABLE");
    expect(codes).toContain("PROVIDER_CONCURRENCY_BINDS");
    // The JSON contract never carries Infinity or NaN (JSON.stringify would turn them into null silently).
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });
});

describe("queue properties", () => {
  it("more servers never give a longer p95 wait", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.001, max: 20, noNaN: true }),
        fc.double({ min: 1, max: 60, noNaN: true }),
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 1, max: 50 }),
        (lambda, seconds, servers, more) => {
          const fewer = queueMetrics(lambda, seconds, servers).p95WaitSeconds;
          const many = queueMetrics(lambda, seconds, servers + more).p95WaitSeconds;
          if (fewer === null) return true; // unstable before: anything is no longer
          return many !== null && many <= fewer;
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });

  it("the chosen concurrency is the smallest that meets the target", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0.5, max: 60, noNaN: true }),
        fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
        (users, usersPerWorker, target, providerConcurrency) => {
          const input = parsePlanInput({
            users,
            usersPerWorker,
            targetWaitP95Seconds: target,
            providerConcurrency,
          });
          const p = plan(input);
          const atK = (k: number) =>
            chooseConcurrency({
              lambda: p.queue.arrivalPerSecondPeak,
              jobSeconds: input.jobSeconds,
              workers: p.workers,
              maxWorkerConcurrency: k,
              providerConcurrency,
              targetWaitP95Seconds: target,
            });
          const servers = (k: number) =>
            Math.min(p.workers * k, providerConcurrency ?? Number.POSITIVE_INFINITY);
          const meets = (k: number) =>
            meetsTarget(queueMetrics(p.queue.arrivalPerSecondPeak, input.jobSeconds, servers(k)), target);
          if (!meets(p.workerConcurrency)) {
            // No k up to the maximum meets it: the plan says so and uses the maximum.
            expect(p.workerConcurrency).toBe(input.maxWorkerConcurrency);
            expect(meets(input.maxWorkerConcurrency)).toBe(false);
            return;
          }
          for (let k = 1; k < p.workerConcurrency; k++) expect(meets(k)).toBe(false);
          expect(atK(p.workerConcurrency).concurrency).toBe(p.workerConcurrency);
        },
      ),
      { seed: 1234, numRuns: 200 },
    );
  });
});
