import { pollDelayMs } from "../../app/worker/poll-backoff.js";
import { fifoWaits, type SlotRequest } from "../bench/fifo-replay.js";
import { mean, percentile } from "../bench/percentile.js";
import { exponentialDraw, seededRandom } from "../bench/seeded-random.js";

/** What a simulated queue for fal slots gave over its jobs (the first tenth left out as warm-up). */
export interface SimulatedWaits {
  meanHoldSeconds: number;
  probabilityOfWait: number;
  meanWaitSeconds: number;
  p95WaitSeconds: number;
}

/** The queue to simulate: Poisson arrivals, fal's exponential job times, how the workers learn they ended. */
export interface SlotQueue {
  arrivalPerSecond: number;
  slots: number;
  jobSeconds: number;
  /** "webhook": the slot frees `webhookLagSeconds` after fal finishes; "poll": at the next status poll. */
  falCompletion: "webhook" | "poll";
  webhookLagSeconds: number;
  pollInitialSeconds: number;
  pollMaxSeconds: number;
  jobs: number;
  seed: number;
}

/**
 * A simulation of the queue the app runs for fal slots: requests arrive as a Poisson process, take the first
 * of `slots` slots to free up in order of arrival (fifo-replay.ts), and hold it for fal's exponential job time
 * plus the webhook's lag, or rounded up to the next status poll of the app's own schedule
 * (app/worker/poll-backoff.ts, jitter included).
 * It makes no assumption the model makes (no closed form, no exponential hold), so it is the reference the
 * model's M/G/c figures are held to.
 */
export function simulateSlotQueue(q: SlotQueue): SimulatedWaits {
  const random = seededRandom(q.seed);
  const requests: SlotRequest[] = [];
  let at = 0;
  for (let n = 0; n < q.jobs; n++) {
    at += exponentialDraw(1 / q.arrivalPerSecond, random);
    const ends = exponentialDraw(q.jobSeconds, random);
    let seen = ends + q.webhookLagSeconds;
    if (q.falCompletion === "poll") {
      seen = 0;
      for (let polls = 0; seen < ends; polls++) {
        seen += pollDelayMs(polls, q.pollInitialSeconds * 1000, q.pollMaxSeconds * 1000, random) / 1000;
      }
    }
    requests.push({ at, holdSeconds: seen });
  }
  const waits = fifoWaits(requests, q.slots).slice(Math.floor(q.jobs / 10));
  return {
    meanHoldSeconds: mean(requests.map((r) => r.holdSeconds)),
    probabilityOfWait: waits.filter((w) => w > 0).length / waits.length,
    meanWaitSeconds: mean(waits),
    p95WaitSeconds: percentile(waits, 0.95),
  };
}
