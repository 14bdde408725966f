import type { LevelMeasurement } from "./load-level.js";
import type { LevelPrediction } from "./load-prediction.js";
import type { RatioRow } from "./ratio-table.js";

/** What `bench:load --out` writes: every level's prediction and measurement, and how they were made. */
export interface LoadResults {
  command: string;
  minutes: number;
  seed: number;
  levels: {
    users: number;
    workersRun: number;
    /** The level's time compression (waits × it, rates ÷ it are printed). */
    timeFactor: number;
    prediction: LevelPrediction;
    measurement: LevelMeasurement;
  }[];
}

/** The issue's targets at Telegram's ceiling, printed where the model predicts nothing for a figure. */
export const TARGETS = { ackP95Seconds: 0.3, pollsPerJob: 6, appRssMB: 1024 } as const;

/** A measured figure that came out NaN (no sample: nothing was measured) is printed as missing. */
const figure = (value: number): number | null => (Number.isFinite(value) ? value : null);

/**
 * The rows of one level's table: each figure the model predicts beside the measurement (waits and rates of
 * the modelled world), and the issue's targets where the model predicts nothing.
 */
export function levelRows(p: LevelPrediction, m: LevelMeasurement, workersRun: number): RatioRow[] {
  const q = p.queue;
  const rows: RatioRow[] = [
    {
      figure: "p95 wait for a fal slot",
      unit: "s",
      predicted: q.p95WaitSeconds,
      measured: figure(m.slotWait.p95Seconds),
    },
    {
      figure: "mean wait for a fal slot",
      unit: "s",
      predicted: q.meanWaitSeconds,
      measured: figure(m.slotWait.meanSeconds),
    },
    {
      figure: "share of jobs that waited",
      unit: "",
      predicted: q.probabilityOfWait,
      measured: figure(m.slotWait.shareThatWaited),
    },
    {
      figure: "p95 wait, FIFO replay",
      unit: "s",
      predicted: figure(m.fifoReplay.p95Seconds),
      measured: figure(m.slotWait.p95Seconds),
      note: "predicted: this run's draws in the model's queue",
    },
    {
      figure: "mean wait, FIFO replay",
      unit: "s",
      predicted: figure(m.fifoReplay.meanSeconds),
      measured: figure(m.slotWait.meanSeconds),
      note: "predicted: this run's draws in the model's queue",
    },
  ];
  if (m.appSlotWait !== null) {
    rows.push(
      {
        figure: "p95 wait, app's histogram",
        unit: "s",
        predicted: q.p95WaitSeconds,
        measured: m.appSlotWait.p95Seconds,
        note: "tapbot_fal_slot_wait_seconds",
      },
      {
        figure: "mean wait, app's histogram",
        unit: "s",
        predicted: q.meanWaitSeconds,
        measured: m.appSlotWait.meanSeconds,
        note: "tapbot_fal_slot_wait_seconds",
      },
    );
  }
  rows.push(
    {
      figure: "jobs at fal (mean)",
      unit: "jobs",
      predicted: q.jobsAtFal,
      measured: figure(m.atFal.mean),
      decimals: 1,
    },
    {
      figure: "jobs at fal (most at once)",
      unit: "jobs",
      predicted: q.servers,
      measured: m.atFal.peakInFlight,
      decimals: 0,
      note: "submitted, not ended; limit c",
    },
    {
      figure: "jobs in flight (mean)",
      unit: "jobs",
      predicted: q.jobsInFlight,
      measured: figure(m.inFlightMean),
      decimals: 1,
      note: "accepted → done seen",
    },
    {
      figure: "fal time per job (mean)",
      unit: "s",
      predicted: q.jobSeconds,
      measured: figure(m.falJobMeanSeconds),
    },
    {
      figure: "fal slot held per job (mean)",
      unit: "s",
      predicted: q.slotSeconds,
      measured: figure(m.slotHoldMeanSeconds),
      note: "submit → poll sees COMPLETED",
    },
    {
      figure: "freed slot unused (mean)",
      unit: "s",
      predicted: 0,
      measured: figure(m.slotHandoffMeanSeconds),
      note: "release → next in line submitted",
    },
    { figure: "RSS bot, peak", unit: "MB", predicted: p.rss.botMB, measured: m.bot.peakRssMB, decimals: 0 },
    {
      figure: "RSS bot, after GC",
      unit: "MB",
      predicted: p.rss.botMB,
      measured: m.bot.afterGcRssMB,
      decimals: 0,
    },
    {
      figure: "RSS worker, peak",
      unit: "MB",
      predicted: p.rss.workerMB,
      measured: m.worker.peakRssMB,
      decimals: 0,
      note: "most of any worker",
    },
    {
      figure: "RSS worker, after GC",
      unit: "MB",
      predicted: p.rss.workerMB,
      measured: m.worker.afterGcRssMB,
      decimals: 0,
      note: "mean of the workers",
    },
    {
      figure: `RSS bot + ${p.workers} workers`,
      unit: "MB",
      predicted: TARGETS.appRssMB,
      measured: m.bot.peakRssMB + p.workers * m.worker.peakRssMB,
      decimals: 0,
      note: `target ≤ ${TARGETS.appRssMB}${workersRun < p.workers ? `; ${workersRun} ran, × ${p.workers}` : ""}`,
    },
    {
      figure: "Telegram calls per second",
      unit: "/s",
      predicted: p.telegramCallsPerSecond,
      measured: figure(m.telegramCallsPerSecond),
    },
    {
      figure: "Telegram calls per job",
      unit: "",
      predicted: p.messagesPerJob,
      measured: figure(m.telegramCallsPerJob),
    },
    {
      figure: "worker CPU per job",
      unit: "CPU s",
      predicted: p.cpuSecondsPerJob,
      measured: figure(m.workerCpuSecondsPerJob),
      decimals: 4,
      note: "all workers, idle included",
    },
    {
      figure: "worker CPU per job, less idle",
      unit: "CPU s",
      predicted: p.cpuSecondsPerJob,
      measured: figure(m.workerBusyCpuSecondsPerJob),
      decimals: 4,
      note: "the steps alone",
    },
    {
      figure: "bot CPU per job",
      unit: "CPU s",
      predicted: null,
      measured: figure(m.botCpuSecondsPerJob),
      decimals: 4,
    },
    {
      figure: "fal status polls per job",
      unit: "",
      predicted: p.pollsPerJob,
      measured: figure(m.pollsPerJob),
      note: `target ≤ ${TARGETS.pollsPerJob}`,
    },
    {
      figure: "ack p95 (real time)",
      unit: "s",
      predicted: TARGETS.ackP95Seconds,
      measured: figure(m.ackP95RealSeconds),
      decimals: 3,
      note: `target < ${TARGETS.ackP95Seconds}, not a model figure`,
    },
  );
  if (m.appAck !== null)
    rows.push({
      figure: "ack p95, bot's histogram",
      unit: "s",
      predicted: TARGETS.ackP95Seconds,
      measured: m.appAck.p95Seconds,
      decimals: 3,
      note: "tapbot_ack_latency_seconds: update received → ack",
    });
  return rows;
}
