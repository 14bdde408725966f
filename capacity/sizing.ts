import { type ConcurrencyChoice, chooseConcurrency } from "./concurrency.js";
import { peakArrivalPerSecond } from "./queue.js";
import type { PlanInput, ServiceInput } from "./schema.js";

/** The name of the service whose replicas are the workers. */
export const WORKER_SERVICE = "worker";

/** The worker's replicas when a config fixes them, else the sizing rule max(1, ceil(users / usersPerWorker)). */
function workersFor(input: PlanInput, users: number): number {
  const fixed = input.services.find((s) => s.name === WORKER_SERVICE)?.replicas;
  return fixed ?? Math.max(1, Math.ceil(users / input.usersPerWorker));
}

/**
 * What the model deploys for a user count, everything else as the input says: worker processes and jobs per
 * worker. The concurrency (an Erlang C search) is computed on first use only: the memory, CPU and disk
 * searches need it only when a service has a per-job memory cost.
 */
export class Sizing {
  readonly workers: number;
  #choice: ConcurrencyChoice | undefined;

  constructor(
    private readonly input: PlanInput,
    readonly users: number,
  ) {
    this.workers = workersFor(input, users);
  }

  get choice(): ConcurrencyChoice {
    this.#choice ??= chooseConcurrency({
      lambda: peakArrivalPerSecond(this.users, this.input),
      jobSeconds: this.input.jobSeconds,
      workers: this.workers,
      maxWorkerConcurrency: this.input.maxWorkerConcurrency,
      providerConcurrency: this.input.providerConcurrency,
      targetWaitP95Seconds: this.input.targetWaitP95Seconds,
    });
    return this.#choice;
  }
}

/** Replicas of a service: the worker count for `worker` (fixed or by the rule), 1 for the others unless fixed. */
export function replicasOf(service: ServiceInput, sizing: Sizing): number {
  return service.name === WORKER_SERVICE ? sizing.workers : (service.replicas ?? 1);
}
