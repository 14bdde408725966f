import type { PlanInput } from "./schema.js";

/**
 * How much the poll schedule grows per status request; the app's app/worker/poll-backoff.ts uses the same
 * factor (a test holds the two together).
 */
export const POLL_GROWTH = 1.6;

/** The app's status-poll schedule: the first wait, the most it grows to, its growth per poll. */
export interface PollSchedule {
  initialSeconds: number;
  maxSeconds: number;
  growth: number;
}

/**
 * The mean time from fal finishing a job to the worker's poll that sees it, for job times drawn from an
 * exponential distribution with mean `jobSeconds` (the M/M/c assumption): the slot stays taken until then.
 * With polls at t₀ = 0 < t₁ < …, a job ending in (a, b] is seen at b, so the mean lag is
 * Σ ∫ₐᵇ (b − t) μe^{−μt} dt = Σ e^{−μa} (d − (1 − e^{−μd}) / μ) with d = b − a and μ = 1 / jobSeconds.
 * 25 s jobs on the 2 s → 10 s schedule: 4.0 s. The load benchmark measured a slot held 28.1 s per 25-s job
 * at 1 200 users, against 29.0 s predicted this way (0.97).
 */
export function pollLagSeconds(jobSeconds: number, schedule: PollSchedule): number {
  const mu = 1 / jobSeconds;
  let lag = 0;
  let at = 0;
  let gap = schedule.initialSeconds;
  // Stop once the chance that the job is still running is below 1e-12: the rest adds nothing visible.
  while (Math.exp(-mu * at) > 1e-12) {
    lag += Math.exp(-mu * at) * (gap - (1 - Math.exp(-mu * gap)) / mu);
    at += gap;
    gap = Math.min(schedule.maxSeconds, gap * schedule.growth);
  }
  return lag;
}

/**
 * The time one request holds a fal slot, the service time of the queue users wait in: fal's time per job plus
 * the lag until the worker's next status poll sees it finished (the app frees the slot then, not when fal
 * finished).
 */
export function slotSeconds(
  input: Pick<PlanInput, "jobSeconds" | "pollInitialSeconds" | "pollMaxSeconds">,
): number {
  return (
    input.jobSeconds +
    pollLagSeconds(input.jobSeconds, {
      initialSeconds: input.pollInitialSeconds,
      maxSeconds: input.pollMaxSeconds,
      growth: POLL_GROWTH,
    })
  );
}
