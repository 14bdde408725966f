import type { GenerationKind } from "../config.js";
import type { GenerationQueue } from "../queue/generation-queue.js";
import type { ResultCache } from "../queue/result-cache.js";
import type { GenerationStore } from "../storage/generation-store.js";
import type { UserStore } from "../storage/user-store.js";
import type { RedisGenerationQuota } from "./generation-quota.js";
import type { InputLimits } from "./input-checks.js";
import type { RedisRateLimiter } from "./rate-limit.js";

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
  "create" | "get" | "setAckMessage" | "markDelivered" | "markFailed" | "listActive" | "listRecent"
>;

/** The generation queue (CORE's adapter over BullMQ). */
export type QueuePort = Pick<GenerationQueue, "enqueue" | "positionOf" | "requestCancel" | "slotUse">;

/** Reads the result cache the worker fills: cache key → Telegram file_id of a delivered image. */
export type ResultCachePort = Pick<ResultCache, "get">;

/** The per-user request limit, shared by every replica. */
export type RateLimitPort = Pick<RedisRateLimiter, "consume" | "refund">;

/** The per-user daily quota and the global hourly budget of paid generations, shared by every replica. */
export type QuotaPort = Pick<RedisGenerationQuota, "consume" | "refund">;

/** The right to handle one update, held while its handler runs (see {@link UpdateLogPort.claim}). */
export interface UpdateLease {
  /** The handling committed: the update is handled for every replica from now on. */
  done(): Promise<void>;
  /** The handling did not finish: let a redelivery of the update be handled again at once. */
  release(): Promise<void>;
}

/** Remembers which updates were handled, so a re-delivered update (restart, webhook retry) is skipped. */
export interface UpdateLogPort {
  /**
   * A lease to handle the update, or null when it was handled already (by any replica). Waits while
   * another process holds a lease on it; see RedisUpdateLog.
   */
  claim(botId: number, updateId: number): Promise<UpdateLease | null>;
}

/** The settings the handlers use (from {@link AppConfig}). */
export interface BotSettings extends InputLimits {
  /** The fal model per kind (FAL_MODEL_*). */
  models: Record<GenerationKind, string>;
  /** The fal account's concurrent request limit (FAL_CONCURRENCY): the estimates count the wait for a slot. */
  falConcurrency: number;
  /** How long a request holds a fal slot on average (FAL_SLOT_SECONDS): the estimates' unit of time. */
  falSlotSeconds: number;
}

/** Everything {@link createBot} is built from. */
export interface BotPorts {
  users: UserPort;
  generations: GenerationPort;
  queue: QueuePort;
  cache: ResultCachePort;
  rateLimit: RateLimitPort;
  quota: QuotaPort;
  updateLog: UpdateLogPort;
  settings: BotSettings;
}
