import { Worker } from "bullmq";
import { type AppConfig, deadlineSecondsByKind } from "../config.js";
import { FalClient } from "../fal/fal-client.js";
import { createHttpAgent } from "../fal/http-agent.js";
import type { Logger } from "../observability/logger.js";
import { registry, setFalSlotsSource, setQueueDepthSource } from "../observability/metrics.js";
import { startOpsServer } from "../observability/ops-server.js";
import { FalCompletions } from "../queue/fal-completions.js";
import { createFalSlots, slotRetryMs } from "../queue/fal-slots.js";
import { createGenerationQueue, jobRetention, maxRetryBackoffMs } from "../queue/generation-queue.js";
import { assertNoEviction, createRedis, pingRedis, redisReady, warnIfNotPersistent } from "../queue/redis.js";
import { ResultCache } from "../queue/result-cache.js";
import { needs } from "../startup-failure.js";
import { GenerationStore } from "../storage/generation-store.js";
import { runMigrations } from "../storage/migrate.js";
import { createPool, pingPostgres } from "../storage/pool.js";
import { createTelegramApi } from "../telegram/api.js";
import { createFailureBackstop } from "./failure-backstop.js";
import { createGenerationProcessor, type GenerationJobData } from "./generation-processor.js";
import { OutcomeLog } from "./outcome-log.js";
import { uploadSourceImage } from "./source-image.js";
import { UserNotifier } from "./user-messages.js";

/** Largest result accepted from fal (an upscale of a 10 MB photo stays well under it). */
const resultMaxBytes = 50 * 1024 * 1024;

/** How often a worker records in PostgreSQL the outcomes it missed while PostgreSQL was down. */
const outcomeFlushMs = 5_000;

/**
 * When a stopping worker cuts the calls still in flight: 3 s before its grace ends (at least half-way),
 * leaving the steps time to hand their jobs back and the process time to close its connections.
 */
export function abortPoint(graceMs: number): number {
  return Math.max(graceMs / 2, graceMs - 3_000);
}

/** A running worker process's parts, for `main.ts` and in-process tests. */
export interface WorkerApp {
  readonly worker: Worker<GenerationJobData>;
  /** The ops server's port (/healthz, /metrics). */
  readonly opsPort: number;
  /**
   * Stops taking jobs and lets running steps finish (jobs waiting on fal sit in the delayed set and lose
   * nothing). Steps still running when the grace is nearly over (see {@link abortPoint}) have their HTTP
   * calls to fal and Telegram aborted and hand their jobs back to the queue with the saved step, so the
   * process ends within `graceMs` even while a service hangs. Then every connection is closed.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a worker from its configuration: migrations (idempotent), one Redis connection (checked
 * reachable and not evicting), one PostgreSQL pool, one HTTP agent, one Telegram client, the BullMQ
 * worker with WORKER_CONCURRENCY slots, the fal account's FAL_CONCURRENCY slots shared with every other
 * worker (app/queue/fal-slots.ts) and the ops server. Throws (and leaves nothing open) when Redis
 * is unreachable or may evict.
 */
export async function startWorkerApp(config: AppConfig, logger: Logger): Promise<WorkerApp> {
  await needs("PostgreSQL", "DATABASE_URL", () => runMigrations(config.databaseUrl, logger));
  const redis = createRedis(config.redisUrl, "tapbot-worker", logger);
  try {
    await needs("Redis", "REDIS_URL", async () => {
      await redisReady(redis);
      await assertNoEviction(redis);
    });
    await warnIfNotPersistent(redis, logger);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const pool = createPool(config.databaseUrl);
  const agent = createHttpAgent(config.httpTimeoutSeconds * 1000);
  const stopping = new AbortController();
  const telegram = createTelegramApi(config, logger, stopping.signal);
  const fal = new FalClient({
    queueUrl: config.falQueueUrl,
    restUrl: config.falRestUrl,
    key: config.falKey,
    dispatcher: agent,
  });
  const slots = createFalSlots(redis, config, maxRetryBackoffMs);
  const queue = createGenerationQueue(redis, config.queueName, {}, slots);
  setQueueDepthSource(() => queue.counts());
  setFalSlotsSource(async () => ({ ...(await slots.snapshot()), limit: slots.limit }));

  const notifier = new UserNotifier(telegram, logger);
  const generations = new GenerationStore(pool);
  const outcomes = new OutcomeLog(redis, generations, logger);
  const lockMs = config.workerLockSeconds * 1000;
  const processor = createGenerationProcessor({
    fal,
    telegram,
    notifier,
    generations,
    outcomes,
    lockMs,
    stopping: stopping.signal,
    cache: new ResultCache(redis, config.cacheTtlSeconds),
    redis,
    slots,
    wake: (jobIds) => queue.wake(jobIds),
    ...(config.falWebhookUrl === undefined
      ? {}
      : {
          webhooks: {
            url: config.falWebhookUrl,
            fallbackMs: config.falWebhookFallbackSeconds * 1000,
            completions: new FalCompletions(redis),
          },
        }),
    uploadSource: (fileId) =>
      uploadSourceImage(
        {
          telegram,
          telegramApiRoot: config.telegramApiRoot,
          telegramBotToken: config.telegramBotToken,
          fal,
          dispatcher: agent,
          maxBytes: config.imageMaxBytes,
        },
        fileId,
      ),
    settings: {
      pollInitialMs: config.pollInitialSeconds * 1000,
      pollMaxMs: config.pollMaxSeconds * 1000,
      deadlineSeconds: deadlineSecondsByKind(config),
      resultMaxBytes,
      sourceMaxBytes: config.imageMaxBytes,
      slotRetryMs: slotRetryMs(config),
    },
    logger,
  });

  const worker = new Worker<GenerationJobData>(config.queueName, processor, {
    connection: redis,
    concurrency: config.workerConcurrency,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    // A job may be recovered a few times (several crashes in a row) before it counts as failed.
    maxStalledCount: 3,
    removeOnComplete: jobRetention.removeOnComplete,
    removeOnFail: jobRetention.removeOnFail,
  });
  worker.on("error", (error) => logger.error({ err: error }, "worker error"));
  worker.on("stalled", (jobId) =>
    logger.warn({ jobId }, "job stalled (its worker stopped); handed back to the queue"),
  );
  const backstop = createFailureBackstop({ generations, outcomes, notifier, logger });
  worker.on("failed", (job, error) => {
    logger.info({ jobId: job?.id, reason: error.message }, "job attempt failed");
    if (job !== undefined)
      void backstop(job, error).catch((e: unknown) => logger.error({ err: e }, "failure backstop failed"));
  });

  const flushing = setInterval(() => {
    void outcomes.flush().catch((error: unknown) => logger.warn({ err: error }, "outcome flush failed"));
  }, outcomeFlushMs);
  const ops = await startOpsServer({
    port: config.httpPort,
    host: config.httpHost,
    checks: { redis: () => pingRedis(redis), postgres: () => pingPostgres(pool) },
    registry,
  });

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.shutdownGraceSeconds * 1000): Promise<void> => {
    closing ??= (async () => {
      const started = Date.now();
      const within = (ms: number, work: Promise<unknown>): Promise<boolean> => {
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), Math.max(0, ms));
        });
        return Promise.race([work.then(() => true), expired]).finally(() => clearTimeout(timer));
      };
      ops.drain();
      clearInterval(flushing);
      const graceful = worker.close();
      if (!(await within(abortPoint(graceMs), graceful))) {
        logger.warn({ graceMs }, "steps still running near the end of the grace; cutting their calls");
        stopping.abort();
        await agent.destroy().catch(() => undefined);
        if (!(await within(graceMs - (Date.now() - started) - 500, graceful))) {
          logger.warn("steps did not hand their jobs back in time; leaving them to stalled recovery");
          await worker.close(true);
        }
      }
      setQueueDepthSource(undefined);
      setFalSlotsSource(undefined);
      await queue.close();
      await ops.close();
      await Promise.allSettled([redis.quit(), pool.end(), agent.close()]);
    })();
    return closing;
  };
  return { worker, opsPort: ops.port, close };
}
