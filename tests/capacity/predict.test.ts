import { describe, expect, it } from "vitest";
import { parsePlanInput, plan, predictLoad } from "../../capacity/index.js";

describe("predictLoad: the figures a load benchmark holds the model to", () => {
  it("gives the plan's wait for a fal slot and the jobs in flight at fal and waiting (Little's law)", () => {
    const input = parsePlanInput({ users: 300, providerConcurrency: 40, falCompletion: "poll" });
    const p = predictLoad(input);
    const full = plan(input);
    expect(p.queue.servers).toBe(40);
    expect(p.queue.p95WaitSeconds).toBe(full.queue.p95WaitSeconds);
    expect(p.queue.meanWaitSeconds).toBe(full.queue.meanWaitSeconds);
    // 1.25 jobs/s × 25 s at fal; a slot is held 29 s (until a poll sees the job done), so 36.25 slots are taken.
    expect(p.queue.jobsAtFal).toBeCloseTo(31.25, 10);
    expect(p.queue.slotSeconds).toBeCloseTo(29, 1);
    expect(p.queue.jobsWaiting).toBeCloseTo(1.25 * (full.queue.meanWaitSeconds ?? Number.NaN), 10);
    expect(p.queue.jobsInFlight).toBeCloseTo(
      1.25 * p.queue.slotSeconds + (p.queue.jobsWaiting ?? Number.NaN),
      10,
    );
    expect([p.workers, p.workerConcurrency]).toEqual([full.workers, full.workerConcurrency]);
    expect(p.telegramCallsPerSecond).toBeCloseTo(1.25 * input.messagesPerJob, 10);
    // What a worker is predicted to use: the budget without its headroom, as for memory.
    expect(p.cpuSecondsPerJob).toBeCloseTo((input.stepsPerJob * input.cpuSecondsPerStep) / 1.5, 10);
  });

  it("at other users than the input's, and with no finite wait when fal's limit is too low", () => {
    const input = parsePlanInput({ users: 300, providerConcurrency: 40 });
    const at2400 = predictLoad(input, 2400);
    expect(at2400.users).toBe(2400);
    expect(at2400.queue.stable).toBe(false);
    expect(at2400.queue.jobsAtFal).toBe(40);
    expect(at2400.queue.p95WaitSeconds).toBeNull();
    expect(at2400.queue.jobsInFlight).toBeNull();
    expect(at2400.workers).toBe(80);
  });

  it("predicts RSS from the calibration's fitted lines, or from the budgets less their headroom", () => {
    const fitted = predictLoad(
      parsePlanInput({
        users: 1000,
        providerConcurrency: 120,
        rss: { bot: { baseMB: 129.4, perUserMB: 0.00426 }, worker: { baseMB: 111.2, perJobMB: 2.86 } },
      }),
    );
    expect(fitted.rss.source).toBe("rss");
    expect(fitted.rss.botMB).toBeCloseTo(129.4 + 4.26, 10);
    expect(fitted.rss.workerMB).toBeCloseTo(111.2 + 2.86 * fitted.workerConcurrency, 10);
    const fromBudgets = predictLoad(parsePlanInput({ users: 100, providerConcurrency: 20 }));
    expect(fromBudgets.rss.source).toBe("budget / budgetHeadroom");
    expect(fromBudgets.rss.botMB).toBeCloseTo((150 + 18 * 100) / 1.5, 10);
    expect(fromBudgets.rss.workerMB).toBeCloseTo(250 / 1.5, 10);
  });
});
