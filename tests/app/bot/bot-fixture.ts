import { randomUUID } from "node:crypto";
import type { Bot } from "grammy";
import type { Update } from "grammy/types";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { BotContext } from "../../../app/bot/context.js";
import { createBot } from "../../../app/bot/create-bot.js";
import { RedisGenerationQuota } from "../../../app/bot/generation-quota.js";
import type { BotPorts } from "../../../app/bot/ports.js";
import { RedisRateLimiter } from "../../../app/bot/rate-limit.js";
import { RedisUpdateLog } from "../../../app/bot/update-log.js";
import { DEFAULT_FAL_SLOT_SECONDS } from "../../../app/config.js";
import { createLogger, type Logger } from "../../../app/observability/logger.js";
import { createFalSlots } from "../../../app/queue/fal-slots.js";
import {
  createGenerationQueue,
  type GenerationQueue,
  maxRetryBackoffMs,
} from "../../../app/queue/generation-queue.js";
import { createRedis } from "../../../app/queue/redis.js";
import { ResultCache } from "../../../app/queue/result-cache.js";
import { GenerationStore } from "../../../app/storage/generation-store.js";
import { runMigrations } from "../../../app/storage/migrate.js";
import { createPool } from "../../../app/storage/pool.js";
import { UserStore } from "../../../app/storage/user-store.js";
import { type FakeTelegram, startFakeTelegram } from "../../support/fake-telegram.js";
import { type PostgresServer, startPostgres } from "../../support/postgres-server.js";
import { type RedisServer, startRedis } from "../../support/redis-server.js";

/** Throwaway Redis and PostgreSQL plus the fake Bot API, shared by the tests of one file. */
export interface Servers {
  redis: RedisServer;
  postgres: PostgresServer;
  telegram: FakeTelegram;
  stop(): Promise<void>;
}

export async function startServers(): Promise<Servers> {
  const [redis, postgres, telegram] = await Promise.all([startRedis(), startPostgres(), startFakeTelegram()]);
  await runMigrations(postgres.url);
  return {
    redis,
    postgres,
    telegram,
    async stop() {
      await Promise.all([telegram.stop(), redis.stop(), postgres.stop()]);
    },
  };
}

/** A bot instance (one "replica") built like main.ts builds it, on its own connections. */
export interface TestBot {
  bot: Bot<BotContext>;
  queue: GenerationQueue;
  redis: Redis;
  pool: pg.Pool;
  generations: GenerationStore;
  ports: BotPorts;
  /** Fetches the updates waiting at the fake and handles them one by one, as a poller would. */
  deliver(): Promise<number>;
  close(): Promise<void>;
}

/** Tracks the shared getUpdates offset, so several bot instances split one stream of updates. */
let offset = 0;

export async function startTestBot(
  servers: Servers,
  options: {
    queueName: string;
    rateLimitMax?: number;
    rateLimitWindowSeconds?: number;
    /** FAL_CONCURRENCY. @defaultValue 2 */
    falConcurrency?: number;
    /** QUOTA_FREE_PER_DAY, QUOTA_VIP_PER_DAY. @defaultValue 1000 each */
    quotaPerDay?: { free: number; vip: number };
    /** GENERATION_BUDGET_PER_HOUR. @defaultValue 100000 */
    budgetPerHour?: number;
    /**
     * Where the quota keys live (default: the app's, shared by every bot of the file, as replicas share them):
     * a test of the hourly budget gives its own, so that the other tests' requests do not count against it.
     */
    quotaKeyPrefix?: string;
    /** Where the bot logs. @defaultValue a silent logger */
    logger?: Logger;
  },
): Promise<TestBot> {
  const redis = createRedis(servers.redis.url, `test-bot-${randomUUID()}`);
  const pool = createPool(servers.postgres.url, 4);
  const falConcurrency = options.falConcurrency ?? 2;
  const slots = createFalSlots(
    redis,
    {
      queueName: options.queueName,
      falConcurrency,
      workerLockSeconds: 30,
      pollInitialSeconds: 2,
      pollMaxSeconds: 10,
      falWebhookUrl: undefined,
      falWebhookFallbackSeconds: 60,
    },
    maxRetryBackoffMs,
  );
  const queue = createGenerationQueue(redis, options.queueName, {}, slots);
  const generations = new GenerationStore(pool);
  const ports: BotPorts = {
    users: new UserStore(pool),
    generations,
    queue,
    cache: new ResultCache(redis, 3600),
    rateLimit: new RedisRateLimiter(redis, {
      max: options.rateLimitMax ?? 10,
      windowSeconds: options.rateLimitWindowSeconds ?? 60,
    }),
    quota: new RedisGenerationQuota(redis, {
      perDay: options.quotaPerDay ?? { free: 1000, vip: 1000 },
      perHour: options.budgetPerHour ?? 100_000,
      ...(options.quotaKeyPrefix === undefined ? {} : { keyPrefix: options.quotaKeyPrefix }),
    }),
    updateLog: new RedisUpdateLog(redis),
    settings: {
      promptMaxLength: 1000,
      imageMaxBytes: 10 * 1024 * 1024,
      falConcurrency,
      falSlotSeconds: DEFAULT_FAL_SLOT_SECONDS,
      models: {
        "text-to-image": "fal-ai/flux/schnell",
        "image-to-image": "fal-ai/flux/dev/image-to-image",
        upscale: "fal-ai/clarity-upscaler",
      },
    },
  };
  const bot = createBot({
    token: servers.telegram.token,
    client: { apiRoot: servers.telegram.apiRoot },
    botInfo: servers.telegram.botInfo,
    ports,
    logger: options.logger ?? createLogger("silent", "bot-test"),
  });
  return {
    bot,
    queue,
    redis,
    pool,
    generations,
    ports,
    async deliver() {
      const updates: Update[] = await bot.api.getUpdates({ offset, timeout: 0 });
      for (const update of updates) {
        offset = update.update_id + 1;
        await bot.handleUpdate(update);
      }
      return updates.length;
    },
    async close() {
      await queue.close();
      await redis.quit();
      await pool.end();
    },
  };
}
