import type { Message } from "grammy/types";
import { translate } from "../../app/i18n/index.js";
import { rolloutStages } from "../../infra/rollout-order.js";
import { type AppProcess, type AppStack, startAppStack } from "../support/app-stack.js";
import type { ChatMessageView } from "../support/fake-telegram.js";
import { freePort } from "../support/free-port.js";
import { sleep } from "../support/http-kit.js";
import { ScriptedUser } from "../support/scripted-user.js";
import { seededRandom } from "./seeded-random.js";

/** Everything the soak does to the running system, each on a schedule. */
export const faultKinds = [
  "worker-kill",
  "worker-term",
  "bot-kill",
  "redis-restart",
  "postgres-restart",
  "fal-5xx",
  "fal-429",
  "fal-reset",
  "fal-hang",
  "telegram-5xx",
  "telegram-429",
  "telegram-reset",
  "telegram-hang",
  "rollout",
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** Options of {@link runChaosSoak}. */
export interface SoakOptions {
  /** Requests in all, spread over the users. */
  requests: number;
  /** Simulated users, each with one request in flight at a time. */
  users: number;
  /** Seed of every random choice (which fault, which process, which method), so a run can be repeated. */
  seed: number;
  /** Time between two faults. */
  faultEveryMs: number;
  /**
   * Exactly this many rounds of faults, each every kind once in a seeded order; the users keep sending
   * (past `requests`) until the last fault is over. Without it, faults come until the requests are sent.
   */
  faultRounds?: number;
  /** Worker processes (WORKER_CONCURRENCY 4 each). @defaultValue 3 */
  workers?: number;
  /** How long a user waits for the outcome of one request before sending the next. @defaultValue 120000 */
  outcomeTimeoutMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Every log line of every app process (for diagnosing a request afterwards). */
  onAppLog?: (name: string, line: string) => void;
}

/** What each request's chat showed, judged as a user would. */
export interface SoakResult {
  requests: number;
  /** Exactly one picture or one failure message. */
  answeredOnce: number;
  /** A picture. */
  delivered: number;
  /** One clear failure message. */
  failedClearly: number;
  /** Acknowledged, then no picture and no failure message. */
  lost: number;
  /** Neither acknowledged nor answered: the bot never took the request. */
  unanswered: number;
  /** Two or more outcomes (pictures, failure messages, or both). */
  duplicated: number;
  /** Requests acknowledged more than once. */
  duplicateAcks: number;
  /** Prompts fal received more than once (a billed duplicate). */
  billedTwice: number;
  /** Every request not answered with exactly one picture: its prompt, what went wrong and its chat's texts. */
  problems: { prompt: string; verdict: string; chat: string[] }[];
  faults: Record<FaultKind, number>;
  /** Faults the harness could not inject as planned (a replacement process that did not start), with why. */
  failedFaults: string[];
  /** Seconds from Telegram's answer to the first store recording it (the re-send window), over the workers. */
  recordWindow: WindowSize | null;
  /** Seconds from fal accepting a submission to the first store recording its request id (the re-submit window). */
  submitWindow: WindowSize | null;
  seconds: number;
}

/** Every text a worker or the bot ends a request with when there is no picture, in both languages. */
const failureTexts = new Set(
  [
    "job-failed",
    "job-rejected",
    "job-rejected-content-policy",
    "job-deadline",
    "job-cancelled",
    "error-generic",
  ]
    .flatMap((key) =>
      (["en", "ru"] as const).map((locale) => translate(locale, key, { seconds: 120, reason: "" })),
    )
    .map((text) => text.split("\n")[0] as string),
);
const isFailureText = (text: string | undefined): boolean =>
  text !== undefined && failureTexts.has(text.split("\n")[0] as string);

/** A bot replica slot: a fixed port behind the (simulated) proxy, and the process running there now. */
interface BotSlot {
  port: number;
  process: AppProcess | undefined;
}

/**
 * Runs the chaos soak: real bot replicas (webhook mode, as in production) and workers as processes, a real
 * Redis with AOF and PostgreSQL, the loopback fakes of Telegram and fal; simulated users send requests while
 * the scheduler kills and restarts workers, the bot, Redis and PostgreSQL, makes fal and Telegram fail in
 * bursts (5xx, 429 with retry_after, resets, hangs) and rolls out the bot and the workers in the order the
 * Pulumi program replaces them. Each request is then judged from its user's chat.
 */
export async function runChaosSoak(options: SoakOptions): Promise<SoakResult> {
  const random = seededRandom(options.seed);
  const log = options.log ?? (() => undefined);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const slots: BotSlot[] = [
    { port: await freePort(), process: undefined },
    { port: await freePort(), process: undefined },
  ];
  let turn = 0;
  const stack: AppStack = await startAppStack({
    redis: { appendOnly: true },
    // As in production: a commit is on disk before PostgreSQL answers, so a crash loses no committed row
    // (the throwaway default, synchronous_commit off, loses the last few hundred milliseconds of them).
    postgres: { settings: { synchronous_commit: "on", fsync: "on", full_page_writes: "on" } },
    ...(options.onAppLog ? { onLog: options.onAppLog } : {}),
    env: {
      WORKER_LOCK_SECONDS: "2",
      HTTP_TIMEOUT_SECONDS: "5",
      RATE_LIMIT_MAX: "100000",
      SHUTDOWN_GRACE_SECONDS: "5",
      LOG_LEVEL: "warn",
    },
    // The proxy in front of the replicas, as Caddy's round robin: a replica that is down refuses, and the
    // next delivery attempt goes to the other.
    telegram: {
      webhookTarget: (url) =>
        `http://127.0.0.1:${(slots[turn++ % slots.length] as BotSlot).port}${new URL(url).pathname}`,
    },
  });
  const started = Date.now();
  const faults = Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<FaultKind, number>;
  const webhookEnv = (port: number) => ({
    BOT_MODE: "webhook",
    WEBHOOK_URL: "https://bot.tapbot.example/telegram/webhook",
    WEBHOOK_SECRET: "chaos-soak-secret",
    HTTP_PORT: String(port),
    LOG_LEVEL: "info",
  });
  const startSlot = async (slot: BotSlot): Promise<void> => {
    slot.process = await stack.startBot(webhookEnv(slot.port));
  };
  const workers: AppProcess[] = [];
  const startWorker = async (): Promise<AppProcess> => {
    // Its ops port is picked free a moment before it listens; on a shared machine another process can
    // take it in between (EADDRINUSE). That is the harness's race, not a fault: pick another port.
    for (let attempt = 1; ; attempt += 1) {
      try {
        const worker = await stack.startWorker({ LOG_LEVEL: "info" });
        workers.push(worker);
        return worker;
      } catch (error) {
        if (attempt >= 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
      }
    }
  };
  const liveWorkers = () => workers.filter((w) => !w.child.hasExited());
  const replaceWorker = async (how: "kill" | "term"): Promise<void> => {
    const victim = pick(liveWorkers());
    if (how === "kill") await victim.kill();
    else await victim.stop(15_000);
    workers.splice(workers.indexOf(victim), 1);
    await sleep(500);
    await startWorker();
  };

  try {
    await Promise.all([
      ...slots.map((slot) => startSlot(slot)),
      ...Array.from({ length: options.workers ?? 3 }, () => startWorker()),
    ]);
    log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    /** The next fault in a shuffled cycle of every kind, so each kind comes up equally often. */
    let cycle: FaultKind[] = [];
    const nextFault = (): FaultKind => {
      if (cycle.length === 0) {
        cycle = [...faultKinds];
        for (let i = cycle.length - 1; i > 0; i -= 1) {
          const j = Math.floor(random() * (i + 1));
          [cycle[i], cycle[j]] = [cycle[j] as FaultKind, cycle[i] as FaultKind];
        }
      }
      return cycle.shift() as FaultKind;
    };
    const inject = async (kind: FaultKind): Promise<void> => {
      const telegramMethod = pick(["sendPhoto", "editMessageText", "sendMessage"]);
      const falCall = pick(["submit", "status", "result"] as const);
      switch (kind) {
        case "worker-kill":
          return replaceWorker("kill");
        case "worker-term":
          return replaceWorker("term");
        case "bot-kill": {
          const slot = pick(slots);
          await slot.process?.kill();
          await sleep(500);
          return startSlot(slot);
        }
        case "redis-restart":
          return stack.redis.crashAndRestart(1_500);
        case "postgres-restart":
          return stack.postgres.crashAndRestart(2_000);
        case "fal-5xx":
          return stack.fal.failNext({ on: falCall, status: pick([500, 502, 503]), times: 3 });
        case "fal-429":
          return stack.fal.failNext({ on: falCall, status: 429, times: 3 });
        case "fal-reset":
          return stack.fal.failNext({ on: falCall, status: "reset", times: 3 });
        case "fal-hang":
          // Longer than HTTP_TIMEOUT_SECONDS: the calls of the next 3 s time out and are retried.
          stack.fal.setLatencyMs(7_000);
          await sleep(3_000);
          return stack.fal.setLatencyMs(0);
        case "telegram-5xx":
          return stack.telegram.failNext(telegramMethod, { status: 500 }, 3);
        case "telegram-429":
          return stack.telegram.failNext(telegramMethod, { status: 429, retryAfter: 1 }, 3);
        case "telegram-reset":
          return stack.telegram.failNext(telegramMethod, { status: "reset" }, 2);
        case "telegram-hang":
          stack.telegram.setLatency(7_000, telegramMethod);
          await sleep(3_000);
          return stack.telegram.setLatency(0, telegramMethod);
        case "rollout":
          // What `pulumi up` does with a new image: each stage stopped (SIGTERM, grace) and replaced in turn.
          for (const stage of rolloutStages(slots.length, liveWorkers().length, 2)) {
            if (stage.role === "bot") {
              for (const index of stage.indices) {
                const slot = slots[index] as BotSlot;
                await slot.process?.stop(15_000);
                await startSlot(slot);
              }
            } else {
              const batch = stage.indices.map((i) => liveWorkers()[i]).filter((w) => w !== undefined);
              await Promise.all(batch.map((w) => w.stop(15_000)));
              for (const w of batch) workers.splice(workers.indexOf(w), 1);
              await Promise.all(batch.map(() => startWorker()));
            }
          }
      }
    };

    let sending = true;
    const plannedFaults =
      options.faultRounds === undefined ? Number.POSITIVE_INFINITY : options.faultRounds * faultKinds.length;
    let injected = 0;
    const failedFaults: string[] = [];
    const scheduler = (async () => {
      while (sending && injected < plannedFaults) {
        await sleep(options.faultEveryMs);
        if (!sending) break;
        const kind = nextFault();
        faults[kind] += 1;
        log(`${((Date.now() - started) / 1000).toFixed(0)} s: ${kind}`);
        await inject(kind).catch((error: unknown) => {
          failedFaults.push(`${kind}: ${(error as Error).message.split("\n")[0]}`);
          log(`fault ${kind} failed: ${(error as Error).message}`);
        });
        injected += 1;
      }
    })();

    // The users: each sends its share of requests one after the other, waiting for each one's outcome.
    const perUser = Math.ceil(options.requests / options.users);
    const sent: { user: ScriptedUser; messages: Message[] }[] = [];
    let nextPrompt = 0;
    await Promise.all(
      Array.from({ length: options.users }, async (_, u) => {
        const user = new ScriptedUser(stack.telegram, {
          id: 8_000_000 + options.seed * 1_000 + u,
          first_name: `Chaos${u}`,
          language_code: "en",
        });
        const messages: Message[] = [];
        sent.push({ user, messages });
        const more = (r: number) =>
          (r < perUser && nextPrompt < options.requests) ||
          (options.faultRounds !== undefined && injected < plannedFaults);
        for (let r = 0; more(r); r += 1) {
          nextPrompt += 1;
          const message = user.says(`chaos ${options.seed} request ${nextPrompt}`);
          messages.push(message);
          await stack.telegram
            .waitForMessage(
              user.id,
              (view) => view.from === "bot" && view.message_id > message.message_id && outcomeOf(view),
              options.outcomeTimeoutMs ?? 120_000,
            )
            .catch(() => undefined);
          // A failure is an edit of the acknowledgement, which may come before the outcome message.
          await sleep(random() * 300);
        }
      }),
    );
    sending = false;
    await scheduler;
    // Let late duplicates show up before judging.
    await sleep(5_000);
    const recordWindow = await windowOf(liveWorkers(), "tapbot_outcome_record_seconds");
    const submitWindow = await windowOf(liveWorkers(), "tapbot_request_id_record_seconds");
    return {
      ...judge(sent, stack),
      faults,
      failedFaults,
      recordWindow,
      submitWindow,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await stack.stop();
  }

  /** Whether a bot message is a request's outcome: a picture, or a failure text (possibly an edited ack). */
  function outcomeOf(view: ChatMessageView): boolean {
    return view.photoFileId !== undefined || view.documentFileId !== undefined || isFailureText(view.text);
  }

  function judge(sent: { user: ScriptedUser; messages: Message[] }[], s: AppStack) {
    const result = {
      requests: 0,
      answeredOnce: 0,
      delivered: 0,
      failedClearly: 0,
      lost: 0,
      unanswered: 0,
      duplicated: 0,
      duplicateAcks: 0,
      billedTwice: 0,
      problems: [] as SoakResult["problems"],
    };
    for (const { user, messages } of sent) {
      const chat = s.telegram.chat(user.id).filter((v) => v.from === "bot" && !v.deleted);
      messages.forEach((message, i) => {
        const next = messages[i + 1]?.message_id ?? Number.POSITIVE_INFINITY;
        const acks = chat.filter((v) => v.message.reply_to_message?.message_id === message.message_id);
        const window = chat.filter(
          (v) => v.message_id > message.message_id && v.message_id < next && outcomeOf(v),
        );
        // The acknowledgement edited into a failure counts once, whether it lies in the window or not.
        const outcomes = new Set([...window, ...acks.filter((a) => isFailureText(a.text))]);
        const pictures = [...outcomes].filter(
          (v) => v.photoFileId !== undefined || v.documentFileId !== undefined,
        );
        result.requests += 1;
        const verdicts: string[] = [];
        if (acks.length > 1) {
          result.duplicateAcks += 1;
          verdicts.push(`acknowledged ${acks.length} times`);
        }
        if (outcomes.size === 0 && acks.length === 0) {
          result.unanswered += 1;
          verdicts.push("unanswered");
        } else if (outcomes.size === 0) {
          result.lost += 1;
          verdicts.push("lost");
        } else if (outcomes.size > 1) {
          result.duplicated += 1;
          verdicts.push(`${outcomes.size} answers`);
        } else {
          result.answeredOnce += 1;
          if (pictures.length === 1) result.delivered += 1;
          else {
            result.failedClearly += 1;
            verdicts.push("failure message");
          }
        }
        const billed = s.fal.submissions.filter((x) => x.input.prompt === message.text).length;
        if (billed > 1) {
          result.billedTwice += 1;
          verdicts.push(`submitted to fal ${billed} times`);
        }
        if (verdicts.length > 0) {
          const related = [...acks, ...window];
          result.problems.push({
            prompt: message.text ?? "",
            verdict: verdicts.join(", "),
            chat: related.map(
              (v) =>
                `#${v.message_id} ${v.photoFileId ? "[photo]" : v.documentFileId ? "[document]" : ""}${(v.text ?? "").split("\n")[0]}${v.edits.length ? ` (edits: ${v.edits.map((e) => e.text.split("\n")[0]).join(" → ")})` : ""}`,
            ),
          });
        }
      });
    }
    return result;
  }
}

/** A window's size as the upper bounds of the histogram buckets holding its p50, p99 and maximum. */
export interface WindowSize {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** A window histogram (`name`) of the workers still running, summed, as p50 / p99 / max bucket bounds. */
async function windowOf(workers: AppProcess[], name: string): Promise<WindowSize | null> {
  const buckets = new Map<number, number>();
  const bucket = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, "gm");
  for (const worker of workers) {
    const text = await worker.metrics().catch(() => "");
    for (const match of text.matchAll(bucket)) {
      const le = match[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(match[1]);
      buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
    }
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const count = buckets.get(Number.POSITIVE_INFINITY) ?? 0;
  if (count === 0) return null;
  const quantile = (q: number) => {
    const bound = bounds.find((b) => (buckets.get(b) ?? 0) >= q * count) ?? Number.POSITIVE_INFINITY;
    return bound * 1000;
  };
  return { count, p50Ms: quantile(0.5), p99Ms: quantile(0.99), maxMs: quantile(1) };
}
