import { describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { simulateSlotQueue } from "./queue-simulation.js";

/**
 * The plan's wait for a fal slot against a simulation of the app's queue (queue-simulation.ts) at the load
 * benchmark's three levels, each at the account limit the plan asks for, with fixed seeds. Near saturation
 * (ρ 0.94 and 0.96 at 1 200 and 2 400 users) a queue forgets its past slowly: 600 000 simulated jobs gave
 * p95 waits 10 % apart between two seeds, 3 000 000 within 3 % of each other, so these runs are long, and the
 * load benchmark's few minutes cannot pin a p95 down as closely. At 300 users exponential holds (M/M/c) would
 * put the p95 9 % too high (4.13 s against 3.80 s simulated), outside the 5 % held there; the model's
 * (1 + cv²) / 2 gives 3.72 s.
 */
describe("the wait for a fal slot, model against a simulation of the app's queue", () => {
  for (const [falCompletion, users, jobs, tolerance] of [
    ["poll", 300, 500_000, 0.05],
    ["poll", 1200, 2_000_000, 0.1],
    ["poll", 2400, 2_000_000, 0.1],
    ["webhook", 300, 500_000, 0.05],
    ["webhook", 2400, 2_000_000, 0.1],
  ] as const) {
    it(`${users} users, ${falCompletion}: chance of waiting, mean and p95 wait within ${tolerance * 100} %`, () => {
      const input = parsePlanInput({ users, falCompletion });
      const p = plan(input);
      const sim = simulateSlotQueue({
        arrivalPerSecond: p.queue.arrivalPerSecondPeak,
        slots: p.queue.servers,
        jobSeconds: input.jobSeconds,
        falCompletion,
        webhookLagSeconds: input.webhookLagSeconds,
        pollInitialSeconds: input.pollInitialSeconds,
        pollMaxSeconds: input.pollMaxSeconds,
        jobs,
        seed: users,
      });
      expect(sim.meanHoldSeconds / p.provider.slotSeconds).toBeCloseTo(1, 1);
      const ratio = (model: number | null, simulated: number) => (model ?? Number.NaN) / simulated;
      for (const r of [
        ratio(p.queue.probabilityOfWait, sim.probabilityOfWait),
        ratio(p.queue.meanWaitSeconds, sim.meanWaitSeconds),
        ratio(p.queue.p95WaitSeconds, sim.p95WaitSeconds),
      ]) {
        expect(r).toBeGreaterThan(1 - tolerance);
        expect(r).toBeLessThan(1 + tolerance);
      }
    }, 180_000); // about 2 s per million jobs on an idle core; a busy CI machine takes many times that
  }
});
