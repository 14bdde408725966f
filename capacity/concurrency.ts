import { meetsTarget, type QueueMetrics, queueMetrics } from "./queue.js";
import type { PlanInput } from "./schema.js";

/**
 * Worker slots are not the queue of image jobs: a worker runs a job's short steps (submit, status polls,
 * deliver) and parks the job between them, so a slot is held for `stepSeconds` per step, not for fal's whole
 * job. The worker slots are an M/M/c queue of steps: λ_steps = λ × stepsPerJob, S = stepSeconds,
 * c = workers × concurrency. A job waits for a slot once per step, so each step's p95 wait is held to the wait
 * target divided by the steps: the slots add at most the target's worth of waiting to a whole job.
 */

/** What the concurrency search needs to know. */
export interface StepQuestion {
  /** Peak job arrivals, jobs/s. */
  lambda: number;
  stepsPerJob: number;
  stepSeconds: number;
  workers: number;
  maxWorkerConcurrency: number;
  /** p95 wait a job may spend waiting for worker slots over all its steps, s. */
  targetWaitP95Seconds: number;
}

/** The chosen concurrency per worker and the queue of steps it gives. */
export interface ConcurrencyChoice {
  concurrency: number;
  /** The queue of steps for worker slots (servers = workers × concurrency). */
  steps: QueueMetrics;
  /** False when no concurrency up to the maximum meets the target; then concurrency is that maximum. */
  meetsTarget: boolean;
}

/** The step queue's own target: the job's target spread over its steps. */
export function stepTargetSeconds(q: Pick<StepQuestion, "targetWaitP95Seconds" | "stepsPerJob">): number {
  return q.targetWaitP95Seconds / Math.max(1, q.stepsPerJob);
}

/** The question for a plan input at a peak arrival rate and a worker count. */
export function stepQuestion(input: PlanInput, lambda: number, workers: number): StepQuestion {
  return {
    lambda,
    stepsPerJob: input.stepsPerJob,
    stepSeconds: input.stepSeconds,
    workers,
    maxWorkerConcurrency: input.maxWorkerConcurrency,
    targetWaitP95Seconds: input.targetWaitP95Seconds,
  };
}

/**
 * The smallest concurrency k in 1..maxWorkerConcurrency whose step queue is stable with each step's p95 wait
 * within the step target. The p95 wait never grows with more servers, so the search starts at the first k
 * that makes the queue stable (workers × k > a) and walks up: the first k that meets the target is the smallest.
 */
export function chooseConcurrency(q: StepQuestion): ConcurrencyChoice {
  const lambdaSteps = q.lambda * q.stepsPerJob;
  const a = lambdaSteps * q.stepSeconds;
  const target = stepTargetSeconds(q);
  const first = Math.max(1, Math.floor(a / q.workers) + 1);
  for (let k = first; k <= q.maxWorkerConcurrency; k++) {
    const steps = queueMetrics(lambdaSteps, q.stepSeconds, q.workers * k);
    if (meetsTarget(steps, target)) return { concurrency: k, steps, meetsTarget: true };
  }
  const k = q.maxWorkerConcurrency;
  return {
    concurrency: k,
    steps: queueMetrics(lambdaSteps, q.stepSeconds, q.workers * k),
    meetsTarget: false,
  };
}
