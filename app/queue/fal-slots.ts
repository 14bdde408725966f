import type { Redis } from "ioredis";
import type { AppConfig } from "../config.js";

/**
 * fal's per-account concurrency limit, enforced across every worker process and replica: a Redis semaphore
 * of FAL_CONCURRENCY slots, one per request in flight at fal (submitted and not yet completed, failed or
 * cancelled).
 *
 * Why not BullMQ's global concurrency (`queue.setGlobalConcurrency`) or its rate limiter: a generation is a
 * step job that leaves BullMQ's active state while fal works (moveToDelayed between status requests), so
 * BullMQ's active count is the few steps running this millisecond, not the requests in flight at fal; and a
 * rate limiter bounds starts per time window, not requests at once. The semaphore counts what fal counts.
 *
 * - **Leases** (`…:leases`, a sorted set of job id → expiry, Redis's own clock): a job takes its slot right
 *   before it submits, renews it at every status request, and gives it back when fal says COMPLETED, when it
 *   cancels at fal, or when the job ends otherwise. Keyed by the job id, so a rerun of the same job (retry,
 *   stalled recovery after its worker died) finds its own lease instead of taking a second slot. A job that
 *   vanished (removed, failed in a way that never reached the processor) leaves a lease that expires after
 *   {@link slotLeaseMs}, longer than any gap between two renewals of a living job, so the slot comes back.
 * - **The waiting line** (`…:waiting`, job id → {@link slotScore}: priority, then the time the bot accepted
 *   the request): a job that finds no free slot for it is parked in BullMQ's delayed set (it holds no worker
 *   slot) and asks again later; its score is derived from the job itself, so it keeps its place however often
 *   it asks, even after its entry went stale. A slot goes to a job only when fewer jobs are ahead of it than
 *   slots are free: vip first, then first come first served. Entries not refreshed for `staleMs` (`…:seen`)
 *   are dropped, so a job that vanished while waiting stops holding up the line.
 *
 * Every operation is one Lua script, atomic against every other process.
 */
export class FalSlots {
  private readonly keys: [leases: string, waiting: string, seen: string];

  constructor(
    private readonly redis: Redis,
    readonly options: FalSlotsOptions,
  ) {
    const base = `tapbot:fal-slots:${options.name}`;
    this.keys = [`${base}:leases`, `${base}:waiting`, `${base}:seen`];
  }

  /** The account's limit (FAL_CONCURRENCY). */
  get limit(): number {
    return this.options.limit;
  }

  /**
   * Asks for a slot for job `id` whose place in line is `score`. `held` when the job may submit now: it
   * held a slot already (`granted` false) or got one now (`granted` true). Otherwise the job is in the
   * waiting line at `place` (1 = next) and should ask again later.
   */
  async acquire(id: string, score: number): Promise<SlotAnswer> {
    const [held, granted, place] = (await this.redis.eval(
      acquireScript,
      3,
      ...this.keys,
      id,
      this.options.limit,
      this.options.leaseMs,
      score,
      this.options.staleMs,
    )) as [number, number, number];
    return held === 1 ? { held: true, granted: granted === 1 } : { held: false, place };
  }

  /**
   * Renews job `id`'s lease: called at every status request while its request is at fal. A lease that
   * expired meanwhile is taken again even over the limit, because the request is at fal whatever the
   * semaphore says, and counting it keeps the next grant honest.
   */
  async renew(id: string): Promise<void> {
    await this.redis.eval(renewScript, 3, ...this.keys, id, this.options.leaseMs);
  }

  /**
   * Gives job `id`'s slot back (and its place in line, if it was waiting); idempotent. Returns the ids of
   * the jobs now first in line for the free slots, for the caller to wake (they sleep in the delayed set).
   */
  async release(id: string): Promise<string[]> {
    return (await this.redis.eval(releaseScript, 3, ...this.keys, id, this.options.limit)) as string[];
  }

  /** The place in line (1 = next) of job `id` while it waits for a slot; null when it is not waiting. */
  async placeInLine(id: string): Promise<number | null> {
    const rank = await this.redis.zrank(this.keys[1], id);
    return rank === null ? null : rank + 1;
  }

  /** How many waiting jobs are ahead of a job with `score` that has not asked for a slot yet. */
  async waitingAhead(score: number): Promise<number> {
    return this.redis.zcount(this.keys[1], "-inf", `(${score}`);
  }

  /** Slots in use and jobs waiting for one, after dropping expired leases and stale waiting entries. */
  async snapshot(): Promise<{ inUse: number; waiting: number }> {
    const [inUse, waiting] = (await this.redis.eval(
      snapshotScript,
      3,
      ...this.keys,
      this.options.staleMs,
    )) as [number, number];
    return { inUse, waiting };
  }
}

/** Options of {@link FalSlots}. */
export interface FalSlotsOptions {
  /** Namespace of the keys: every process of one deployment uses the same (the queue name). */
  name: string;
  /** The fal account's concurrent request limit (FAL_CONCURRENCY). */
  limit: number;
  /** How long a lease lives without renewal; see {@link slotLeaseMs}. */
  leaseMs: number;
  /** How long a waiting entry lives without the job asking again; see {@link slotStaleMs}. */
  staleMs: number;
}

/** The answer of {@link FalSlots.acquire}. */
export type SlotAnswer = { held: true; granted: boolean } | { held: false; place: number };

/**
 * A job's place in the line for a slot: lower first. Priority (1 vip, 10 free) first, then the time the bot
 * accepted the request (ms since the epoch, < 1e13 until the year 2286); exact in a double below 2^53.
 */
export function slotScore(priority: number, acceptedAtMs: number): number {
  return priority * 1e13 + acceptedAtMs;
}

/**
 * A lease's life without renewal: longer than the longest gap between two steps of a living job that holds
 * a slot, so only a vanished job's lease expires. The gaps: a status request every `pollMaxMs` at most (with
 * fal webhooks, the first one after the fallback wait, which the caller passes when longer); a
 * retried step after BullMQ's longest backoff (`maxBackoffMs`); a step whose worker died, rerun by stalled
 * recovery within two lock durations. Plus 10 s of margin.
 */
export function slotLeaseMs(times: { lockMs: number; pollMaxMs: number; maxBackoffMs: number }): number {
  return 2 * times.lockMs + Math.max(times.pollMaxMs, times.maxBackoffMs) + 10_000;
}

/**
 * A waiting entry's life without the job asking again: the job asks every `retryMs` while it waits, or
 * after stalled recovery (two lock durations) when its worker died meanwhile. Plus 10 s of margin.
 */
export function slotStaleMs(times: { lockMs: number; retryMs: number }): number {
  return 2 * times.lockMs + 2 * times.retryMs + 10_000;
}

/**
 * How long a job that found no free slot sleeps before it asks again: the first poll interval, at most 1 s.
 * A released slot wakes the first in line at once; this bounds the wait only when that wake-up is missed
 * (the job was between two steps at that moment).
 */
export function slotRetryMs(config: Pick<AppConfig, "pollInitialSeconds">): number {
  return Math.min(1_000, config.pollInitialSeconds * 1000);
}

/**
 * The account's slots as every process of a deployment sees them: FAL_CONCURRENCY, keys named by
 * QUEUE_NAME, lease and staleness from the lock, poll (or webhook fallback) and retry timings (`maxBackoffMs`: BullMQ's longest
 * retry delay, see jobRetention).
 */
export function createFalSlots(
  redis: Redis,
  config: Pick<
    AppConfig,
    | "queueName"
    | "falConcurrency"
    | "workerLockSeconds"
    | "pollInitialSeconds"
    | "pollMaxSeconds"
    | "falWebhookUrl"
    | "falWebhookFallbackSeconds"
  >,
  maxBackoffMs: number,
): FalSlots {
  const lockMs = config.workerLockSeconds * 1000;
  const longestPollGap =
    config.falWebhookUrl === undefined
      ? config.pollMaxSeconds
      : Math.max(config.pollMaxSeconds, config.falWebhookFallbackSeconds);
  return new FalSlots(redis, {
    name: config.queueName,
    limit: config.falConcurrency,
    leaseMs: slotLeaseMs({ lockMs, pollMaxMs: longestPollGap * 1000, maxBackoffMs }),
    staleMs: slotStaleMs({ lockMs, retryMs: slotRetryMs(config) }),
  });
}

/** Redis's clock in ms, so that processes on hosts with different clocks agree on expiry. */
const nowLua = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** Drops expired leases and waiting entries not refreshed within `stale` ms. */
const pruneLua = `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. (now - stale), 'LIMIT', 0, 1000)
for _, g in ipairs(gone) do
  redis.call('ZREM', KEYS[2], g)
  redis.call('ZREM', KEYS[3], g)
end`;

// KEYS: leases, waiting, seen. ARGV: id, limit, leaseMs, score, staleMs.
const acquireScript = `${nowLua}
local id = ARGV[1]
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local stale = tonumber(ARGV[5])
${pruneLua}
if redis.call('ZSCORE', KEYS[1], id) then
  redis.call('ZADD', KEYS[1], now + lease, id)
  return {1, 0, 0}
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], id)
redis.call('ZADD', KEYS[3], now, id)
local free = limit - redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[2], id)
if rank < free then
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[1], now + lease, id)
  return {1, 1, 0}
end
return {0, 0, rank + 1}`;

// KEYS: leases, waiting, seen. ARGV: id, leaseMs.
const renewScript = `${nowLua}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1`;

// KEYS: leases, waiting, seen. ARGV: id, limit.
const releaseScript = `${nowLua}
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if free <= 0 then return {} end
return redis.call('ZRANGE', KEYS[2], 0, free - 1)`;

// KEYS: leases, waiting, seen. ARGV: staleMs.
const snapshotScript = `${nowLua}
local stale = tonumber(ARGV[1])
${pruneLua}
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}`;
