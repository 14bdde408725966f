/**
 * `npm run bench:load -- --users N [--users M ...] [--minutes m] [--time-factor f]`: the capacity model proven
 * by measurement. For each user count, the compiled bot and workers run as the plan deploys them, against
 * the fakes with fal's account limit enforced, under Poisson arrivals at the plan's peak rate; the figures
 * the model predicts are printed beside those measured (see load-level.ts for how each is measured and
 * LOAD_USAGE for the options). `--out` keeps the figures for `calibrate.ts --from-load`.
 */
import { writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { queueMetrics } from "../../capacity/queue.js";
import { buildApp } from "./compiled-app.js";
import { formatLevelSummary } from "./level-summary.js";
import { autoTimeFactor, LOAD_USAGE, type LoadArgs, LoadArgsError, parseLoadArgs } from "./load-args.js";
import { type LevelMeasurement, runLevel } from "./load-level.js";
import { type LevelPrediction, predictLevel } from "./load-prediction.js";
import { type LoadResults, levelRows } from "./load-results.js";
import { formatRatioTable } from "./ratio-table.js";

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

let args: LoadArgs | null;
try {
  args = parseLoadArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof LoadArgsError)) throw error;
  process.stderr.write(`bench:load: ${error.message}\n`);
  process.exit(2);
}
if (args === null) {
  log(LOAD_USAGE);
  process.exit(0);
}

/**
 * Real seconds left out at the start of a level while the queue fills: a quarter of the run, at least three
 * mean job times, at most half the run.
 */
function warmupSeconds(seconds: number, realJobSeconds: number): number {
  return Math.round(Math.min(seconds / 2, Math.max(seconds / 4, 3 * realJobSeconds)));
}

/**
 * The p95 wait the model gives with the run's own arrivals and a slot held for `holdSeconds` (the spread of the
 * holds as the model has it): what the prediction would be had the run drawn exactly the model's averages.
 */
function p95WithHold(p: LevelPrediction, arrivalPerSecond: number, holdSeconds: number): string {
  const c = p.queue.servers;
  const q = queueMetrics(arrivalPerSecond, holdSeconds, c, p.queue.slotHoldCv2);
  if (!q.stable) return `unstable (a = ${q.offeredErlangs.toFixed(1)} Erlangs ≥ c = ${c})`;
  return `${(q.p95WaitSeconds ?? 0).toFixed(2)} s (λ = ${arrivalPerSecond.toFixed(2)}/s, a = ${q.offeredErlangs.toFixed(1)} Erlangs, utilisation ${(100 * q.utilization).toFixed(1)} %)`;
}

const command = `npm run bench:load -- ${process.argv.slice(2).join(" ")}`;
const seconds = args.minutes * 60;
log(
  `${command}  (${cpus().length} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")})`,
);
log(
  "time factor f (per level below): fal job times, poll intervals and the deadline ÷ f, arrivals × f (utilisation unchanged); " +
    "waits and rates in the tables are of the modelled world (measured waits × f, measured rates ÷ f); ack latency, RSS and CPU as measured",
);
log("building app/ as the image runs it (tsc -p tsconfig.build.json)…");
const buildDir = await buildApp();
const results: LoadResults = { command, minutes: args.minutes, seed: args.seed, levels: [] };

for (const users of args.users) {
  const prediction = predictLevel(users, args.providerConcurrency);
  const workers = Math.min(prediction.workers, args.maxWorkers);
  const f =
    args.timeFactor === "auto"
      ? autoTimeFactor(prediction.queue.arrivalPerSecondPeak, args.maxRate)
      : args.timeFactor;
  const warmup = warmupSeconds(seconds, prediction.queue.jobSeconds / f);
  log(
    `\n## ${users} users: λ ${prediction.queue.arrivalPerSecondPeak.toFixed(2)} jobs/s at peak, S ${prediction.queue.jobSeconds} s, ` +
      `fal account limit c = ${prediction.queue.servers}${prediction.queue.providerConcurrencyGiven ? " (given)" : " (the smallest that meets the wait target)"}, ` +
      `plan: ${prediction.workers} workers × ${prediction.workerConcurrency}; time factor ${f}` +
      (args.timeFactor === "auto"
        ? ` (auto: ${(prediction.queue.arrivalPerSecondPeak * f).toFixed(2)} requests/s real)`
        : ""),
  );
  if (workers < prediction.workers)
    log(
      `   finding: the plan deploys ${prediction.workers} worker processes for ${users} users; this run starts ${workers} (--max-workers) with the plan's concurrency ${prediction.workerConcurrency}. ` +
        `Worker slots are not the queue (a slot is held for a step, not a job), so the fal wait is unaffected; RSS is per process, and the plan's total is extrapolated from it.`,
    );
  const load1 = loadavg()[0]?.toFixed(2);
  const measurement: LevelMeasurement = await runLevel({
    users,
    workers,
    workerConcurrency: prediction.workerConcurrency,
    providerConcurrency: prediction.queue.servers,
    arrivalPerSecond: prediction.queue.arrivalPerSecondPeak,
    jobSeconds: prediction.queue.jobSeconds,
    pollInitialSeconds: prediction.pollInitialSeconds,
    pollMaxSeconds: prediction.pollMaxSeconds,
    timeFactor: f,
    seconds,
    warmupSeconds: warmup,
    seed: args.seed,
    buildDir,
    log: (line) => log(`   ${line}`),
  });
  results.levels.push({ users, workersRun: workers, timeFactor: f, prediction, measurement });
  const m = measurement;
  log(
    `   ${m.arrived} requests (${m.measured} measured after a ${warmup} s warm-up, ${m.submitted} of them reached fal), ${m.delivered} photos; ` +
      `arrival clock at most ${m.arrivalLagMaxMs.toFixed(0)} ms late; load average ${load1} before, ${loadavg()[0]?.toFixed(2)} after`,
  );
  log(`\n${formatRatioTable(levelRows(prediction, measurement, workers))}\n`);
  const handoff = Number.isFinite(m.slotHandoffMeanSeconds) ? m.slotHandoffMeanSeconds : 0;
  log(
    `   fal slot held per job: ${m.slotHoldMeanSeconds.toFixed(2)} s (fal works ${m.falJobMeanSeconds.toFixed(2)} s; the rest is the poll that finds it done), ` +
      `then unused ${handoff.toFixed(2)} s until the next in line is submitted.\n` +
      `   The model with the run's own λ and S = the hold: p95 wait ${p95WithHold(prediction, m.arrivalPerSecond, m.slotHoldMeanSeconds)}; ` +
      `with S = hold + unused: ${p95WithHold(prediction, m.arrivalPerSecond, m.slotHoldMeanSeconds + handoff)}`,
  );
}

log(
  `\n## Summary: predicted → measured (measured / predicted), ◀ outside 0.9–1.1\n\n${formatLevelSummary(
    results.levels.map((l) => ({
      label: `${l.users} users (f ${l.timeFactor})`,
      rows: levelRows(l.prediction, l.measurement, l.workersRun),
    })),
  )}`,
);

if (args.out !== undefined) {
  await writeFile(args.out, `${JSON.stringify(results, null, 2)}\n`);
  log(`\nfigures written to ${args.out} (npx tsx tests/bench/calibrate.ts --from-load ${args.out})`);
}
process.exit(0);
