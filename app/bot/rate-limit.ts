import { randomUUID } from "node:crypto";
import type { Redis, Result } from "ioredis";

/**
 * A sliding-window log per user: a sorted set of the acceptance times (ms, Redis clock) of requests still
 * inside the window. One script call prunes, counts and, only when under the limit, records, so two bot
 * replicas racing for the same user can never both take the last place, and a refused request leaves no
 * trace (it does not push the user's next chance further away). The time comes from Redis, so replicas
 * with skewed clocks still agree.
 *
 * KEYS[1] the user's log; ARGV[1] limit, ARGV[2] window in ms, ARGV[3] a unique member for this request.
 * Returns {1, 0} when accepted, {0, ms until a place frees up} when refused.
 */
const slidingWindowScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local freeing = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {0, tonumber(freeing[2]) + window - now}
`;

/** Options of {@link RedisRateLimiter}. */
export interface RateLimitOptions {
  /** Accepted requests allowed per user within the window (RATE_LIMIT_MAX). */
  max: number;
  /** The window's length in seconds (RATE_LIMIT_WINDOW_SECONDS). */
  windowSeconds: number;
  /** Key prefix; the user's id is appended. @defaultValue "tapbot:ratelimit:" */
  keyPrefix?: string;
}

/** The answer to "may this user make one more request now?". */
export type RateLimitDecision =
  | {
      allowed: true;
      /** Hand back to {@link RedisRateLimiter.refund} if the request fails before it is queued. */
      ticket: string;
      retryAfterSeconds: 0;
    }
  | {
      allowed: false;
      /** Whole seconds until the oldest counted request leaves the window (at least 1). */
      retryAfterSeconds: number;
    };

declare module "ioredis" {
  interface RedisCommander<Context> {
    tapbotRateLimit(
      key: string,
      max: number,
      windowMs: number,
      member: string,
    ): Result<[number, number], Context>;
  }
}

/**
 * The per-user request limit, kept in Redis so that every bot replica shares it. Holds: at most `max`
 * accepted requests of one user start within any `windowSeconds`-long interval.
 */
export class RedisRateLimiter {
  private readonly keyPrefix: string;

  constructor(
    private readonly redis: Redis,
    private readonly options: RateLimitOptions,
  ) {
    this.keyPrefix = options.keyPrefix ?? "tapbot:ratelimit:";
    // Defining again is harmless; ioredis then runs the script by its SHA (EVALSHA), loading it once.
    redis.defineCommand("tapbotRateLimit", { numberOfKeys: 1, lua: slidingWindowScript });
  }

  /** Takes one place for `userId` if one is free. */
  async consume(userId: number | string): Promise<RateLimitDecision> {
    const ticket = randomUUID();
    const [accepted, retryMs] = await this.redis.tapbotRateLimit(
      this.keyPrefix + String(userId),
      this.options.max,
      this.options.windowSeconds * 1000,
      ticket,
    );
    if (accepted === 1) return { allowed: true, ticket, retryAfterSeconds: 0 };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(retryMs / 1000)) };
  }

  /** Gives a place back: for a request that was accepted here but could not be queued after all. */
  async refund(userId: number | string, ticket: string): Promise<void> {
    await this.redis.zrem(this.keyPrefix + String(userId), ticket);
  }
}
