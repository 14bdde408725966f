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
 * The first two moments of the time a request holds a fal slot, for fal job times drawn from an exponential
 * distribution with mean `jobSeconds` (the M/M/c assumption for fal's own time): with polls at t₀ = 0 < t₁ < …,
 * a job ending in (a, b] is seen done at b, so the hold is b with probability p = e^{−μa} − e^{−μb}
 * (μ = 1 / jobSeconds), E[H] = Σ b·p and E[H²] = Σ b²·p. 25-s jobs on the 2 s → 10 s schedule: mean 29.0 s,
 * squared coefficient of variation 0.80 (an exponential time has 1: the polls round every job up to the next
 * poll, which makes holds less spread than fal's own times).
 */
export interface SlotHold {
  /** Mean seconds a request holds a slot: fal's time plus the lag until a poll sees the job done. */
  meanSeconds: number;
  /** Var(H) / E[H]²: how spread the holds are (the queue's wait scales with (1 + cv²) / 2; see queue.ts). */
  cv2: number;
}

function holdMoments(jobSeconds: number, schedule: PollSchedule): SlotHold {
  const mu = 1 / jobSeconds;
  let first = 0;
  let second = 0;
  let at = 0;
  let gap = schedule.initialSeconds;
  // Stop once the chance that the job is still running is below 1e-12: the rest adds nothing visible.
  while (Math.exp(-mu * at) > 1e-12) {
    const next = at + gap;
    const p = Math.exp(-mu * at) - Math.exp(-mu * next);
    first += next * p;
    second += next * next * p;
    at = next;
    gap = Math.min(schedule.maxSeconds, gap * schedule.growth);
  }
  return { meanSeconds: first, cv2: (second - first * first) / (first * first) };
}

/**
 * The mean time from fal finishing a job to the worker's poll that sees it: the slot stays taken until then.
 * 25 s jobs on the 2 s → 10 s schedule: 4.0 s. The load benchmark measured a slot held 28.1 s per 25-s job
 * at 1 200 users, against 29.0 s predicted this way (0.97).
 */
export function pollLagSeconds(jobSeconds: number, schedule: PollSchedule): number {
  return holdMoments(jobSeconds, schedule).meanSeconds - jobSeconds;
}

/** The inputs the time a request holds a fal slot depends on. */
export type SlotHoldInput = Pick<
  PlanInput,
  "jobSeconds" | "falCompletion" | "webhookLagSeconds" | "pollInitialSeconds" | "pollMaxSeconds"
>;

/**
 * How long one request holds a fal slot, the service time of the queue users wait in, as its mean and spread:
 * fal's time per job plus the lag until the worker learns it finished (the app frees the slot then, not when
 * fal finished). With webhooks that lag is `webhookLagSeconds` and the hold is as spread as fal's exponential
 * times (cv² = jobSeconds² / S², just under 1); with polling it is the wait for the next status poll.
 */
export function slotHold(input: SlotHoldInput): SlotHold {
  if (input.falCompletion === "webhook") {
    const meanSeconds = input.jobSeconds + input.webhookLagSeconds;
    return { meanSeconds, cv2: (input.jobSeconds / meanSeconds) ** 2 };
  }
  return holdMoments(input.jobSeconds, {
    initialSeconds: input.pollInitialSeconds,
    maxSeconds: input.pollMaxSeconds,
    growth: POLL_GROWTH,
  });
}

/** The mean of {@link slotHold}: the S of the queue's offered load a = λS. */
export function slotSeconds(input: SlotHoldInput): number {
  return slotHold(input).meanSeconds;
}

/** How the hold ends, in words: "25 s at fal + 0.1 s until its webhook" or "… + until a poll sees it done". */
export function slotHoldText(input: SlotHoldInput): string {
  return input.falCompletion === "webhook"
    ? `${input.jobSeconds} s at fal + ${input.webhookLagSeconds} s until its webhook frees the slot`
    : `${input.jobSeconds} s at fal + until a status poll sees it done`;
}
