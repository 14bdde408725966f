import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { translate } from "../../app/i18n/index.js";
import { type AppProcess, type AppStack, startAppStack } from "../support/app-stack.js";
import { freePort } from "../support/free-port.js";
import { waitUntil } from "../support/wait-until.js";
import { collectGarbage } from "./collect-garbage.js";
import { type OddCase, oddUpdates, type PostCase } from "./odd-updates.js";

/** Options of {@link runOddSoak}. */
export interface OddSoakOptions {
  /** How the bot receives updates: long polling (local runs) or the webhook (production). */
  mode: "polling" | "webhook";
  /** Cases to send (duplicates and raw posts included). */
  updates: number;
  seed: number;
  /** Cases sent before the warm-up reading of memory. @defaultValue a tenth, at least 50 */
  warmup?: number;
  /** Updates Telegram holds undelivered before the sender waits (so the bot is fed, not flooded). @defaultValue 50 */
  window?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Every log line of the bot process. */
  onAppLog?: (name: string, line: string) => void;
}

/** What the soak saw, judged from the chats and the webhook's answers. */
export interface OddSoakResult {
  mode: OddSoakOptions["mode"];
  /** Cases sent: through Telegram (duplicates included) and raw posts to the webhook. */
  sent: number;
  throughTelegram: number;
  posts: number;
  /** Messages the bot had to send (one per message in a private chat) and how many chats got theirs. */
  answersExpected: number;
  answersGot: number;
  /** Chats that got fewer answers than their messages. */
  unanswered: number;
  /** Answers beyond one per message (a duplicate update answered again, a message answered twice). */
  duplicates: number;
  /** Answers that were the generic apology, for input that deserves a clear one. */
  apologies: number;
  /** Raw posts answered with another status than the one they must get. */
  wrongStatuses: number;
  /** Log lines of the bot at level error or fatal (an uncaught exception or unhandled rejection is fatal). */
  errorsLogged: number;
  /** Resident set size and V8 heap in use after a full GC: after the warm-up and at the end, MB. */
  rssWarmupMB: number;
  rssEndMB: number;
  heapWarmupMB: number;
  heapEndMB: number;
  /** The bot process is still running and its /healthz answers 200. */
  alive: boolean;
  seconds: number;
  /** One line per thing that went wrong (a chat, a post, an error line), at most 20. */
  problems: string[];
}

const mb = (bytes: number): number => Math.round((bytes / (1024 * 1024)) * 10) / 10;

/** Sends a raw request to the webhook and resolves with the status (0 when the connection broke first). */
function post(port: number, path: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

/**
 * The odd-updates soak: the real bot process (tsx, as `npm run bot` runs it) against the fake Telegram, in
 * polling or webhook mode, fed the seeded cases of {@link oddUpdates} a window at a time; no worker runs,
 * the bot's answers are what is judged. Every message in a private chat must get exactly one answer, never
 * the generic apology; nothing else may be answered; every raw post must get its status; the bot must log
 * no error and stay up; its memory after a full GC (through the inspector) is read after the warm-up and at
 * the end.
 */
export async function runOddSoak(options: OddSoakOptions): Promise<OddSoakResult> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const window = options.window ?? 50;
  const [botPort, inspectPort] = [await freePort(), await freePort()];
  const webhookPath = "/telegram/webhook";
  const secret = randomBytes(24).toString("base64url");
  const errorLines: string[] = [];
  const stack: AppStack = await startAppStack({
    ...(options.mode === "webhook"
      ? { telegram: { webhookTarget: () => `http://127.0.0.1:${botPort}${webhookPath}` } }
      : {}),
    onLog: (name, line) => {
      options.onAppLog?.(name, line);
      const level = (() => {
        try {
          return (JSON.parse(line) as { level?: number }).level ?? 0;
        } catch {
          return 0;
        }
      })();
      if (level >= 50) errorLines.push(line);
    },
  });
  try {
    const bot: AppProcess = await stack.startBot({
      HTTP_PORT: String(botPort),
      NODE_OPTIONS: `--inspect=127.0.0.1:${inspectPort}`,
      ...(options.mode === "webhook"
        ? {
            BOT_MODE: "webhook",
            WEBHOOK_URL: `https://tapbot.example.test${webhookPath}`,
            WEBHOOK_SECRET: secret,
          }
        : { BOT_MODE: "polling" }),
    });
    const cases = oddUpdates({
      seed: options.seed,
      count: options.updates,
      posts: options.mode === "webhook",
      firstUpdateId: 500_000_000,
      firstUserId: 7_000_000_000,
    });
    const telegram = stack.telegram;
    const wrongStatuses: string[] = [];
    const settled = async (what: string) =>
      waitUntil(async () => (telegram.pendingUpdates().length === 0 ? true : undefined), {
        timeoutMs: 120_000,
        intervalMs: 20,
        describe: () => `${what}: ${telegram.pendingUpdates().length} updates still undelivered`,
        abort: () => (bot.child.hasExited() ? `the bot exited\n${bot.child.logTail(30)}` : undefined),
      });
    const memory = async () => {
      await collectGarbage(inspectPort);
      const text = await bot.metrics();
      const read = (name: string) =>
        Number(new RegExp(`^tapbot_process_${name} (\\S+)$`, "m").exec(text)?.[1]);
      return {
        rss: await bot.rssBytes(),
        heap: read("nodejs_heap_size_used_bytes"),
        external: read("nodejs_external_memory_bytes"),
      };
    };
    const send = async (item: OddCase): Promise<void> => {
      if (item.via === "post") {
        const status = await sendPost(item);
        if (status !== item.status) wrongStatuses.push(`${item.kind}: ${status}, expected ${item.status}`);
        return;
      }
      while (telegram.pendingUpdates().length >= window) {
        await waitUntil(async () => (telegram.pendingUpdates().length < window ? true : undefined), {
          timeoutMs: 60_000,
          intervalMs: 5,
          abort: () => (bot.child.hasExited() ? `the bot exited\n${bot.child.logTail(30)}` : undefined),
          describe: () => `Telegram still holds ${telegram.pendingUpdates().length} undelivered updates`,
        });
      }
      telegram.injectUpdate(
        item.update,
        item.user === undefined || item.duplicate ? {} : { user: item.user },
      );
    };
    const sendPost = (item: PostCase): Promise<number> => {
      const headers: Record<string, string> = {};
      if (item.contentType !== undefined) headers["content-type"] = item.contentType;
      if (item.secret !== "none") {
        headers["x-telegram-bot-api-secret-token"] = item.secret === "right" ? secret : "not-the-secret";
      }
      return post(botPort, webhookPath, item.body, headers);
    };

    const warmup = Math.min(cases.length, options.warmup ?? Math.max(50, Math.floor(cases.length / 10)));
    for (const item of cases.slice(0, warmup)) await send(item);
    await settled("warm-up");
    const atWarmup = await memory();
    log(
      `warm-up: ${warmup} cases; after GC: RSS ${mb(atWarmup.rss)} MB, heap ${mb(atWarmup.heap)} MB, external ${mb(atWarmup.external)} MB`,
    );
    let next = warmup;
    for (const item of cases.slice(warmup)) {
      await send(item);
      next += 1;
      if (next % 2000 === 0) {
        const now = await memory();
        log(
          `${next} of ${cases.length} cases sent; after GC: RSS ${mb(now.rss)} MB, heap ${mb(now.heap)} MB, external ${mb(now.external)} MB`,
        );
      }
    }
    await settled("the end");
    const atEnd = await memory();

    // Judge from the chats: bot messages per chat against the messages that deserved one.
    // A chat of a case that deserves no answer (an edit, a forged post) must stay empty: want 0 below.
    const expected = new Map<number, number>();
    for (const item of cases) {
      if (item.via === "telegram" && item.user !== undefined && item.answers === 1)
        expected.set(item.user.id, (expected.get(item.user.id) ?? 0) + 1);
    }
    const apology = new Set(["en", "ru"].map((locale) => translate(locale as "en", "error-generic")));
    const got = new Map<number, string[]>();
    for (const event of telegram.events) {
      if (event.from !== "bot" || event.kind !== "sent") continue;
      got.set(event.chatId, [...(got.get(event.chatId) ?? []), event.text ?? "(no text)"]);
    }
    const problems: string[] = [];
    let answersGot = 0;
    let unanswered = 0;
    let duplicates = 0;
    let apologies = 0;
    for (const [chatId, texts] of got) {
      apologies += texts.filter((text) => apology.has(text)).length;
      const want = expected.get(chatId) ?? 0;
      answersGot += Math.min(want, texts.length);
      if (texts.length > want) {
        duplicates += texts.length - want;
        problems.push(
          `chat ${chatId}: ${texts.length} answers to ${want} messages: ${texts.map((t) => JSON.stringify(t.slice(0, 60))).join(", ")}`,
        );
      }
    }
    for (const [chatId, want] of expected) {
      const count = got.get(chatId)?.length ?? 0;
      if (count < want) {
        unanswered += 1;
        const sent = cases.find((c) => c.user?.id === chatId);
        problems.push(
          `chat ${chatId}: no answer to ${sent?.kind}: ${JSON.stringify(sent?.via === "telegram" ? sent.update : "").slice(0, 160)}`,
        );
      }
    }
    problems.push(...wrongStatuses.map((line) => `post ${line}`));
    problems.push(...errorLines.map((line) => `bot logged: ${line.slice(0, 300)}`));
    const health = await fetch(`http://127.0.0.1:${botPort}/healthz`).catch(() => undefined);
    const throughTelegram = cases.filter((c) => c.via === "telegram").length;
    return {
      mode: options.mode,
      sent: cases.length,
      throughTelegram,
      posts: cases.length - throughTelegram,
      answersExpected: [...expected.values()].reduce((a, b) => a + b, 0),
      answersGot,
      unanswered,
      duplicates,
      apologies,
      wrongStatuses: wrongStatuses.length,
      errorsLogged: errorLines.length,
      rssWarmupMB: mb(atWarmup.rss),
      rssEndMB: mb(atEnd.rss),
      heapWarmupMB: mb(atWarmup.heap),
      heapEndMB: mb(atEnd.heap),
      alive: bot.child.child.exitCode === null && health?.status === 200,
      seconds: (Date.now() - started) / 1000,
      problems: problems.slice(0, 20),
    };
  } finally {
    await stack.stop();
  }
}
