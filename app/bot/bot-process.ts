import { type AppConfig, modelsByKind } from "../config.js";
import { FalWebhookKeys } from "../fal/webhook-keys.js";
import type { Logger } from "../observability/logger.js";
import { registry } from "../observability/metrics.js";
import { type OpsServer, startOpsServer } from "../observability/ops-server.js";
import { FalCompletions } from "../queue/fal-completions.js";
import { createFalSlots } from "../queue/fal-slots.js";
import { createGenerationQueue, maxRetryBackoffMs } from "../queue/generation-queue.js";
import { createRedis, pingRedis, redisReady } from "../queue/redis.js";
import { ResultCache } from "../queue/result-cache.js";
import { needs } from "../startup-failure.js";
import { GenerationStore } from "../storage/generation-store.js";
import { runMigrations } from "../storage/migrate.js";
import { createPool, pingPostgres } from "../storage/pool.js";
import { UserStore } from "../storage/user-store.js";
import { installTelegramTransformers } from "../telegram/api.js";
import { registerCommandMenu } from "./command-menu.js";
import { createBot } from "./create-bot.js";
import { createFalWebhookEndpoint } from "./fal-webhook.js";
import { RedisGenerationQuota } from "./generation-quota.js";
import { type Polling, startPolling } from "./polling.js";
import { RedisRateLimiter } from "./rate-limit.js";
import { RedisUpdateLog } from "./update-log.js";
import { createWebhookEndpoint, type WebhookEndpoint } from "./webhook.js";

/** The bot only reacts to messages; no other update type is fetched or delivered. */
const allowedUpdates = ["message"] as const;

/**
 * How long a stopping webhook replica keeps serving after its /healthz turned to "draining", so that the
 * proxy's active health check (every second, see infra's Caddyfile) takes it out of rotation before it
 * stops accepting connections. Capped at a quarter of the grace.
 */
export const webhookDrainDelayMs = 3_000;

/** A started bot process. */
export interface RunningBot {
  /** The ops server's port (HTTP_PORT, or the one picked for 0). */
  readonly port: number;
  /**
   * Graceful stop within SHUTDOWN_GRACE_SECONDS. Polling: no new fetch, the batch being handled finished,
   * then confirmed to Telegram. Webhook: /healthz says "draining" while updates are still served (the
   * proxy moves traffic to the other replica), then no new connections (the proxy's dial fails over), the
   * updates being handled finished. Then the HTTP server, Redis and PostgreSQL closed.
   */
  stop(): Promise<void>;
}

/**
 * Starts the bot from its settings: migrations → Redis, PostgreSQL, the queue → the bot with the shared
 * Telegram transformers (auto-retry, error counting) and `apiRoot` = TELEGRAM_API_ROOT → the ops server
 * (/healthz, /metrics, and the webhook in webhook mode) → long polling, or setWebhook with the secret.
 * Logs "bot ready" with the mode once updates can flow.
 */
export async function startBotProcess(config: AppConfig, logger: Logger): Promise<RunningBot> {
  await needs("PostgreSQL", "DATABASE_URL", () => runMigrations(config.databaseUrl, logger));
  const redis = createRedis(config.redisUrl, "tapbot-bot", logger);
  try {
    await needs("Redis", "REDIS_URL", () => redisReady(redis));
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const pool = createPool(config.databaseUrl);
  const queue = createGenerationQueue(
    redis,
    config.queueName,
    {},
    createFalSlots(redis, config, maxRetryBackoffMs),
  );

  const bot = createBot({
    token: config.telegramBotToken,
    client: { apiRoot: config.telegramApiRoot, timeoutSeconds: config.httpTimeoutSeconds },
    logger,
    ports: {
      users: new UserStore(pool),
      generations: new GenerationStore(pool),
      queue,
      cache: new ResultCache(redis, config.cacheTtlSeconds),
      rateLimit: new RedisRateLimiter(redis, {
        max: config.rateLimitMax,
        windowSeconds: config.rateLimitWindowSeconds,
      }),
      quota: new RedisGenerationQuota(redis, {
        perDay: { free: config.quotaFreePerDay, vip: config.quotaVipPerDay },
        perHour: config.generationBudgetPerHour,
      }),
      updateLog: new RedisUpdateLog(redis),
      settings: {
        promptMaxLength: config.promptMaxLength,
        imageMaxBytes: config.imageMaxBytes,
        falConcurrency: config.falConcurrency,
        falSlotSeconds: config.falSlotSeconds,
        models: modelsByKind(config),
      },
    },
  });
  installTelegramTransformers(bot.api, logger);
  await bot.init();
  await registerCommandMenu(bot.api);

  const graceMs = config.shutdownGraceSeconds * 1000;
  let polling: Polling | undefined;
  let ops: OpsServer | undefined;
  const webhook: WebhookEndpoint | undefined =
    config.botMode === "webhook"
      ? createWebhookEndpoint(bot, {
          path: new URL(config.webhookUrl as string).pathname,
          secret: config.webhookSecret as string,
          logger,
        })
      : undefined;
  // fal's webhook is served in either mode: it is how a worker learns that fal finished, not an update.
  const falKeys =
    config.falWebhookUrl === undefined ? undefined : new FalWebhookKeys({ url: config.falJwksUrl });
  // Fetched now so that a wrong FAL_JWKS_URL shows at start; not fatal: every webhook would answer 503 and
  // every picture come by the fallback poll, late but not lost, and the keys are fetched again on demand.
  void falKeys
    ?.current()
    .catch((error: unknown) =>
      logger.warn(
        { err: error },
        "fal's webhook keys are unavailable; fal webhooks will be answered 503 until they are",
      ),
    );
  const falWebhook =
    config.falWebhookUrl === undefined || falKeys === undefined
      ? undefined
      : createFalWebhookEndpoint({
          path: new URL(config.falWebhookUrl).pathname,
          keys: falKeys,
          completions: new FalCompletions(redis),
          wake: (jobIds) => queue.wake(jobIds),
          logger,
        });
  const handlers = [falWebhook, webhook].flatMap((endpoint) =>
    endpoint === undefined ? [] : [endpoint.handle],
  );
  try {
    ops = await startOpsServer({
      port: config.httpPort,
      host: config.httpHost,
      registry,
      checks: { redis: () => pingRedis(redis), postgres: () => pingPostgres(pool) },
      ...(handlers.length === 0
        ? {}
        : {
            handle: async (req, res) => {
              for (const handle of handlers) if (await handle(req, res)) return true;
              return false;
            },
          }),
    });
    if (config.botMode === "webhook") {
      await bot.api.setWebhook(config.webhookUrl as string, {
        secret_token: config.webhookSecret as string,
        allowed_updates: [...allowedUpdates],
      });
    } else {
      // A webhook left from an earlier deployment would make every getUpdates fail with 409.
      await bot.api.deleteWebhook();
      polling = startPolling(bot, logger, {
        graceMs,
        allowedUpdates,
        onFatal: (error) => {
          logger.fatal({ err: error }, "long polling stopped for good; exiting so that the bot is restarted");
          process.exit(1);
        },
        // Below the client's per-call timeout, which would otherwise cut every long poll short.
        longPollSeconds: Math.min(25, config.httpTimeoutSeconds - 5),
      });
    }
  } catch (error) {
    await ops?.close();
    await queue.close();
    redis.disconnect();
    await pool.end();
    throw error;
  }
  logger.info(
    { mode: config.botMode, port: ops.port, username: bot.botInfo.username },
    `bot ready (${config.botMode})`,
  );

  const openOps = ops;
  return {
    port: openOps.port,
    async stop() {
      logger.info({ mode: config.botMode }, "bot stopping");
      const deadline = Date.now() + graceMs;
      openOps.drain();
      await polling?.stop();
      if (webhook !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(webhookDrainDelayMs, graceMs / 4)));
        openOps.stopAccepting();
        if (!(await webhook.settle(Math.max(0, deadline - Date.now())))) {
          logger.warn(
            "shutdown grace ran out with updates still being handled; Telegram will redeliver them",
          );
        }
      }
      await openOps.close();
      await queue.close();
      await redis.quit();
      await pool.end();
      logger.info("bot stopped");
    },
  };
}
