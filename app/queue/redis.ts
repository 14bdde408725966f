import { Redis } from "ioredis";
import type { Logger } from "../observability/logger.js";

/**
 * A Redis connection for BullMQ and the app's own keys. `maxRetriesPerRequest: null` is what BullMQ's
 * workers require (commands wait for a reconnect instead of failing mid-job); the client reconnects
 * with a capped backoff. One per role per process: BullMQ duplicates it where it needs blocking calls.
 */
export function createRedis(url: string, connectionName: string, logger?: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  });
  // Connection errors are reported here (and by /healthz); without a listener ioredis prints each one.
  redis.on("error", (error) =>
    logger?.warn({ err: error, connection: connectionName }, "redis connection error"),
  );
  return redis;
}

/**
 * Resolves once the connection is ready; rejects with the first connection error (ECONNREFUSED and the
 * like, with the address). For the start of a process: commands on a client with
 * `maxRetriesPerRequest: null` wait for Redis forever, so without this an unreachable Redis would leave
 * the process hanging, neither ready nor refusing. The client keeps reconnecting either way.
 */
export async function redisReady(redis: Redis): Promise<void> {
  if (redis.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error): void => {
      redis.off("ready", settle);
      redis.off("error", settle);
      if (error === undefined) resolve();
      else reject(error);
    };
    redis.once("ready", settle);
    redis.once("error", settle);
  });
}

/** Resolves when Redis answers PING; the /healthz check. */
export async function pingRedis(redis: Redis): Promise<void> {
  await redis.ping();
}

/** The queue's Redis may delete keys under memory pressure; the worker refuses to start on it. */
export class EvictingRedisError extends Error {
  override readonly name = "EvictingRedisError";
}

/**
 * Refuses a Redis that may evict keys. BullMQ keeps jobs as ordinary keys; under any policy but
 * `noeviction` Redis deletes them silently when memory runs short, and accepted requests vanish.
 * Reads INFO (allowed where CONFIG is not, as on managed Redis).
 */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const info = await redis.info("memory");
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy !== "noeviction") {
    throw new EvictingRedisError(
      `Redis maxmemory-policy is "${policy ?? "unknown"}", but the job queue needs "noeviction": ` +
        "with any other policy Redis deletes queued jobs when memory runs short. " +
        "Start redis-server with --maxmemory-policy noeviction (or CONFIG SET maxmemory-policy noeviction).",
    );
  }
}

/**
 * Warns when the queue's Redis keeps nothing on disk between restarts (no AOF): a restart then loses
 * every queued job, which nobody is told about. Production runs AOF every second (the capacity plan's
 * Redis settings); the capacity model's `check` and the preflight refuse a queue Redis without it.
 */
export async function warnIfNotPersistent(redis: Redis, logger: Logger): Promise<void> {
  const info = await redis.info("persistence");
  if (/^aof_enabled:1/m.test(info)) return;
  logger.warn(
    "the queue's Redis runs without AOF (appendonly no): a restart of Redis loses the queued jobs; " +
      "run it with --appendonly yes --appendfsync everysec",
  );
}
