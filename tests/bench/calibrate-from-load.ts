import { z } from "zod";
import { ceilTo } from "../../capacity/ceil-to.js";
import type { CalibrationPart, MeasurementRecord } from "./calibration-file.js";

/**
 * What `calibrate.ts --from-load <file>` takes from the load benchmark's runs (`bench:load --out <file>`):
 * the figures those runs measure under the production mix of arrivals and job times, which the dedicated
 * calibration runs only approximate: steps per job (the submit plus the status polls production's 2 s → 10 s
 * backoff makes at fal's real spread of job times), the CPU of a step (the workers' CPU per job less their
 * idle rate, with calibrate's headroom), and the Bot API calls per job as counted. The memory budgets stay
 * those of the dedicated runs, which hold every slot in its heaviest step on purpose.
 */

/** The parts of a load results file this reads; the rest (the printed table's figures) is kept as provenance. */
const loadResultsSchema = z.object({
  command: z.string(),
  minutes: z.number().positive(),
  levels: z
    .array(
      z.object({
        users: z.number().int().positive(),
        workersRun: z.number().int().positive(),
        timeFactor: z.number().min(1),
        measurement: z.object({
          measured: z.number().int().nonnegative(),
          arrived: z.number().int().nonnegative(),
          pollsPerJob: z.number().nullable(),
          telegramCallsPerJob: z.number().nullable(),
          workerBusyCpuSecondsPerJob: z.number().nullable(),
          bot: z.object({ peakRssMB: z.number(), afterGcRssMB: z.number() }),
          worker: z.object({ peakRssMB: z.number(), afterGcRssMB: z.number() }),
        }),
      }),
    )
    .min(1, "no load level in the file: run bench:load with at least one --users"),
});

export type LoadResultsFile = z.output<typeof loadResultsSchema>;

/** The headroom calibrate.ts puts on measured CPU (its RULE). */
export const CPU_HEADROOM = 1.5;

/** Parses a results file; throws naming each field that is missing or wrong. */
export function parseLoadResults(raw: unknown, file: string): LoadResultsFile {
  const parsed = loadResultsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join(".") || "(file)"}: ${i.message}`);
    throw new Error(`${file} is not a bench:load --out file:\n${problems.join("\n")}`);
  }
  return parsed.data;
}

/** The mean of a figure over the levels, weighted by each level's measured requests; levels without it skipped. */
function weighted(
  results: LoadResultsFile,
  pick: (m: LoadResultsFile["levels"][number]["measurement"]) => number | null,
): number {
  let sum = 0;
  let weight = 0;
  for (const { measurement: m } of results.levels) {
    const value = pick(m);
    if (value === null || !Number.isFinite(value) || m.measured === 0) continue;
    sum += value * m.measured;
    weight += m.measured;
  }
  if (weight === 0) throw new Error("no level of the load results measured a request");
  return sum / weight;
}

const round = (value: number, decimals: number): number => Number(value.toFixed(decimals));

/** The calibration part and its provenance from load results. Pure. */
export function calibrationFromLoad(
  results: LoadResultsFile,
  command: string,
): { part: CalibrationPart; record: MeasurementRecord } {
  const polls = weighted(results, (m) => m.pollsPerJob);
  const stepsPerJob = round(1 + polls, 2);
  const cpuPerJob = weighted(results, (m) => m.workerBusyCpuSecondsPerJob);
  const messagesPerJob = round(
    weighted(results, (m) => m.telegramCallsPerJob),
    2,
  );
  const part: CalibrationPart = {
    stepsPerJob,
    cpuSecondsPerStep: ceilTo((CPU_HEADROOM * cpuPerJob) / stepsPerJob, 0.001),
    messagesPerJob,
  };
  return {
    part,
    record: {
      command,
      fromRuns: results.command,
      wrote: Object.keys(part),
      rule: `stepsPerJob = 1 + the status polls per job; cpuSecondsPerStep = ${CPU_HEADROOM} × the workers' CPU per job less their idle rate, over stepsPerJob, rounded up to 0.001 s; messagesPerJob = Bot API calls per request after the greetings; each the mean over the levels weighted by measured requests`,
      minutesPerLevel: results.minutes,
      levels: results.levels.map(({ users, workersRun, timeFactor, measurement: m }) => ({
        users,
        workersRun,
        timeFactor,
        measured: m.measured,
        pollsPerJob: m.pollsPerJob === null ? null : round(m.pollsPerJob, 2),
        telegramCallsPerJob: m.telegramCallsPerJob === null ? null : round(m.telegramCallsPerJob, 2),
        workerCpuSecondsPerJob:
          m.workerBusyCpuSecondsPerJob === null ? null : round(m.workerBusyCpuSecondsPerJob, 4),
        botRssMB: { peak: round(m.bot.peakRssMB, 1), afterGc: round(m.bot.afterGcRssMB, 1) },
        workerRssMB: { peak: round(m.worker.peakRssMB, 1), afterGc: round(m.worker.afterGcRssMB, 1) },
      })),
    },
  };
}
