import { providerQueue } from "./provider.js";
import { peakArrivalPerSecond } from "./queue.js";
import type { PlanInput, ServiceInput } from "./schema.js";
import { Sizing } from "./sizing.js";
import { slotHold } from "./slot-hold.js";

/**
 * The model's predictions for one load level, in the units a load benchmark measures, so that measured and
 * predicted can stand side by side (tests/bench). Times in s, rates per s, sizes in MB.
 */
export interface LoadPrediction {
  users: number;
  queue: {
    /** λ: peak job arrivals, jobs/s. */
    arrivalPerSecondPeak: number;
    /** fal's mean time per job, s. */
    jobSeconds: number;
    /** S: the time a request holds a fal slot, fal's time plus the lag until a poll sees it done, s. */
    slotSeconds: number;
    /** The holds' spread, Var / mean² (slot-hold.ts). */
    slotHoldCv2: number;
    /** c: fal's account limit (providerConcurrency), or the limit the users need when the input gives none. */
    servers: number;
    providerConcurrencyGiven: boolean;
    offeredErlangs: number;
    utilization: number;
    stable: boolean;
    probabilityOfWait: number;
    /** Wait for a fal slot; null when unstable. */
    meanWaitSeconds: number | null;
    p95WaitSeconds: number | null;
    /** Mean requests in progress at fal: min(λ × jobSeconds, c) (a slot is held a little longer, until the poll). */
    jobsAtFal: number;
    /** Mean requests waiting for a fal slot (λ × mean wait); null when unstable. */
    jobsWaiting: number | null;
    /** Accepted and not finished: at fal plus waiting; null when unstable. */
    jobsInFlight: number | null;
  };
  /** What the plan deploys: workers by the rule (or fixed), slots per worker sized for the steps. */
  workers: number;
  workerConcurrency: number;
  /** Predicted resident memory per process (not the Docker limit, which has headroom over it). */
  rss: { botMB: number; workerMB: number; source: "rss" | "budget / budgetHeadroom" };
  /** Bot API calls per second at peak: λ × messagesPerJob. */
  telegramCallsPerSecond: number;
  /** CPU a job costs the workers: stepsPerJob × cpuSecondsPerStep / budgetHeadroom (the fit, not the budget), s. */
  cpuSecondsPerJob: number;
}

function service(input: PlanInput, name: string): ServiceInput {
  const s = input.services.find((x) => x.name === name);
  if (s === undefined) throw new Error(`predictLoad needs a service named "${name}"`);
  return s;
}

/**
 * The figures a load benchmark checks against, at `users` (default: the input's): the queue for a fal slot
 * (λ, S, c → wait, jobs in flight), the worker setting the plan deploys, predicted RSS per process, Telegram
 * calls per second and CPU per job. RSS comes from the input's `rss` lines (the measured fits a calibration
 * gives) when present, else from the memory budgets divided by `budgetHeadroom` (the calibration's rule:
 * budget = fit × headroom). Pure.
 */
export function predictLoad(input: PlanInput, users: number = input.users): LoadPrediction {
  const { queue } = providerQueue(input, users);
  const sizing = new Sizing(input, users);
  const concurrency = sizing.choice.concurrency;
  const a = queue.offeredErlangs;
  const jobsWaiting = queue.meanQueueLength;
  const hold = slotHold(input);
  const jobsAtFal = Math.min(queue.arrivalPerSecondPeak * input.jobSeconds, queue.servers);
  const jobsHoldingSlots = Math.min(a, queue.servers);
  let rss: LoadPrediction["rss"];
  if (input.rss !== undefined) {
    const { bot, worker } = input.rss;
    rss = {
      botMB: bot.baseMB + bot.perUserMB * users,
      workerMB: worker.baseMB + worker.perJobMB * concurrency,
      source: "rss",
    };
  } else {
    const line = (s: ServiceInput, jobs: number) =>
      (s.baseMB + s.perUserMB * users + s.perJobMB * jobs) / input.budgetHeadroom;
    rss = {
      botMB: line(service(input, "bot"), 0),
      workerMB: line(service(input, "worker"), concurrency),
      source: "budget / budgetHeadroom",
    };
  }
  const lambda = peakArrivalPerSecond(users, input);
  return {
    users,
    queue: {
      arrivalPerSecondPeak: queue.arrivalPerSecondPeak,
      jobSeconds: input.jobSeconds,
      slotSeconds: hold.meanSeconds,
      slotHoldCv2: hold.cv2,
      servers: queue.servers,
      providerConcurrencyGiven: input.providerConcurrency !== undefined,
      offeredErlangs: a,
      utilization: queue.utilization,
      stable: queue.stable,
      probabilityOfWait: queue.probabilityOfWait,
      meanWaitSeconds: queue.meanWaitSeconds,
      p95WaitSeconds: queue.p95WaitSeconds,
      jobsAtFal,
      jobsWaiting,
      jobsInFlight: jobsWaiting === null ? null : jobsHoldingSlots + jobsWaiting,
    },
    workers: sizing.workers,
    workerConcurrency: concurrency,
    rss,
    telegramCallsPerSecond: lambda * input.messagesPerJob,
    // The CPU budget carries the same headroom as the memory budgets; a process is predicted to use the fit.
    cpuSecondsPerJob: (input.stepsPerJob * input.cpuSecondsPerStep) / input.budgetHeadroom,
  };
}
