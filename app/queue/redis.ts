import { Redis } from "ioredis";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";

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

/** What the queue's Redis keeps on disk between restarts, as read at start-up. */
export interface RedisPersistence {
  /** AOF on (`appendonly yes`): a restart loses at most the last second with `appendfsync everysec`. */
  aof: boolean;
  /**
   * RDB snapshot rules (`save`), e.g. "3600 1 300 100"; "" when none, undefined when CONFIG is refused
   * (managed Redis): then only INFO's AOF flag is known.
   */
  rdbSave: string | undefined;
}

/** Reads AOF from INFO (always allowed) and the RDB save rules from CONFIG GET (allowed where not renamed). */
export async function readPersistence(redis: Redis): Promise<RedisPersistence> {
  const info = await redis.info("persistence");
  const aof = /^aof_enabled:1/m.test(info);
  const save = await redis.config("GET", "save").then(
    (pair) => (Array.isArray(pair) && typeof pair[1] === "string" ? pair[1] : undefined),
    () => undefined,
  );
  return { aof, rdbSave: save?.trim() };
}

/**
 * Warns loudly (a warn line at start-up and `tapbot_queue_redis_persistent` 0) when the queue's Redis keeps
 * nothing on disk between restarts: neither AOF nor RDB snapshots. A restart of such a Redis loses every
 * queued job and nobody is told (a soak lost 15 of 1,000 requests that way). RDB alone is reported as
 * persistent but still loses the jobs since the last snapshot; production runs AOF every second (the
 * capacity plan's Redis settings; the model's `check` and the preflight's `queue redis` row refuse less).
 *
 * Why a warning and not a refusal like {@link assertNoEviction}: local runs, the demo and the tests run a
 * throwaway Redis on purpose, and a Redis can persist where CONFIG cannot see it (a managed replica); an
 * evicting Redis loses jobs while it runs, a non-persistent one only at its restart, which the gauge lets
 * monitoring flag before it happens.
 */
export async function warnIfNotPersistent(redis: Redis, logger: Logger): Promise<RedisPersistence> {
  const persistence = await readPersistence(redis);
  const rdb = persistence.rdbSave !== undefined && persistence.rdbSave !== "";
  metrics.queueRedisPersistent.set(persistence.aof || rdb ? 1 : 0);
  if (persistence.aof || rdb) return persistence;
  logger.warn(
    { appendonly: "no", save: persistence.rdbSave ?? "unknown (CONFIG refused)" },
    "the queue's Redis keeps nothing on disk (appendonly no, no RDB save rules): a restart of Redis loses " +
      "every queued job; run it with --appendonly yes --appendfsync everysec",
  );
  return persistence;
}
