import type { Logger } from "../observability/logger.js";
import { createGenerationQueue } from "../queue/generation-queue.js";
import { createRedis, redisReady } from "../queue/redis.js";
import type { StoppableProcess } from "../run-process.js";
import { needs } from "../startup-failure.js";
import type { BoardConfig } from "./board-config.js";
import { startBoardServer } from "./board-server.js";

/**
 * The queue dashboard as its own process rather than a route of the bot: the bot is public (Telegram's and
 * fal's webhooks reach it), so keeping the dashboard's UI, its static files and its admin actions out of it
 * keeps the bot's attack surface and memory as they were, and the board gets its own memory limit from the
 * capacity plan and its own Redis user, which can touch the queue's keys only.
 */
export async function startBoardProcess(config: BoardConfig, logger: Logger): Promise<StoppableProcess> {
  const redis = createRedis(config.redisUrl, "tapbot-board", logger);
  try {
    await needs("Redis", "REDIS_URL", () => redisReady(redis));
    const generations = createGenerationQueue(redis, config.queueName);
    const server = await startBoardServer({
      generations,
      redis,
      user: config.user,
      passwordHash: config.passwordHash,
      port: config.httpPort,
      host: config.httpHost,
      logger,
    });
    logger.info({ queue: config.queueName, port: server.port, host: config.httpHost }, "board ready");
    return {
      async stop() {
        await server.close();
        await generations.close();
        await redis.quit();
      },
    };
  } catch (error) {
    redis.disconnect();
    throw error;
  }
}
