import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chooseConcurrency } from "../../capacity/concurrency.js";
import { neededServers, parsePlanInput, plan } from "../../capacity/index.js";
import { meetsTarget, queueMetrics } from "../../capacity/queue.js";
import { slotHold, slotSeconds } from "../../capacity/slot-hold.js";

/** The app without FAL_WEBHOOK_URL: the workers learn fal finished by polling its status. */
const POLLING = { falCompletion: "poll" } as const;
const DEFAULT_POLLS = {
  ...POLLING,
  jobSeconds: 25,
  webhookLagSeconds: 0,
  pollInitialSeconds: 2,
  pollMaxSeconds: 10,
};
/** A 25-s fal job holds its slot until the 2 s → 10 s polls see it done: 29.0 s (slot-hold.test.ts). */
const HOLD = slotSeconds(DEFAULT_POLLS);

describe("the worked values of the design: the queue is fal's account limit", () => {
  it("with fal's webhooks (what the program deploys) a slot is held 25.1 s: 300 users need 38, 2 400 need 262", () => {
    const p = plan(parsePlanInput({ users: 300 }));
    expect(p.provider).toMatchObject({ falCompletion: "webhook", neededConcurrency: 38 });
    expect(p.provider.slotSeconds).toBeCloseTo(25.1, 10);
    expect(p.provider.slotHoldCv2).toBeCloseTo((25 / 25.1) ** 2, 10);
    expect(p.queue.p95WaitSeconds).toBeLessThanOrEqual(5);
    expect(plan(parsePlanInput({ users: 2400 })).provider.neededConcurrency).toBe(262);
  });

  it("300 users on an account limit of 46: a = 1.25 jobs/s × 29.0 s = 36.25, ρ ≈ 0.79, p95 wait for a fal slot ≈ 1.31 s (M/M/c's 1.45 s × (1 + 0.80) / 2)", () => {
    expect(HOLD).toBeCloseTo(29.0, 2);
    const p = plan(parsePlanInput({ ...POLLING, users: 300, providerConcurrency: 46 }));
    expect(p.queue.servers).toBe(46);
    expect(p.queue.offeredErlangs).toBeCloseTo(1.25 * HOLD, 10);
    expect(p.queue.utilization).toBeCloseTo(0.79, 2);
    expect(p.queue.p95WaitSeconds).toBeCloseTo(1.31, 2);
    expect(queueMetrics(1.25, HOLD, 46).p95WaitSeconds).toBeCloseTo(1.45, 2);
    expect(p.queue.stable).toBe(true);
    expect(p.provider).toMatchObject({ concurrency: 46, neededConcurrency: 44, slotSeconds: HOLD });
    // Counted with fal's 25 s alone (as the model did before the slot hold), 40 slots looked ample: 1.73 s.
    expect(queueMetrics(1.25, 25, 40).p95WaitSeconds).toBeCloseTo(1.73, 2);
    expect(
      plan(parsePlanInput({ ...POLLING, users: 300, providerConcurrency: 40 })).queue.p95WaitSeconds,
    ).toBeGreaterThan(15);
    expect(p.provider.bindsAtUsers).toBeGreaterThan(300);
    expect(p.findings.map((f) => f.code)).not.toContain("PROVIDER_CONCURRENCY_BINDS");
  });

  it("the servers are the account limit, whatever the workers: more workers change no wait for a fal slot", () => {
    const few = plan(
      parsePlanInput({ ...POLLING, users: 300, providerConcurrency: 40, usersPerWorker: 300 }),
    );
    const many = plan(
      parsePlanInput({ ...POLLING, users: 300, providerConcurrency: 40, usersPerWorker: 10 }),
    );
    expect([few.workers, many.workers]).toEqual([1, 30]);
    expect(many.queue).toEqual(few.queue);
  });

  it("2 400 users need an account limit of 301: 300 gives 5.7 s, 310 gives 1.6 s", () => {
    expect(plan(parsePlanInput({ ...POLLING, users: 2400 })).provider.neededConcurrency).toBe(301);
    const at = (c: number) =>
      plan(parsePlanInput({ ...POLLING, users: 2400, providerConcurrency: c })).queue.p95WaitSeconds;
    expect(at(300)).toBeCloseTo(5.7, 1);
    expect(at(310)).toBeCloseTo(1.6, 1);
    expect(neededServers(10, slotHold(DEFAULT_POLLS), 5)).toBe(301);
    expect(neededServers(10, { meanSeconds: 25, cv2: 1 }, 5)).toBe(261);
  });

  it("300 users on a new account's limit of 10: unstable, no finite wait, the provider binds, ask for 44", () => {
    const p = plan(parsePlanInput({ ...POLLING, users: 300, providerConcurrency: 10 }));
    expect(p.queue.servers).toBe(10);
    expect(p.queue.stable).toBe(false);
    expect(p.queue.p95WaitSeconds).toBeNull();
    expect(p.queue.meanWaitSeconds).toBeNull();
    expect(p.queue.meanQueueLength).toBeNull();
    const provider = p.limits.find((l) => l.resource === "provider");
    expect(provider?.maxUsers).toBeLessThan(83); // 10 servers carry less than a = 10 Erlangs (λ < 10 / 29 s)
    expect(p.provider.bindsAtUsers).toBe(provider?.maxUsers);
    const binds = p.findings.find((f) => f.code === "PROVIDER_CONCURRENCY_BINDS");
    expect(binds?.severity).toBe("error");
    expect(binds?.message).toContain("ask fal for an account limit of 44");
    expect(p.findings.map((f) => f.code)).toContain("QUEUE_UNSTABLE");
    // The JSON contract never carries Infinity or NaN (JSON.stringify would turn them into null silently).
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });

  it("without an account limit the plan assumes none: it reports the limit the users need and says so", () => {
    const p = plan(parsePlanInput({ ...POLLING, users: 300 }));
    expect(p.provider).toMatchObject({ concurrency: null, neededConcurrency: 44, bindsAtUsers: null });
    expect(p.queue.servers).toBe(44);
    expect(p.queue.p95WaitSeconds).toBeLessThanOrEqual(5);
    expect(p.limits.map((l) => l.resource)).not.toContain("provider");
    const unset = p.findings.find((f) => f.code === "PROVIDER_CONCURRENCY_UNSET");
    expect(unset?.severity).toBe("warn");
    expect(unset?.message).toMatch(/new fal accounts run 2 requests at once/);
  });
});

describe("worker slots are sized for the steps they run", () => {
  it("300 users: 10 workers by the rule, one slot each (7.5 steps/s × 0.5 s = 3.75 Erlangs on 10 slots)", () => {
    const p = plan(parsePlanInput({ users: 300 }));
    expect([p.workers, p.workerConcurrency]).toEqual([10, 1]);
    expect(p.workerSteps.queue.arrivalPerSecondPeak).toBeCloseTo(7.5, 10);
    expect(p.workerSteps.queue.offeredErlangs).toBeCloseTo(3.75, 10);
    expect(p.workerSteps.targetWaitP95Seconds).toBeCloseTo(5 / 6, 10);
    expect(p.workerSteps.meetsTarget).toBe(true);
  });

  it("reports the rule's cost: the leanest setting meeting every target, the MB it saves, where RAM then binds", () => {
    const p = plan(parsePlanInput({ users: 300, services: calibratedWorkerServices() }));
    const lean = p.leanWorkers;
    expect(lean).toMatchObject({ workers: 1, workerConcurrency: 6, host: "automation" });
    // 10 × (170 + 4.3) against 1 × (170 + 6 × 4.3), each limit rounded up.
    expect(lean?.ruleMemoryMB).toBe(10 * 175);
    expect(lean?.memoryMB).toBe(196);
    expect(lean?.savedMB).toBe(1750 - 196);
    expect(lean?.ramMaxUsers ?? 0).toBeGreaterThan(lean?.ruleRamMaxUsers ?? Number.POSITIVE_INFINITY);
    const finding = p.findings.find((f) => f.code === "WORKER_RULE_COST");
    expect(finding?.message).toContain("1 × 6, 196 MB (1554 MB less)");
    // The lean setting really meets the targets: each step's p95 wait within its share.
    const steps = chooseConcurrency({
      lambda: p.queue.arrivalPerSecondPeak,
      stepsPerJob: 6,
      stepSeconds: 0.5,
      workers: 1,
      maxWorkerConcurrency: 6,
      targetWaitP95Seconds: 5,
    });
    expect(steps).toMatchObject({ concurrency: 6, meetsTarget: true });
  });

  it("no worker process is planned over the CPU warn mark of its one core", () => {
    const p = plan(parsePlanInput({ users: 2400, usersPerWorker: 2400, cpuSecondsPerStep: 0.08 }));
    expect(p.workerSteps.cpuCoresPerWorker).toBeCloseTo(10 * 6 * 0.08, 10);
    expect(p.findings.map((f) => f.code)).toContain("WORKER_PROCESS_CPU");
    const lean = p.leanWorkers;
    expect(lean).not.toBeNull();
    expect((10 * 6 * 0.08) / (lean?.workers ?? 1)).toBeLessThan(0.8);
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

  it("the chosen concurrency is the smallest whose step queue meets each step's share of the target", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0.5, max: 60, noNaN: true }),
        fc.double({ min: 0.05, max: 5, noNaN: true }),
        (users, usersPerWorker, target, stepSeconds) => {
          const input = parsePlanInput({ users, usersPerWorker, targetWaitP95Seconds: target, stepSeconds });
          const p = plan(input);
          const atK = (k: number) =>
            chooseConcurrency({
              lambda: p.queue.arrivalPerSecondPeak,
              stepsPerJob: input.stepsPerJob,
              stepSeconds,
              workers: p.workers,
              maxWorkerConcurrency: k,
              targetWaitP95Seconds: target,
            });
          const lambdaSteps = p.queue.arrivalPerSecondPeak * input.stepsPerJob;
          const meets = (k: number) =>
            meetsTarget(queueMetrics(lambdaSteps, stepSeconds, p.workers * k), target / input.stepsPerJob);
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

/** The default services with the worker's measured budget (capacity/calibration.json: 170 MB + 4.3 MB per slot). */
function calibratedWorkerServices() {
  return parsePlanInput({ users: 1 }).services.map((s) =>
    s.name === "worker" ? { ...s, baseMB: 170, perJobMB: 4.3, reservationMB: 130 } : s,
  );
}
