import type { Calibration } from "./calibration.js";
import { ceilTo } from "./ceil-to.js";
import type { PlanInput } from "./schema.js";

/**
 * What production's Prometheus saw over a window, in the model's units: the most RSS any bot and any worker
 * process reached, the workers' CPU per delivered job, fal's time per job (submission → result), status polls
 * per job, and the rate requests were accepted at, on average and at the busiest 5 minutes. Null where the
 * window holds no sample (no job delivered, say).
 */
export interface ProductionObservation {
  windowSeconds: number;
  botRssMB: number | null;
  workerRssMB: number | null;
  workerCpuSecondsPerJob: number | null;
  jobSeconds: number | null;
  pollsPerJob: number | null;
  jobsDelivered: number | null;
  meanArrivalPerSecond: number | null;
  peakArrivalPerSecond: number | null;
}

/** What a production window teaches the model: a calibration file, and the plan inputs it measured. */
export interface ProductionLearning {
  calibration: Calibration;
  /** Plan inputs the window measured (fal's time, the peak over the mean), to set in the stack when they hold. */
  inputs: Partial<Pick<PlanInput, "jobSeconds" | "peakFactor">>;
  /** Requests per user-hour the window's mean arrival rate means at the input's users (not applied: the model does not know how many users production had). */
  impliedRequestsPerUserHour: number | null;
}

/** The headroom of a budget over what was measured, as tests/bench/calibrate.ts uses. */
export const PRODUCTION_HEADROOM = 1.5;

/**
 * Turns a window of production metrics into a calibration: each process's budget is the most RSS it reached ×
 * PRODUCTION_HEADROOM, kept on the input's own line (the per-user or per-job slope stays, the base moves so
 * the line passes there at the input's users or concurrency, and the file carries the slope and reservation so
 * it stands alone as `--calibration`); CPU per step is the workers' CPU per job over
 * its steps × the headroom; steps per job are the submit plus the polls (at least one step to deliver, which
 * is all a job with a webhook takes). Figures the window lacks are left out, so the input's stay. Pure.
 */
export function learnFromProduction(
  observed: ProductionObservation,
  input: PlanInput,
  workerConcurrency: number,
  source: string,
): ProductionLearning {
  const services: Calibration["services"] = {};
  const serviceNamed = (name: string) => input.services.find((s) => s.name === name);
  const bot = serviceNamed("bot");
  if (observed.botRssMB !== null && bot !== undefined) {
    const slope = bot.perUserMB * input.users;
    services.bot = {
      baseMB: Math.max(10, ceilTo(observed.botRssMB * PRODUCTION_HEADROOM - slope, 10)),
      perUserMB: bot.perUserMB,
      reservationMB: bot.reservationMB,
    };
  }
  const worker = serviceNamed("worker");
  if (observed.workerRssMB !== null && worker !== undefined) {
    const slope = worker.perJobMB * workerConcurrency;
    services.worker = {
      baseMB: Math.max(10, ceilTo(observed.workerRssMB * PRODUCTION_HEADROOM - slope, 10)),
      perJobMB: worker.perJobMB,
      reservationMB: worker.reservationMB,
    };
  }
  const stepsPerJob = observed.pollsPerJob === null ? undefined : 1 + Math.max(1, observed.pollsPerJob);
  const steps = stepsPerJob ?? input.stepsPerJob;
  const cpuSecondsPerStep =
    observed.workerCpuSecondsPerJob === null
      ? undefined
      : ceilTo((observed.workerCpuSecondsPerJob / steps) * PRODUCTION_HEADROOM, 0.001);
  const inputs: ProductionLearning["inputs"] = {};
  if (observed.jobSeconds !== null && observed.jobSeconds > 0) inputs.jobSeconds = observed.jobSeconds;
  if (
    observed.meanArrivalPerSecond !== null &&
    observed.peakArrivalPerSecond !== null &&
    observed.meanArrivalPerSecond > 0
  ) {
    inputs.peakFactor = Math.max(1, observed.peakArrivalPerSecond / observed.meanArrivalPerSecond);
  }
  return {
    calibration: {
      source,
      services,
      ...(stepsPerJob === undefined ? {} : { stepsPerJob }),
      ...(cpuSecondsPerStep === undefined ? {} : { cpuSecondsPerStep }),
      budgetHeadroom: PRODUCTION_HEADROOM,
      measurement: { production: observed },
    },
    inputs,
    impliedRequestsPerUserHour:
      observed.meanArrivalPerSecond === null ? null : (observed.meanArrivalPerSecond * 3600) / input.users,
  };
}
