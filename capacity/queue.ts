import { erlangC } from "./erlang.js";

/** The M/M/c queue of image jobs at peak. Times in seconds; utilization as a fraction. */
export interface QueueMetrics {
  arrivalPerSecondPeak: number;
  offeredErlangs: number;
  servers: number;
  utilization: number;
  /** a < c: the queue has a finite wait. When false every wait figure is null, never Infinity or NaN. */
  stable: boolean;
  probabilityOfWait: number;
  meanWaitSeconds: number | null;
  p95WaitSeconds: number | null;
  meanQueueLength: number | null;
}

/** The share of jobs the p95 wait leaves above it. */
export const TAIL = 0.05;

/** Peak job arrivals per second: users × requests per user-hour / 3600 × peak factor. */
export function peakArrivalPerSecond(
  users: number,
  load: { requestsPerUserHour: number; peakFactor: number },
): number {
  return ((users * load.requestsPerUserHour) / 3600) * load.peakFactor;
}

/**
 * Erlang C figures for arrivals λ (jobs/s), service times of mean S (s) and squared coefficient of variation
 * `serviceCv2`, and c servers. For exponential service (cv² = 1, M/M/c) P(W > t) = C·e^{−(c/S − λ)t}, so the p95
 * wait is ln(C / 0.05) / (c/S − λ) when C > 0.05 and 0 otherwise. For other service times (M/G/c) the
 * Allen–Cunneen approximation keeps the chance of waiting C and stretches the wait by (1 + cv²) / 2: a fal slot
 * is held until a status poll sees the job done, which makes holds less spread than fal's exponential times
 * (cv² 0.80, slot-hold.ts), and the waits about 10 % shorter than M/M/c says; tests/capacity/queue-simulation
 * holds this to a simulation of the app's own queue within a few percent.
 */
export function queueMetrics(
  lambda: number,
  serviceSeconds: number,
  servers: number,
  serviceCv2 = 1,
): QueueMetrics {
  const a = lambda * serviceSeconds;
  const base = { arrivalPerSecondPeak: lambda, offeredErlangs: a, servers };
  if (servers === 0 || a >= servers) {
    return {
      ...base,
      utilization: servers === 0 ? 1 : a / servers,
      stable: false,
      probabilityOfWait: 1,
      meanWaitSeconds: null,
      p95WaitSeconds: null,
      meanQueueLength: null,
    };
  }
  const c = erlangC(a, servers);
  const drain = waitDrainRate(lambda, serviceSeconds, servers, serviceCv2);
  const meanWait = c / drain;
  return {
    ...base,
    utilization: a / servers,
    stable: true,
    probabilityOfWait: c,
    meanWaitSeconds: meanWait,
    p95WaitSeconds: c > TAIL ? Math.log(c / TAIL) / drain : 0,
    meanQueueLength: lambda * meanWait,
  };
}

/**
 * The rate r of the waiting time's tail, P(W > t) = C·e^{−rt}: c/S − λ for exponential service, divided by
 * (1 + cv²) / 2 otherwise (see {@link queueMetrics}).
 */
export function waitDrainRate(
  lambda: number,
  serviceSeconds: number,
  servers: number,
  serviceCv2 = 1,
): number {
  return (servers / serviceSeconds - lambda) / ((1 + serviceCv2) / 2);
}

/** Whether the queue is stable and 95 % of jobs wait no longer than the target. */
export function meetsTarget(metrics: QueueMetrics, targetP95Seconds: number): boolean {
  return metrics.p95WaitSeconds !== null && metrics.p95WaitSeconds <= targetP95Seconds;
}
