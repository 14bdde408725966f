import { readFileSync } from "node:fs";
import { erlangC, loadCapacityInput, type PlanInput, plan } from "../../capacity/index.js";
import { repoRoot } from "../support/app-stack.js";
import { CALIBRATION_FILE } from "./calibration-file.js";

/**
 * What the capacity model predicts at one user count, in the figures the load benchmark measures. Times in
 * s, rates per s, sizes in MB. INTERIM: computed here from plan() until the model exposes predictLoad.
 */
export interface LevelPrediction {
  users: number;
  queue: {
    arrivalPerSecondPeak: number;
    jobSeconds: number;
    /** c: the fal account limit (given, or the smallest that meets the wait target). */
    servers: number;
    providerConcurrencyGiven: boolean;
    utilization: number;
    probabilityOfWait: number;
    meanWaitSeconds: number | null;
    p95WaitSeconds: number | null;
    jobsAtFal: number;
    jobsInFlight: number | null;
  };
  workers: number;
  workerConcurrency: number;
  rss: { botMB: number; workerMB: number };
  telegramCallsPerSecond: number;
  messagesPerJob: number;
  cpuSecondsPerJob: number;
  /** Status polls per job: the steps but the submit. */
  pollsPerJob: number;
  /** Where the budgets came from. */
  calibration: string | null;
}

/** The model's input at `users`, calibrated from capacity/calibration.json as the CLI and the stack are. */
export function levelInput(users: number, providerConcurrency?: number): PlanInput {
  return loadCapacityInput({
    raw: { users, ...(providerConcurrency === undefined ? {} : { providerConcurrency }) },
    baseDir: repoRoot,
    readFile: (path) => readFileSync(path, "utf8"),
    calibrationFile: CALIBRATION_FILE,
  });
}

const HEADROOM = 1.5;

function erlang(lambda: number, s: number, c: number) {
  const a = lambda * s;
  if (a >= c) return { stable: false, pw: 1, mean: null, p95: null, a };
  const pw = erlangC(a, c);
  const drain = c / s - lambda;
  return { stable: true, pw, mean: pw / drain, p95: pw > 0.05 ? Math.log(pw / 0.05) / drain : 0, a };
}

/** The prediction at `users` (with the account limit given, or the one the plan needs). */
export function predictLevel(users: number, providerConcurrency?: number): LevelPrediction {
  const input = levelInput(users, providerConcurrency);
  const p = plan(input);
  const lambda = p.queue.arrivalPerSecondPeak;
  const s = input.jobSeconds;
  let c = providerConcurrency ?? Math.max(1, Math.floor(lambda * s) + 1);
  while (providerConcurrency === undefined) {
    const q = erlang(lambda, s, c);
    if (q.p95 !== null && q.p95 <= input.targetWaitP95Seconds) break;
    c += 1;
  }
  const q = erlang(lambda, s, c);
  const budget = (name: string) => input.services.find((x) => x.name === name);
  const bot = budget("bot");
  const worker = budget("worker");
  return {
    users,
    queue: {
      arrivalPerSecondPeak: lambda,
      jobSeconds: s,
      servers: c,
      providerConcurrencyGiven: providerConcurrency !== undefined,
      utilization: q.a / c,
      probabilityOfWait: q.pw,
      meanWaitSeconds: q.mean,
      p95WaitSeconds: q.p95,
      jobsAtFal: Math.min(q.a, c),
      jobsInFlight: q.mean === null ? null : q.a + lambda * q.mean,
    },
    workers: p.workers,
    workerConcurrency: p.workerConcurrency,
    rss: {
      botMB: ((bot?.baseMB ?? 0) + (bot?.perUserMB ?? 0) * users) / HEADROOM,
      workerMB: ((worker?.baseMB ?? 0) + (worker?.perJobMB ?? 0) * p.workerConcurrency) / HEADROOM,
    },
    telegramCallsPerSecond: lambda * input.messagesPerJob,
    messagesPerJob: input.messagesPerJob,
    cpuSecondsPerJob: input.cpuSecondsPerStep * input.stepsPerJob,
    pollsPerJob: input.stepsPerJob - 1,
    calibration: input.calibration?.source ?? null,
  };
}
