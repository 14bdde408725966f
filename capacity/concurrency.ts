import { meetsTarget, type QueueMetrics, queueMetrics } from "./queue.js";

/** What the concurrency search needs to know. */
export interface ConcurrencyQuestion {
  /** Peak arrivals, jobs/s. */
  lambda: number;
  jobSeconds: number;
  workers: number;
  maxWorkerConcurrency: number;
  /** Account-wide cap on simultaneous provider jobs; undefined = none. */
  providerConcurrency: number | undefined;
  targetWaitP95Seconds: number;
}

/** The chosen concurrency per worker and the queue it gives. */
export interface ConcurrencyChoice {
  concurrency: number;
  queue: QueueMetrics;
  /** False when no concurrency up to the maximum meets the target; then concurrency is that maximum. */
  meetsTarget: boolean;
}

/** Servers of the queue: every worker's slots, capped by the provider's account limit when there is one. */
function serversFor(workers: number, concurrency: number, providerConcurrency: number | undefined): number {
  const slots = workers * concurrency;
  return providerConcurrency === undefined ? slots : Math.min(slots, providerConcurrency);
}

/**
 * The smallest concurrency k in 1..maxWorkerConcurrency whose queue is stable with the p95 wait within target.
 * The p95 wait never grows with more servers, so the search starts at the first k that makes the queue stable
 * (workers × k > a) and walks up: the first k that meets the target is the smallest.
 */
export function chooseConcurrency(q: ConcurrencyQuestion): ConcurrencyChoice {
  const a = q.lambda * q.jobSeconds;
  const first = Math.max(1, Math.floor(a / q.workers) + 1);
  for (let k = first; k <= q.maxWorkerConcurrency; k++) {
    const servers = serversFor(q.workers, k, q.providerConcurrency);
    const queue = queueMetrics(q.lambda, q.jobSeconds, servers);
    if (meetsTarget(queue, q.targetWaitP95Seconds)) return { concurrency: k, queue, meetsTarget: true };
    // Once the provider caps the servers, more concurrency changes nothing.
    if (servers === q.providerConcurrency) break;
  }
  const k = q.maxWorkerConcurrency;
  return {
    concurrency: k,
    queue: queueMetrics(q.lambda, q.jobSeconds, serversFor(q.workers, k, q.providerConcurrency)),
    meetsTarget: false,
  };
}
