import { type ConcurrencyChoice, chooseConcurrency, stepQuestion } from "./concurrency.js";
import { leanWorkerSetting } from "./lean-workers.js";
import { peakArrivalPerSecond } from "./queue.js";
import type { PlanInput, ServiceInput } from "./schema.js";

/** The name of the service whose replicas are the workers. */
export const WORKER_SERVICE = "worker";

/**
 * How the worker processes are counted: `rule` is the owner's rule (max(1, ceil(users / usersPerWorker)), or
 * the worker service's fixed replicas), what the plan deploys; `lean` is the fewest processes and slots that
 * meet every target (lean-workers.ts), what the plan reports beside it.
 */
export type WorkerMode = "rule" | "lean";

/** The worker's replicas when a config fixes them, else the sizing rule max(1, ceil(users / usersPerWorker)). */
function workersByRule(input: PlanInput, users: number): number {
  const fixed = input.services.find((s) => s.name === WORKER_SERVICE)?.replicas;
  return fixed ?? Math.max(1, Math.ceil(users / input.usersPerWorker));
}

/**
 * What the model deploys for a user count, everything else as the input says: worker processes and jobs per
 * worker. The concurrency (an Erlang C search over the steps) is computed on first use only: the memory, CPU
 * and disk searches need it only when a service has a per-job memory cost.
 */
export class Sizing {
  readonly workers: number;
  #choice: ConcurrencyChoice | undefined;

  constructor(
    readonly input: PlanInput,
    readonly users: number,
    readonly mode: WorkerMode = "rule",
  ) {
    const lean = mode === "lean" ? leanWorkerSetting(input, users) : null;
    this.workers = lean?.workers ?? workersByRule(input, users);
    this.#choice = lean?.choice;
  }

  get choice(): ConcurrencyChoice {
    this.#choice ??= chooseConcurrency(
      stepQuestion(this.input, peakArrivalPerSecond(this.users, this.input), this.workers),
    );
    return this.#choice;
  }
}

/** Replicas of a service: the worker count for `worker` (fixed or by the rule), 1 for the others unless fixed. */
export function replicasOf(service: ServiceInput, sizing: Sizing): number {
  return service.name === WORKER_SERVICE ? sizing.workers : (service.replicas ?? 1);
}
