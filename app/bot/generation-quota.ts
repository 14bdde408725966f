import type { Redis, Result } from "ioredis";
import type { Tier } from "../storage/user-store.js";

/**
 * The spending caps of paid generations, checked and taken in one script call: the user's daily quota (a
 * hash `{day, used}` per user) and the account-wide hourly budget (one hash `{hour, used, paused}`). Both
 * count on Redis's clock in whole UTC days and hours, so every bot replica agrees on when a day or hour
 * ends. A request takes one of each only when both have room, so a refused request costs nothing; a new
 * day or hour starts the count at zero without any key having to expire first.
 *
 * KEYS[1] the user's hash, KEYS[2] the global hash; ARGV[1] the user's daily limit, ARGV[2] the hourly
 * budget. Returns {1, day, hour} when taken, {2, seconds until the next UTC day} when the user's quota is
 * used up, {3, seconds until the next UTC hour, 1 if this is the hour's first refusal else 0} when the
 * budget is spent.
 */
const takeScript = `
local t = redis.call('TIME')
local now = tonumber(t[1])
local day = math.floor(now / 86400)
local hour = math.floor(now / 3600)
local u = redis.call('HMGET', KEYS[1], 'day', 'used')
local used = 0
if tonumber(u[1]) == day then used = tonumber(u[2]) or 0 end
if used >= tonumber(ARGV[1]) then return {2, (day + 1) * 86400 - now} end
local g = redis.call('HMGET', KEYS[2], 'hour', 'used', 'paused')
local spent, paused = 0, 0
if tonumber(g[1]) == hour then
  spent = tonumber(g[2]) or 0
  paused = tonumber(g[3]) or 0
end
if spent >= tonumber(ARGV[2]) then
  if paused == 0 then
    redis.call('HSET', KEYS[2], 'hour', hour, 'used', spent, 'paused', 1)
    redis.call('EXPIREAT', KEYS[2], (hour + 2) * 3600)
    return {3, (hour + 1) * 3600 - now, 1}
  end
  return {3, (hour + 1) * 3600 - now, 0}
end
redis.call('HSET', KEYS[1], 'day', day, 'used', used + 1)
redis.call('EXPIREAT', KEYS[1], (day + 1) * 86400 + 3600)
redis.call('HSET', KEYS[2], 'hour', hour, 'used', spent + 1, 'paused', paused)
redis.call('EXPIREAT', KEYS[2], (hour + 2) * 3600)
return {1, day, hour}
`;

/**
 * Gives back what {@link takeScript} took, but only to the day and hour it was taken in: a refund after
 * midnight does not give the user a place in the new day. KEYS as above; ARGV[1] the day, ARGV[2] the hour.
 */
const refundScript = `
local u = redis.call('HMGET', KEYS[1], 'day', 'used')
if tonumber(u[1]) == tonumber(ARGV[1]) and (tonumber(u[2]) or 0) > 0 then
  redis.call('HINCRBY', KEYS[1], 'used', -1)
end
local g = redis.call('HMGET', KEYS[2], 'hour', 'used')
if tonumber(g[1]) == tonumber(ARGV[2]) and (tonumber(g[2]) or 0) > 0 then
  redis.call('HINCRBY', KEYS[2], 'used', -1)
end
return 0
`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    tapbotQuotaTake(
      userKey: string,
      globalKey: string,
      dailyLimit: number,
      hourlyBudget: number,
    ): Result<number[], Context>;
    tapbotQuotaRefund(userKey: string, globalKey: string, day: number, hour: number): Result<number, Context>;
  }
}

/** Options of {@link RedisGenerationQuota}. */
export interface GenerationQuotaOptions {
  /** Paid generations one user may start per UTC day, by tier (QUOTA_FREE_PER_DAY, QUOTA_VIP_PER_DAY). */
  perDay: Record<Tier, number>;
  /** Paid generations all users together may start per UTC hour (GENERATION_BUDGET_PER_HOUR). */
  perHour: number;
  /** Key prefix; `user:<id>` and `hour` are appended. @defaultValue "tapbot:quota:" */
  keyPrefix?: string;
}

/** What one charge took: hand it back to {@link RedisGenerationQuota.refund} if queueing fails. */
export interface QuotaTicket {
  day: number;
  hour: number;
}

/** The answer to "may this user start one more paid generation now?". */
export type QuotaDecision =
  | { allowed: true; ticket: QuotaTicket }
  | {
      allowed: false;
      /** The user's daily quota is used up, or everyone's hourly budget is spent (new requests paused). */
      reason: "daily-quota" | "hourly-budget";
      /** The limit that refused: the user's daily quota, or the hourly budget. */
      limit: number;
      /** Seconds until the limit resets: the next 00:00 UTC, or the next full UTC hour. */
      resetsInSeconds: number;
      /** True for the hour's first refusal by the budget (across replicas): the moment to tell the owner. */
      pausedNow: boolean;
    };

/**
 * Caps what users can spend at fal: each user's paid generations per UTC day (by tier) and everyone's per
 * UTC hour, kept in Redis so every bot replica shares them. Holds: at most `perDay[tier]` accepted requests
 * of one user start in one UTC day, and at most `perHour` of all users in one UTC hour, however the
 * replicas race (each charge is one atomic script).
 */
export class RedisGenerationQuota {
  private readonly keyPrefix: string;

  constructor(
    private readonly redis: Redis,
    private readonly options: GenerationQuotaOptions,
  ) {
    this.keyPrefix = options.keyPrefix ?? "tapbot:quota:";
    redis.defineCommand("tapbotQuotaTake", { numberOfKeys: 2, lua: takeScript });
    redis.defineCommand("tapbotQuotaRefund", { numberOfKeys: 2, lua: refundScript });
  }

  /** Takes one generation from the user's day and from the hour, if both have room. */
  async consume(userId: number | string, tier: Tier): Promise<QuotaDecision> {
    const limit = this.options.perDay[tier];
    const [status = 0, a = 0, b = 0] = await this.redis.tapbotQuotaTake(
      this.userKey(userId),
      this.globalKey(),
      limit,
      this.options.perHour,
    );
    if (status === 1) return { allowed: true, ticket: { day: a, hour: b } };
    if (status === 2) {
      return { allowed: false, reason: "daily-quota", limit, resetsInSeconds: a, pausedNow: false };
    }
    return {
      allowed: false,
      reason: "hourly-budget",
      limit: this.options.perHour,
      resetsInSeconds: a,
      pausedNow: b === 1,
    };
  }

  /** Gives a charge back: for a request that was accepted here but could not be queued after all. */
  async refund(userId: number | string, ticket: QuotaTicket): Promise<void> {
    await this.redis.tapbotQuotaRefund(this.userKey(userId), this.globalKey(), ticket.day, ticket.hour);
  }

  private userKey(userId: number | string): string {
    return `${this.keyPrefix}user:${String(userId)}`;
  }

  private globalKey(): string {
    return `${this.keyPrefix}hour`;
  }
}
