import type { Message } from "grammy/types";
import { translate } from "../../app/i18n/index.js";
import { startAppStack } from "../support/app-stack.js";
import type { ApiCall, FakeUser } from "../support/fake-telegram.js";
import { sleep } from "../support/http-kit.js";
import { waitUntil } from "../support/wait-until.js";
import { type CompiledProcess, startCompiled } from "./compiled-app.js";
import { fifoWaits } from "./fifo-replay.js";
import { greetUsers } from "./greet-users.js";
import { mean, percentile } from "./percentile.js";
import { poissonArrivals } from "./poisson-arrivals.js";
import { type ProcessFigures, ProcessSampler } from "./process-sampler.js";
import { type HistogramSummary, histogramFromMetrics } from "./prom-histogram.js";
import { exponentialDraw, seededRandom } from "./seeded-random.js";

/** What one load level runs: the plan's processes at a user count, in time compressed by `timeFactor`. */
export interface LevelOptions {
  users: number;
  /** Worker processes started (the plan's count, or fewer when capped; the caller says so). */
  workers: number;
  workerConcurrency: number;
  /** The fal account's limit: FAL_CONCURRENCY of the processes and the fake's accountConcurrency. */
  providerConcurrency: number;
  /** Peak arrivals of the modelled world, jobs/s (the plan's λ); the run arrives timeFactor × faster. */
  arrivalPerSecond: number;
  /** Mean fal time per job of the modelled world, s; the run draws them timeFactor × shorter. */
  jobSeconds: number;
  /** The model's poll schedule (2 s growing to 10 s by default), s; compressed with the job times. */
  pollInitialSeconds: number;
  pollMaxSeconds: number;
  /** Time compression: every duration of the modelled world ÷ this, every rate × this. */
  timeFactor: number;
  /** How long users arrive, real seconds. */
  seconds: number;
  /** Real seconds at the start left out of every figure while the queue fills. */
  warmupSeconds: number;
  seed: number;
  /** The compiled app (compiled-app.ts buildApp). */
  buildDir: string;
  log: (line: string) => void;
}

/** Production's deadline of a text-to-image request (app/config.ts default), compressed with the rest. */
const DEADLINE_SECONDS = 120;
/** A wait longer than this (real s) counts as having waited: the app's own steps take a few ms. */
const WAITED_REAL_SECONDS = 0.05;
/** How long the idle workers' CPU is watched before the run, to tell their idle cost from a job's, ms. */
const IDLE_CPU_MS = 3_000;

/**
 * What one level measured. Durations of the modelled world (real seconds × timeFactor) unless named `real`;
 * rates per second of the modelled world (real rate ÷ timeFactor); CPU and counts per job as they are.
 */
/** Waits for a fal slot of the measured requests, modelled seconds. */
export interface WaitFigures {
  meanSeconds: number;
  p95Seconds: number;
  shareThatWaited: number;
}

export interface LevelMeasurement {
  /** Requests the users sent, and those of them after the warm-up (the measured ones). */
  arrived: number;
  measured: number;
  /** Measured requests that reached fal. */
  submitted: number;
  /** Photos delivered, of every request (measured or not): `arrived` when nothing was lost. */
  delivered: number;
  /** Measured requests per modelled second: the λ this run drew (the plan's peak rate, give or take chance). */
  arrivalPerSecond: number;
  /** The most the arrival clock fell behind its schedule, real ms (a busy machine makes arrivals bursty). */
  arrivalLagMaxMs: number;
  /** From the acknowledgement (the request is queued) to fal starting work on it, s. */
  slotWait: WaitFigures;
  /**
   * The same requests' waits in an ideal first-come-first-served queue of c slots (fifo-replay.ts) fed this
   * run's own acknowledgement times and slot holds: the model's queue discipline on the run's own draws, so
   * measured / replayed shows what the app's queue adds or saves, free of the noise of a short run.
   */
  fifoReplay: WaitFigures;
  /** tapbot_fal_slot_wait_seconds of every worker, summed: the app's own view (null when not exposed). */
  appSlotWait: HistogramSummary | null;
  /**
   * Requests IN_PROGRESS at fal, time-average over the window, and the most at once; `peakInFlight`: the most
   * submitted and not ended at once (IN_QUEUE too), which the app's enforcement keeps at the account's limit.
   */
  atFal: { mean: number; peak: number; peakInFlight: number };
  /** Accepted and not yet finished (waiting for a slot or at fal), time-average over the window. */
  inFlightMean: number;
  /** From fal's submission to the poll that found it COMPLETED: how long the app holds a slot, s. */
  slotHoldMeanSeconds: number;
  /**
   * For a job that waited: from the release of the slot it took to its submission, mean, s: the time a
   * freed slot stays unused while the first in line is woken, picked up by a worker and submitted.
   */
  slotHandoffMeanSeconds: number;
  /** fal's own time per job (IN_PROGRESS → COMPLETED), mean, s. */
  falJobMeanSeconds: number;
  pollsPerJob: number;
  /** From the user's message to the acknowledgement arriving at Telegram, real s. */
  ackP95RealSeconds: number;
  /** tapbot_ack_latency_seconds of the bot: from the bot receiving the update to its acknowledgement, real s. */
  appAck: HistogramSummary | null;
  telegramCallsPerSecond: number;
  telegramCallsPerJob: number;
  bot: ProcessFigures;
  /** The worker figures: RSS the most of any worker, CPU summed over all of them. */
  worker: ProcessFigures;
  /** Worker CPU in the window per photo delivered in it, idle cost included. */
  workerCpuSecondsPerJob: number;
  /** The same less the workers' idle rate measured before the run: what the jobs' steps cost. */
  workerBusyCpuSecondsPerJob: number;
  botCpuSecondsPerJob: number;
  /** The measured window, real seconds. */
  windowRealSeconds: number;
}

interface Arrival {
  at: number;
  chatId: number;
  messageId: number;
  prompt: string;
}

/** reply_parameters as grammY sends it (an object, or JSON text in a multipart body). */
function repliedTo(call: ApiCall): number | undefined {
  const raw = call.params.reply_parameters;
  const parsed = typeof raw === "string" ? (JSON.parse(raw) as unknown) : raw;
  const id = (parsed as { message_id?: unknown } | undefined)?.message_id;
  return typeof id === "number" ? id : undefined;
}

/** Time-average over [from, to] of how many of `intervals` are open. */
function timeAverage(intervals: readonly [number, number][], from: number, to: number): number {
  let covered = 0;
  for (const [start, end] of intervals) covered += Math.max(0, Math.min(end, to) - Math.max(start, from));
  return covered / (to - from);
}

/**
 * Runs one load level on a fresh stack (throwaway Redis and PostgreSQL, fake Telegram, fake fal enforcing
 * the account limit with exponential job times), with the compiled bot and `workers` compiled workers:
 * every user sends /start, then requests arrive as a Poisson process for `seconds`; the processes' memory
 * and CPU are sampled throughout, and each request is followed from the user's message through the
 * acknowledgement and fal's queue to the photo. Stops everything it started.
 */
export async function runLevel(o: LevelOptions): Promise<LevelMeasurement> {
  const f = o.timeFactor;
  const random = seededRandom(o.seed);
  const stack = await startAppStack({
    fal: { queueMs: 0, accountConcurrency: o.providerConcurrency },
  });
  const { telegram, fal } = stack;
  fal.setProcessingMs(() => exponentialDraw((o.jobSeconds / f) * 1000, random));
  const env = {
    ...stack.baseEnv,
    WORKER_CONCURRENCY: String(o.workerConcurrency),
    FAL_CONCURRENCY: String(o.providerConcurrency),
    POLL_INITIAL_SECONDS: String(o.pollInitialSeconds / f),
    POLL_MAX_SECONDS: String(o.pollMaxSeconds / f),
    DEADLINE_SECONDS_TEXT_TO_IMAGE: String(Math.ceil(DEADLINE_SECONDS / f)),
  };
  const running: CompiledProcess[] = [];
  try {
    const bot = await startCompiled(o.buildDir, "bot", env);
    running.push(bot);
    const workers = await Promise.all(
      Array.from({ length: o.workers }, () => startCompiled(o.buildDir, "worker", env)),
    );
    running.push(...workers);
    o.log(`${o.users} users: bot and ${o.workers} workers ready; every user sends /start`);

    const users: FakeUser[] = Array.from({ length: o.users }, (_, i) => ({
      id: 600_000_000 + i,
      first_name: "Load",
      language_code: "en",
    }));
    await greetUsers(telegram, users, { timeoutMs: 60_000, intervalMs: 100 });

    const schedule = poissonArrivals(o.arrivalPerSecond * f, o.seconds, random);
    o.log(
      `${o.users} users: ${schedule.length} requests over ${o.seconds} s (λ ${(o.arrivalPerSecond * f).toFixed(2)}/s real), the first ${o.warmupSeconds} s not measured`,
    );
    const sampler = new ProcessSampler(bot, workers);
    const workerIdleCpuPerSecond = await sampler.workerIdleCpuPerSecond(IDLE_CPU_MS);
    const callsBefore = telegram.calls.length;
    const t0 = Date.now();
    const windowStart = t0 + o.warmupSeconds * 1000;
    const windowEnd = t0 + o.seconds * 1000;
    const sampling = sampler.run(windowStart, windowEnd);
    const arrivals: Arrival[] = [];
    let lagMax = 0;
    for (const [i, t] of schedule.entries()) {
      const due = t0 + t * 1000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      lagMax = Math.max(lagMax, Date.now() - due);
      const user = users[Math.floor(random() * users.length)] as FakeUser;
      const prompt = `load ${o.users} request ${i}: a lighthouse at dusk`;
      const message: Message = telegram.userSends(user, { text: prompt });
      arrivals.push({ at: Date.now(), chatId: user.id, messageId: message.message_id, prompt });
    }
    const processes = await sampling;
    o.log(`${o.users} users: arrivals done; waiting for the last photos`);

    // A request ends with its photo or, when fal's exponential time ran past the deadline (e^(−120/25), about
    // 0.8 % of 25-s jobs), with the message that says so; anything else is a request left unanswered.
    const photos = (): number => telegram.callsTo("sendPhoto").filter((c) => c.status === 200).length;
    const deadlineText = translate("en", "job-deadline", { seconds: Math.ceil(DEADLINE_SECONDS / f) });
    const toldDeadline = (): number =>
      telegram.calls.filter((c) => c.status === 200 && c.params.text === deadlineText).length;
    await waitUntil(async () => (photos() + toldDeadline() >= arrivals.length ? true : undefined), {
      timeoutMs: (DEADLINE_SECONDS / f) * 1000 + 30_000,
      intervalMs: 250,
      describe: () => `${arrivals.length - photos() - toldDeadline()} requests without an answer`,
    }).catch(() => undefined);
    o.log(
      `${o.users} users: ${photos()} photos, ${toldDeadline()} told their job ran past the deadline, ` +
        `${arrivals.length - photos() - toldDeadline()} without an answer`,
    );
    const appSlotWait = histogramFromMetrics(
      "tapbot_fal_slot_wait_seconds",
      await Promise.all(workers.map((w) => w.metrics())),
    );
    const appAck = histogramFromMetrics("tapbot_ack_latency_seconds", [await bot.metrics()]);
    return measure(o, {
      arrivals,
      windowStart,
      windowEnd,
      lagMax,
      processes,
      workerIdleCpuPerSecond,
      callsBefore,
      appSlotWait,
      appAck,
      telegramCalls: telegram.calls,
      fal,
    });
  } finally {
    await Promise.allSettled(running.map((p) => p.stop()));
    await stack.stop();
  }
}

interface Observed {
  arrivals: readonly Arrival[];
  windowStart: number;
  windowEnd: number;
  lagMax: number;
  processes: { bot: ProcessFigures; worker: ProcessFigures };
  /** CPU the workers use with nothing to do (BullMQ's blocking reads, timers), CPU s per s. */
  workerIdleCpuPerSecond: number;
  /** Bot API calls before the first request (the /start greetings), left out of the calls per job. */
  callsBefore: number;
  appSlotWait: HistogramSummary | null;
  appAck: HistogramSummary | null;
  telegramCalls: readonly ApiCall[];
  fal: Awaited<ReturnType<typeof startAppStack>>["fal"];
}

/** Follows every measured request through the records of the fakes and turns them into the level's figures. */
function measure(o: LevelOptions, seen: Observed): LevelMeasurement {
  const f = o.timeFactor;
  const { fal, windowStart, windowEnd } = seen;
  const inWindow = (at: number): boolean => at >= windowStart && at < windowEnd;
  const measured = seen.arrivals.filter((a) => inWindow(a.at));
  const acks = new Map<string, ApiCall>();
  for (const call of seen.telegramCalls) {
    if (call.method !== "sendMessage" || call.status !== 200) continue;
    const to = repliedTo(call);
    if (to !== undefined) acks.set(`${call.params.chat_id}:${to}`, call);
  }
  const submissionByPrompt = new Map(fal.submissions.map((s) => [s.input.prompt, s]));
  // When the app first saw each request COMPLETED: the moment it gives the slot back.
  const doneSeen = new Map<string, number>();
  for (const c of fal.calls)
    if (
      c.kind === "status" &&
      c.state === "COMPLETED" &&
      c.requestId !== undefined &&
      !doneSeen.has(c.requestId)
    )
      doneSeen.set(c.requestId, c.at);
  const releases = [...doneSeen.values()].sort((a, b) => a - b);
  /** The last release at or before `at` (binary search), or undefined. */
  const lastReleaseBefore = (at: number): number | undefined => {
    let lo = 0;
    let hi = releases.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((releases[mid] as number) <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : releases[lo - 1];
  };
  const handoffs: number[] = [];
  const requests = new Map(fal.requestTimes().map((r) => [r.requestId, r]));
  const waits: number[] = [];
  const ackLatencies: number[] = [];
  const holds: number[] = [];
  const falJobs: number[] = [];
  const polls: number[] = [];
  const inFlight: [number, number][] = [];
  let submitted = 0;
  for (const a of measured) {
    const ack = acks.get(`${a.chatId}:${a.messageId}`);
    if (ack !== undefined) ackLatencies.push((ack.at - a.at) / 1000);
    const submission = submissionByPrompt.get(a.prompt);
    if (submission === undefined) continue;
    submitted += 1;
    const request = requests.get(submission.requestId);
    if (ack !== undefined && request?.startedAt !== undefined) {
      const wait = (Math.max(0, request.startedAt - ack.at) / 1000) * f;
      waits.push(wait);
      // A job that waited took a slot someone released: the time from that release to its submission is
      // a slot held by nobody, which the model does not have.
      const released = lastReleaseBefore(submission.at);
      if (wait > WAITED_REAL_SECONDS * f && released !== undefined && released > ack.at)
        handoffs.push(((submission.at - released) / 1000) * f);
    }
    const seenDone = doneSeen.get(submission.requestId);
    if (seenDone !== undefined) holds.push(((seenDone - submission.at) / 1000) * f);
    if (request?.startedAt !== undefined && request.endedAt !== undefined)
      falJobs.push(((request.endedAt - request.startedAt) / 1000) * f);
    polls.push(fal.pollsFor(submission.requestId));
  }
  for (const a of seen.arrivals) {
    const submission = submissionByPrompt.get(a.prompt);
    const done = submission && doneSeen.get(submission.requestId);
    inFlight.push([a.at, done ?? Number.POSITIVE_INFINITY]);
  }
  const replay = replayedWaits(o, seen, acks, submissionByPrompt, doneSeen);
  const atFalIntervals: [number, number][] = [...requests.values()]
    .filter((r) => r.startedAt !== undefined)
    .map((r) => [r.startedAt as number, r.endedAt ?? Number.POSITIVE_INFINITY]);
  const windowSeconds = (windowEnd - windowStart) / 1000;
  const calls = seen.telegramCalls.filter((c) => c.method !== "getUpdates" && inWindow(c.at)).length;
  // Per job: every call after the greetings, over every request; the run has drained by now.
  const callsForJobs = seen.telegramCalls
    .slice(seen.callsBefore)
    .filter((c) => c.method !== "getUpdates").length;
  const photosInWindow = seen.telegramCalls.filter(
    (c) => c.method === "sendPhoto" && c.status === 200 && inWindow(c.at),
  ).length;
  const delivered = seen.telegramCalls.filter((c) => c.method === "sendPhoto" && c.status === 200).length;
  const orZero = (values: number[], fn: (v: number[]) => number): number =>
    values.length === 0 ? Number.NaN : fn(values);
  return {
    arrived: seen.arrivals.length,
    measured: measured.length,
    submitted,
    delivered,
    arrivalLagMaxMs: seen.lagMax,
    arrivalPerSecond: measured.length / ((windowEnd - windowStart) / 1000) / f,
    slotWait: waitFigures(waits, f),
    fifoReplay: waitFigures(replay, f),
    appSlotWait: seen.appSlotWait && {
      ...seen.appSlotWait,
      meanSeconds: seen.appSlotWait.meanSeconds * f,
      p95Seconds: seen.appSlotWait.p95Seconds * f,
    },
    atFal: {
      mean: timeAverage(atFalIntervals, windowStart, windowEnd),
      peak: fal.peakInProgress,
      peakInFlight: fal.peakInFlight,
    },
    inFlightMean: timeAverage(inFlight, windowStart, windowEnd),
    slotHoldMeanSeconds: orZero(holds, mean),
    slotHandoffMeanSeconds: orZero(handoffs, mean),
    falJobMeanSeconds: orZero(falJobs, mean),
    pollsPerJob: orZero(polls, mean),
    ackP95RealSeconds: orZero(ackLatencies, (v) => percentile(v, 0.95)),
    appAck: seen.appAck,
    telegramCallsPerSecond: calls / windowSeconds / f,
    telegramCallsPerJob: callsForJobs / Math.max(1, seen.arrivals.length),
    bot: seen.processes.bot,
    worker: seen.processes.worker,
    workerCpuSecondsPerJob: seen.processes.worker.cpuSeconds / Math.max(1, photosInWindow),
    workerBusyCpuSecondsPerJob:
      Math.max(0, seen.processes.worker.cpuSeconds - seen.workerIdleCpuPerSecond * windowSeconds) /
      Math.max(1, photosInWindow),
    botCpuSecondsPerJob: seen.processes.bot.cpuSeconds / Math.max(1, measured.length),
    windowRealSeconds: windowSeconds,
  };
}

/** Mean, p95 and the share that waited of waits in modelled seconds (NaN when there are none). */
function waitFigures(waits: readonly number[], f: number): WaitFigures {
  if (waits.length === 0)
    return { meanSeconds: Number.NaN, p95Seconds: Number.NaN, shareThatWaited: Number.NaN };
  return {
    meanSeconds: mean(waits),
    p95Seconds: percentile(waits, 0.95),
    shareThatWaited: waits.filter((w) => w > WAITED_REAL_SECONDS * f).length / waits.length,
  };
}

/**
 * Every request of the run (the warm-up's too, so the line is as long as it was) replayed through an ideal
 * FIFO queue of the account's c slots: it joins the line at its acknowledgement and holds a slot as long as the
 * app held its own (submission → the poll that saw it done; a request never seen done, cut at the deadline,
 * until its deadline). Returns the replayed waits of the measured requests that have a measured wait, in
 * modelled seconds.
 */
function replayedWaits(
  o: LevelOptions,
  seen: Observed,
  acks: ReadonlyMap<string, ApiCall>,
  submissionByPrompt: ReadonlyMap<unknown, { requestId: string; at: number }>,
  doneSeen: ReadonlyMap<string, number>,
): number[] {
  const f = o.timeFactor;
  const entries: { at: number; holdSeconds: number; measured: boolean }[] = [];
  for (const a of seen.arrivals) {
    const ack = acks.get(`${a.chatId}:${a.messageId}`);
    const submission = submissionByPrompt.get(a.prompt);
    if (ack === undefined || submission === undefined) continue;
    const released = doneSeen.get(submission.requestId) ?? ack.at + (DEADLINE_SECONDS / f) * 1000;
    entries.push({
      at: (ack.at / 1000) * f,
      holdSeconds: (Math.max(0, released - submission.at) / 1000) * f,
      measured: a.at >= seen.windowStart && a.at < seen.windowEnd,
    });
  }
  entries.sort((x, y) => x.at - y.at);
  const waits = fifoWaits(entries, o.providerConcurrency);
  return waits.filter((_, i) => entries[i]?.measured === true);
}
