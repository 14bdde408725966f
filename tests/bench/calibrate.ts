/**
 * Calibrates the capacity model from the project's own processes: measures the bot's and the worker's
 * memory and the worker's CPU per job, fits the model's linear budgets to them, and writes
 * capacity/calibration.json (raw figures, fits, the budgets derived with headroom, machine, Node, date).
 *
 *   npx tsx tests/bench/calibrate.ts                       # about two to three minutes
 *   npx tsx tests/bench/calibrate.ts --out /tmp/cal.json   # somewhere else
 *   npx tsx tests/bench/calibrate.ts --from-load /tmp/load.json   # from bench:load's runs, in a second
 *
 * With --from-load it starts nothing: it takes from the load benchmark's runs (`npm run bench:load -- …
 * --out /tmp/load.json`) the steps per job, the CPU per step and the Bot API calls per job measured under
 * Poisson arrivals (calibrate-from-load.ts), writes those into the file under `measurement.load`, and keeps
 * every other part, the budgets below included.
 *
 * What runs: throwaway Redis and PostgreSQL, the fake Telegram and fake fal (tests/support), and the real
 * bot and worker compiled as the image runs them (`node dist/app/<role>/main.js`, see compiled-app.ts).
 *
 * Every memory figure is taken twice: RSS as found (VmRSS, what the cgroup limit sees at a random moment)
 * and RSS right after a forced full GC (what the process retains; compiled-app.ts adds the GC hook). The
 * lines are fitted to the retained figures, which are free of V8's collection timing; the headroom on
 * top must then cover the garbage between collections, and the run checks that it covers every RSS found.
 *
 * - Bot: after a warm-up, distinct users (0, 100, 300, 1000, 3000 in total, in bursts of 100) each send
 *   /start and a prompt; after every step, the bot's memory. A least-squares line gives
 *   baseMB + perUserMB × users.
 * - Worker: for WORKER_CONCURRENCY 1, 4 and 16, idle, then that many jobs at once, first parked at fal (a
 *   long processing time: the worker waits for fal in BullMQ's delayed set, not in a slot), then all of
 *   them in the deliver step at once (fal's result of 1.5 MB downloaded, the upload to Telegram held by a
 *   slow sendPhoto), which is the most memory a slot holds. A line through the most of the three gives
 *   baseMB + perJobMB × concurrency; perJobMB is at least the slope of the live data (V8 heap plus
 *   Buffers) of the delivering jobs, a floor the noisier RSS slope may fall under. CPU per job: utime +
 *   stime of the worker over a batch of jobs with the production number of polls, less its idle rate.
 *
 * The budgets written are the fitted figures with headroom (RULE below), and the fitted lines themselves
 * as `rss` (what the model predicts a process's RSS to be) with that headroom; the file keeps the raw points,
 * the fits with their residuals, and how each budget compares with the RSS found.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { translate } from "../../app/i18n/index.js";
import { ceilTo } from "../../capacity/ceil-to.js";
import type { Calibration } from "../../capacity/index.js";
import { serviceLimitMB } from "../../capacity/service-limit.js";
import { startAppStack } from "../support/app-stack.js";
import type { FakeUser } from "../support/fake-telegram.js";
import { sleep } from "../support/http-kit.js";
import { waitUntil } from "../support/wait-until.js";
import { startBigResultProxy } from "./big-result-proxy.js";
import { calibrationFromLoad, parseLoadResults } from "./calibrate-from-load.js";
import { CALIBRATION_FILE, machine, writeCalibrationPart } from "./calibration-file.js";
import { buildApp, type CompiledProcess, startCompiled } from "./compiled-app.js";
import { fitLine, type LineFit } from "./least-squares.js";
import { cpuSeconds, steadyRssMB } from "./proc-stats.js";

const COMMAND = "npx tsx tests/bench/calibrate.ts";
/** Users the bot has served at each measurement, after the warm-up users. */
const USER_STEPS = [0, 100, 300, 1000, 3000];
const WARMUP_USERS = 50;
/**
 * Users who write at the same moment. Every step is fed in bursts of this size, so the memory that grows
 * from step to step is what users leave behind, not a bigger crowd in flight (300 users at the peak send
 * well under one message a second; 100 at once is already far above it).
 */
const BURST = 100;
const CONCURRENCIES = [1, 4, 16];
/** Size of every result image, bytes: a 1024² image from fal is 1–2 MB. */
const RESULT_BYTES = 1_500_000;
/** How long a held job stays at fal, then in the upload to Telegram, ms. */
const HOLD_AT_FAL_MS = 4_000;
const HOLD_AT_TELEGRAM_MS = 6_000;
/**
 * Fal time per job in the CPU batch, with polls from 0.2 s growing to 1 s: five status requests per job,
 * as production's 2 s → 10 s backoff makes for the 25 s a job takes at fal.
 */
const CPU_JOB_MS = 2_500;
const CPU_BATCH = 24;
const SETTLE_MS = 2_000;
/** How long the idle worker's CPU is watched, to subtract its idle rate from the batch. */
const IDLE_CPU_MS = 1_500;
/** Limits are the measured figures times this; see RULE. */
const HEADROOM = 1.5;
const RULE =
  `limit budgets = ${HEADROOM} × the fitted line (the worker's perJobMB at least its live data per job; ` +
  "baseMB rounded up to 10 MB, perUserMB to 0.001 MB, " +
  `perJobMB to 0.1 MB); reservationMB = the idle RSS after GC rounded up to 10 MB; cpuSecondsPerStep = ${HEADROOM} × ` +
  "the measured CPU per job over its steps (submit and one per status poll; the last poll delivers) rounded up to 0.001 s";

const { values: args } = parseArgs({
  options: { out: { type: "string", default: CALIBRATION_FILE }, "from-load": { type: "string" } },
});

const fromLoad = args["from-load"];
if (fromLoad !== undefined) {
  let results: ReturnType<typeof parseLoadResults>;
  try {
    results = parseLoadResults(JSON.parse(await readFile(fromLoad, "utf8")), fromLoad);
  } catch (error) {
    process.stderr.write(`calibrate --from-load: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const { part, record } = calibrationFromLoad(results, `${COMMAND} --from-load <bench:load --out file>`);
  await writeCalibrationPart(args.out, "load", part, { ...record, machine: machine() });
  process.stdout.write(
    `from ${results.levels.length} load level(s) of ${results.command}:\n  ${Object.entries(part)
      .map(([k, v]) => `${k} ${v}`)
      .join("\n  ")}\nwrote ${args.out} (measurement.load; every other part kept)\n`,
  );
  process.exit(0);
}

const round = (value: number, decimals = 1): number => Number(value.toFixed(decimals));
const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** A gauge of prom-client's default metrics (prefixed by the app), MB. */
async function gaugeMB(processUnderTest: CompiledProcess, name: string): Promise<number> {
  const text = await processUnderTest.metrics();
  const value = new RegExp(`^tapbot_process_${name} (\\S+)$`, "m").exec(text)?.[1];
  return value === undefined ? Number.NaN : Number(value) / 2 ** 20;
}

const started = Date.now();
log(`building app/ as the image runs it (tsc -p tsconfig.build.json)…`);
const buildDir = await buildApp();
const stack = await startAppStack({ fal: { processingMs: 300 } });
const proxy = await startBigResultProxy(stack.fal.queueUrl, RESULT_BYTES);
const telegram = stack.telegram;
const fal = stack.fal;
const running: CompiledProcess[] = [];
/** The start of the acknowledgement of an accepted prompt, in English (the users' language here). */
const ackQueued = translate("en", "ack-queued", { position: "@@" }).split("@@")[0] ?? "";

let nextUserId = 7_000_000;
const newUsers = (count: number): FakeUser[] =>
  Array.from({ length: count }, () => ({ id: ++nextUserId, first_name: "Load", language_code: "en" }));

/** Messages the bot has sent into each chat (edits not counted). */
function botMessagesByChat(): Map<number, number> {
  const counts = new Map<number, number>();
  for (const e of telegram.events) {
    if (e.kind === "sent" && e.from === "bot") counts.set(e.chatId, (counts.get(e.chatId) ?? 0) + 1);
  }
  return counts;
}

/** Each user sends `text(user)`; resolves once every one of them has a new message from the bot. */
async function everyoneSays(users: readonly FakeUser[], text: (user: FakeUser) => string): Promise<void> {
  const before = botMessagesByChat();
  for (const user of users) telegram.userSends(user, { text: text(user) });
  await waitUntil(
    async () => {
      const now = botMessagesByChat();
      return users.every((u) => (now.get(u.id) ?? 0) > (before.get(u.id) ?? 0)) ? true : undefined;
    },
    {
      timeoutMs: 120_000,
      intervalMs: 200,
      describe: () =>
        `the bot did not answer all ${users.length} users\n${running.at(-1)?.child.logTail(30)}`,
    },
  );
}

const photosSent = (): number => telegram.callsTo("sendPhoto").filter((c) => c.status === 200).length;
let prompts = 0;
const uniquePrompt = (): string => `a lighthouse at dusk, study ${++prompts}`;

/** `count` new users each send a prompt; resolves when `until()` holds. */
async function jobs(count: number, until: () => boolean, what: string): Promise<void> {
  for (const user of newUsers(count)) telegram.userSends(user, { text: uniquePrompt() });
  await waitUntil(async () => (until() ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
    describe: () => `${what}\n${running.at(-1)?.child.logTail(30)}`,
  });
}

async function start(role: "bot" | "worker", env: Record<string, string> = {}): Promise<CompiledProcess> {
  const p = await startCompiled(buildDir, role, { ...stack.baseEnv, FAL_QUEUE_URL: proxy.queueUrl, ...env });
  running.push(p);
  return p;
}

/** One look at a process's memory. */
interface MemorySample {
  /** RSS as found: what the cgroup sees at a random moment (median of 3 samples). */
  foundMB: number;
  /** RSS right after a forced full GC: what the process retains (median of 5 samples). */
  retainedMB: number;
  /** V8 heap in use after that GC. */
  heapUsedMB: number;
  /** Memory outside the V8 heap that JavaScript objects hold (Buffers: a job's image bytes), after that GC. */
  externalMB: number;
}

async function sampleMemory(p: CompiledProcess): Promise<MemorySample> {
  const foundMB = await steadyRssMB(p.pid, 3, 200);
  p.collectGarbage();
  await sleep(500);
  const retainedMB = await steadyRssMB(p.pid, 5, 200);
  return {
    foundMB,
    retainedMB,
    heapUsedMB: await gaugeMB(p, "nodejs_heap_size_used_bytes"),
    externalMB: await gaugeMB(p, "nodejs_external_memory_bytes"),
  };
}

interface BotPoint extends MemorySample {
  users: number;
  accepted: number;
}
interface WorkerPoint {
  concurrency: number;
  idle: MemorySample;
  parkedAtFal: MemorySample;
  delivering: MemorySample;
  cpuSecondsPerJob: number;
  /** Worker steps per job of the CPU batch: the submit step and one per status poll. */
  stepsPerJob: number;
}

async function measureBot(): Promise<BotPoint[]> {
  // Its own queue, so that the thousands of jobs it accepts here are never run by the workers below.
  const bot = await start("bot", { QUEUE_NAME: "calibrate-bot" });
  const warmup = newUsers(Math.min(WARMUP_USERS, BURST));
  await everyoneSays(warmup, () => "/start");
  await everyoneSays(warmup, uniquePrompt);
  const points: BotPoint[] = [];
  log(`\nbot: memory after N distinct users each sent /start and a prompt (in bursts of ${BURST})`);
  log("   users   RSS found MB   RSS after GC MB   heap after GC MB   prompts accepted");
  let served = 0;
  for (const users of USER_STEPS) {
    const fresh = newUsers(users - served);
    served = users;
    for (let i = 0; i < fresh.length; i += BURST) {
      const burst = fresh.slice(i, i + BURST);
      await everyoneSays(burst, () => "/start");
      await everyoneSays(burst, uniquePrompt);
    }
    const ids = new Set(fresh.map((u) => u.id));
    const accepted = telegram.events.filter(
      (e) =>
        ids.has(e.chatId) && e.kind === "sent" && e.from === "bot" && e.text?.startsWith(ackQueued) === true,
    ).length;
    await sleep(SETTLE_MS);
    const point = { users, accepted, ...(await sampleMemory(bot)) };
    points.push(point);
    log(
      `${String(users).padStart(8)} ${mb(point.foundMB, 14)} ${mb(point.retainedMB, 17)} ${mb(point.heapUsedMB, 18)} ${`${accepted}/${fresh.length}`.padStart(18)}`,
    );
  }
  await bot.stop();
  running.splice(running.indexOf(bot), 1);
  return points;
}

async function measureWorker(concurrency: number): Promise<WorkerPoint> {
  const worker = await start("worker", {
    WORKER_CONCURRENCY: String(concurrency),
    POLL_INITIAL_SECONDS: "0.2",
    POLL_MAX_SECONDS: "1",
  });
  try {
    // Warm-up: every code path of a job runs once per slot before anything is measured.
    fal.setProcessingMs(300);
    const warm = photosSent() + concurrency;
    await jobs(concurrency, () => photosSent() >= warm, `warm-up: ${concurrency} photos`);
    await sleep(SETTLE_MS);
    const idle = await sampleMemory(worker);
    const idleCpu = await cpuSeconds(worker.pid);
    await sleep(IDLE_CPU_MS);
    const idleRate = ((await cpuSeconds(worker.pid)) - idleCpu) / (IDLE_CPU_MS / 1000);

    fal.setProcessingMs(HOLD_AT_FAL_MS);
    telegram.setLatency(HOLD_AT_TELEGRAM_MS, "sendPhoto");
    const submitted = fal.submissions.length + concurrency;
    const downloaded = proxy.downloads() + concurrency;
    const delivered = photosSent() + concurrency;
    await jobs(concurrency, () => fal.submissions.length >= submitted, `${concurrency} submissions to fal`);
    await sleep(500);
    const parkedAtFal = await sampleMemory(worker);
    await waitUntil(async () => (proxy.downloads() >= downloaded ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `${concurrency} result downloads; got ${proxy.downloads() - downloaded + concurrency}`,
    });
    await sleep(1_000);
    const delivering = await sampleMemory(worker);
    if (photosSent() >= delivered)
      throw new Error("the held photos arrived before the delivering sample ended");
    await waitUntil(async () => (photosSent() >= delivered ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `${concurrency} held photos to arrive`,
    });
    telegram.setLatency(0, "sendPhoto");

    fal.setProcessingMs(CPU_JOB_MS);
    const firstOfBatch = fal.submissions.length;
    const batchDone = photosSent() + CPU_BATCH;
    const t0 = Date.now();
    const cpu0 = await cpuSeconds(worker.pid);
    await jobs(CPU_BATCH, () => photosSent() >= batchDone, `${CPU_BATCH} photos of the CPU batch`);
    const busy = (await cpuSeconds(worker.pid)) - cpu0 - idleRate * ((Date.now() - t0) / 1000);
    const polls = fal.submissions
      .slice(firstOfBatch)
      .reduce((sum, submission) => sum + fal.pollsFor(submission.requestId), 0);
    return {
      concurrency,
      idle,
      parkedAtFal,
      delivering,
      cpuSecondsPerJob: Math.max(0, busy) / CPU_BATCH,
      stepsPerJob: 1 + polls / CPU_BATCH,
    };
  } finally {
    telegram.setLatency(0, "sendPhoto");
    await worker.stop();
    running.splice(running.indexOf(worker), 1);
  }
}

/** What the worker retained at one concurrency, whichever phase it was in: what its limit must cover. */
const retainedPeakMB = (p: WorkerPoint): number =>
  Math.max(p.idle.retainedMB, p.parkedAtFal.retainedMB, p.delivering.retainedMB);
/** The most RSS found at one concurrency without a forced GC. */
const foundPeakMB = (p: WorkerPoint): number =>
  Math.max(p.idle.foundMB, p.parkedAtFal.foundMB, p.delivering.foundMB);

const mb = (value: number, width: number): string => value.toFixed(1).padStart(width);
const rounded = (m: MemorySample) => ({
  foundMB: round(m.foundMB),
  retainedMB: round(m.retainedMB),
  heapUsedMB: round(m.heapUsedMB),
  externalMB: round(m.externalMB),
});
const fitRecord = (fit: LineFit, slopeName: "perUserMB" | "perJobMB", decimals: number) => ({
  baseMB: round(fit.intercept),
  [slopeName]: round(fit.slope, decimals),
  r2: round(fit.r2, 3),
  residualsMB: fit.residuals.map((r) => round(r)),
});

function describeFit(fit: LineFit, unit: string): string {
  return `${fit.intercept.toFixed(1)} MB + ${fit.slope.toFixed(4)} MB × ${unit} (R² ${fit.r2.toFixed(3)}; residuals ${fit.residuals.map((r) => r.toFixed(1)).join(", ")} MB)`;
}

let calibration: Calibration;
let coverage: string[];
try {
  const botPoints = await measureBot();
  await start("bot");
  log(`\nworker: RSS after a forced GC, N jobs at once, each result ${(RESULT_BYTES / 1e6).toFixed(1)} MB`);
  log(
    "   concurrency   idle MB   parked at fal MB   delivering MB   most found MB   external idle → delivering MB   CPU s/job",
  );
  const workerPoints: WorkerPoint[] = [];
  for (const concurrency of CONCURRENCIES) {
    const p = await measureWorker(concurrency);
    workerPoints.push(p);
    log(
      `${String(concurrency).padStart(14)} ${mb(p.idle.retainedMB, 9)} ${mb(p.parkedAtFal.retainedMB, 18)} ${mb(p.delivering.retainedMB, 15)} ${mb(foundPeakMB(p), 15)} ${`${p.idle.externalMB.toFixed(1)} → ${p.delivering.externalMB.toFixed(1)}`.padStart(31)} ${p.cpuSecondsPerJob.toFixed(3).padStart(11)}`,
    );
  }

  const botFit = fitLine(botPoints.map((p) => ({ x: p.users, y: p.retainedMB })));
  const workerFit = fitLine(workerPoints.map((p) => ({ x: p.concurrency, y: retainedPeakMB(p) })));
  // The live data of the delivering jobs (V8 heap plus Buffers) is a floor under the per-job figure: RSS
  // moves by ±10 MB with V8's page handling, so its slope alone can come out below what a job holds.
  const liveFit = fitLine(
    workerPoints.map((p) => ({ x: p.concurrency, y: p.delivering.heapUsedMB + p.delivering.externalMB })),
  );
  const perJobMeasured = Math.max(0, workerFit.slope, liveFit.slope);
  const cpuPerJob = workerPoints.reduce((sum, p) => sum + p.cpuSecondsPerJob, 0) / workerPoints.length;
  const stepsPerJob = workerPoints.reduce((sum, p) => sum + p.stepsPerJob, 0) / workerPoints.length;
  log(`\nbot fit:    ${describeFit(botFit, "users")}`);
  log(`worker fit: ${describeFit(workerFit, "concurrent jobs")}`);
  log(`worker live data (heap + Buffers) while delivering: ${describeFit(liveFit, "concurrent jobs")}`);
  log(
    `worker CPU: ${cpuPerJob.toFixed(3)} s per job over ${stepsPerJob.toFixed(2)} steps (mean of ${workerPoints.length} batches of ${CPU_BATCH})`,
  );

  const bot = {
    baseMB: ceilTo(HEADROOM * botFit.intercept, 10),
    perUserMB: ceilTo(HEADROOM * Math.max(0, botFit.slope), 0.001),
    reservationMB: ceilTo(botPoints[0]?.retainedMB ?? botFit.intercept, 10),
  };
  const worker = {
    baseMB: ceilTo(HEADROOM * workerFit.intercept, 10),
    perJobMB: ceilTo(HEADROOM * perJobMeasured, 0.1),
    reservationMB: ceilTo(workerPoints[0]?.idle.retainedMB ?? workerFit.intercept, 10),
  };
  // The budgets against every RSS found without a forced GC: the limit the model sets must hold those too.
  coverage = [
    ...botPoints.map((p) => ({
      what: `bot at ${p.users} users`,
      limit: serviceLimitMB({ ...bot, perJobMB: 0 }, p.users, 0),
      found: p.foundMB,
    })),
    ...workerPoints.map((p) => ({
      what: `worker at concurrency ${p.concurrency}`,
      limit: serviceLimitMB({ ...worker, perUserMB: 0 }, 0, p.concurrency),
      found: foundPeakMB(p),
    })),
  ].map(
    (c) =>
      `${c.what}: limit ${c.limit.toFixed(0)} MB, most found ${c.found.toFixed(1)} MB (${(c.limit / c.found).toFixed(2)}×)`,
  );

  calibration = await writeCalibrationPart(
    args.out,
    "budgets",
    {
      services: { bot, worker },
      cpuSecondsPerStep: ceilTo((HEADROOM * cpuPerJob) / stepsPerJob, 0.001),
      stepsPerJob: round(stepsPerJob, 2),
      // The fitted lines themselves: what the model predicts a process's RSS to be (bench:load compares).
      rss: {
        bot: { baseMB: round(botFit.intercept), perUserMB: round(Math.max(0, botFit.slope), 5) },
        worker: { baseMB: round(workerFit.intercept), perJobMB: round(perJobMeasured, 2) },
      },
      budgetHeadroom: HEADROOM,
    },
    {
      command: COMMAND,
      machine: machine(),
      processes:
        "node dist/app/<role>/main.js compiled with tsconfig.build.json, as the image runs it (plus --expose-gc and a SIGUSR2 handler that runs a full GC)",
      rule: RULE,
      bot: {
        method: `${WARMUP_USERS} warm-up users, then distinct users in bursts of ${BURST}, each sending /start and a prompt; after each step a ${SETTLE_MS} ms settle, RSS as found (median of 3), then a forced full GC and RSS (median of 5); the fit is on the RSS after GC`,
        points: botPoints.map((p) => ({ users: p.users, accepted: p.accepted, ...rounded(p) })),
        fit: fitRecord(botFit, "perUserMB", 5),
      },
      worker: {
        method: `per concurrency: warm-up, idle, then that many jobs parked at fal (${HOLD_AT_FAL_MS} ms) and then all in the deliver step at once (sendPhoto held ${HOLD_AT_TELEGRAM_MS} ms); results of ${RESULT_BYTES} bytes; the fit is on the most RSS after GC of the three phases, perJobMB = the larger of its slope and that of the live data (heap + external) while delivering; CPU over ${CPU_BATCH} jobs of ${CPU_JOB_MS} ms at fal (5 polls each) less the idle rate`,
        resultBytes: RESULT_BYTES,
        points: workerPoints.map((p) => ({
          concurrency: p.concurrency,
          idle: rounded(p.idle),
          parkedAtFal: rounded(p.parkedAtFal),
          delivering: rounded(p.delivering),
          cpuSecondsPerJob: round(p.cpuSecondsPerJob, 4),
        })),
        fit: fitRecord(workerFit, "perJobMB", 2),
        liveDataFit: fitRecord(liveFit, "perJobMB", 2),
        perJobMB: round(perJobMeasured, 2),
        cpuSecondsPerJob: round(cpuPerJob, 4),
        stepsPerJob: round(stepsPerJob, 2),
      },
      coverage,
      seconds: Math.round((Date.now() - started) / 1000),
    },
  );
} finally {
  await Promise.allSettled(running.map((p) => p.stop()));
  await Promise.allSettled([proxy.stop(), stack.stop()]);
}

const s = calibration.services;
log(
  `\nbudgets (${RULE}):\n  bot    ${s.bot?.baseMB} MB + ${s.bot?.perUserMB} MB × users, reservation ${s.bot?.reservationMB} MB` +
    `\n  worker ${s.worker?.baseMB} MB + ${s.worker?.perJobMB} MB × concurrency, reservation ${s.worker?.reservationMB} MB` +
    `\n  cpuSecondsPerStep ${calibration.cpuSecondsPerStep} × stepsPerJob ${calibration.stepsPerJob}\n  ${coverage.join("\n  ")}\nwrote ${args.out} in ${Math.round((Date.now() - started) / 1000)} s`,
);
