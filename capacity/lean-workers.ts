import { type ConcurrencyChoice, chooseConcurrency, stepQuestion } from "./concurrency.js";
import { peakArrivalPerSecond } from "./queue.js";
import type { PlanInput } from "./schema.js";
import { serviceLimitMB } from "./service-limit.js";

/** A worker setting: processes, and the concurrency and step queue each runs. */
export interface WorkerSetting {
  workers: number;
  choice: ConcurrencyChoice;
  /** workers × the worker's memory limit at that concurrency, MB. */
  memoryMB: number;
}

/** How many worker counts past the first that meets the targets the search still tries. */
const LOOK_PAST = 4;

/**
 * CPU one worker process spends at peak, in cores: the steps' CPU spread over the processes. Node runs a
 * process's JavaScript on one core, so this must stay under the CPU warn mark of one core.
 */
export function cpuCoresPerWorker(input: PlanInput, users: number, workers: number): number {
  return (peakArrivalPerSecond(users, input) * input.stepsPerJob * input.cpuSecondsPerStep) / workers;
}

/**
 * The leanest worker setting that meets every target at these users: each step's wait for a worker slot
 * within its share of the wait target (concurrency.ts), every process under the CPU warn mark of one core,
 * concurrency at most maxWorkerConcurrency; of those, the one with the least worker memory (workers × limit,
 * the limit growing by perJobMB per slot). A process costs baseMB and a slot only perJobMB, so the fewest
 * processes the CPU and the concurrency cap allow usually win; the search tries a few more to be sure.
 * Null when no worker count up to the owner's rule's (or the CPU's floor + 64) meets them.
 */
export function leanWorkerSetting(input: PlanInput, users: number): WorkerSetting | null {
  const worker = input.services.find((s) => s.name === "worker");
  if (worker === undefined) return null;
  const lambda = peakArrivalPerSecond(users, input);
  const cpuTotal = lambda * input.stepsPerJob * input.cpuSecondsPerStep;
  const fromCpu = Math.max(1, Math.ceil(cpuTotal / input.thresholds.cpu.warn));
  let best: WorkerSetting | null = null;
  for (let workers = fromCpu; workers <= fromCpu + 64; workers++) {
    if (best !== null && workers > best.workers + LOOK_PAST) break;
    if (cpuTotal / workers >= input.thresholds.cpu.warn) continue;
    const choice = chooseConcurrency(stepQuestion(input, lambda, workers));
    if (!choice.meetsTarget) continue;
    const memoryMB = workers * serviceLimitMB(worker, users, choice.concurrency);
    if (best === null || memoryMB < best.memoryMB) best = { workers, choice, memoryMB };
  }
  return best;
}
