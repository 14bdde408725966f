import type { GenerationKind } from "../config.js";
import type { Locale } from "../i18n/index.js";
import type { GenerationStore } from "../storage/generation-store.js";
import type { Tier, UserStore } from "../storage/user-store.js";
import type { RateLimitDecision } from "./rate-limit.js";

/**
 * What the bot's handlers need from the rest of the app, as narrow interfaces: `create-bot.ts` depends on
 * these only, and `main.ts` wires them to CORE's implementations (PostgreSQL stores, the BullMQ queue,
 * Redis). Tests wire the same real implementations against throwaway servers.
 */

/** Registers users and reads their tier (`users` table). */
export type UserPort = Pick<UserStore, "upsert">;

/** The `generations` table, as far as the bot writes and reads it. */
export type GenerationPort = Pick<
  GenerationStore,
  "create" | "setAckMessage" | "markDelivered" | "markFailed" | "listActive" | "listRecent"
>;

/** The job payload the worker runs (CORE's `generationJobSchema`; never image bytes, only Telegram ids). */
export interface GenerationJobInput {
  generationId: string;
  telegramUserId: number;
  chatId: number;
  kind: GenerationKind;
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  sourceFileId?: string | undefined;
  locale: Locale;
  cacheKey: string;
  tier: Tier;
}

/** The generation queue (CORE's `GenerationQueue` adapter over BullMQ). */
export interface QueuePort {
  /** Adds the job (jobId = generationId, so a repeated enqueue is a no-op); returns its place, 1 = next. */
  enqueue(job: GenerationJobInput, options: { priority: number }): Promise<{ position: number }>;
  /** The job's place among waiting jobs, or null when it is not waiting (running, delayed or gone). */
  positionOf(generationId: string): Promise<number | null>;
  /** Removes a waiting job, or flags a running one so the worker cancels it at fal. */
  requestCancel(generationId: string): Promise<"removed" | "signalled" | "not-found">;
}

/** Reads the result cache the worker fills: cache key → Telegram file_id of a delivered image. */
export interface ResultCachePort {
  get(cacheKey: string): Promise<string | null>;
}

/** The per-user request limit (see {@link RedisRateLimiter}). */
export interface RateLimitPort {
  consume(userId: number): Promise<RateLimitDecision>;
  refund(userId: number, ticket: string): Promise<void>;
}

/** Remembers which updates were handled, so a re-delivered update (restart, webhook retry) is skipped. */
export interface UpdateLogPort {
  /** True the first time an update id is seen (by any replica), false afterwards. */
  firstSeen(botId: number, updateId: number): Promise<boolean>;
}

/** The settings the handlers use (from {@link AppConfig}). */
export interface BotSettings {
  promptMaxLength: number;
  imageMaxBytes: number;
  /** The fal model per kind (FAL_MODEL_*). */
  models: Record<GenerationKind, string>;
  /** Jobs one worker runs at once; the /status estimate assumes at least one worker with this many slots. */
  workerConcurrency: number;
}

/** Everything {@link createBot} is built from. */
export interface BotPorts {
  users: UserPort;
  generations: GenerationPort;
  queue: QueuePort;
  cache: ResultCachePort;
  rateLimit: RateLimitPort;
  updateLog: UpdateLogPort;
  settings: BotSettings;
}
