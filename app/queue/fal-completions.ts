import type { Redis } from "ioredis";

/**
 * How long a request's entry lives: longer than any job's deadline plus its fallback poll, and than fal's
 * retries of a webhook (up to two hours), so a late delivery still finds what it needs; the job deletes
 * it when it ends.
 */
const entrySeconds = 3 * 3_600;

/** The Redis key of fal request `requestId`: a hash of `job` (its job id) and `done` (fal said it ended). */
export function falRequestKey(requestId: string): string {
  return `tapbot:fal-request:${requestId}`;
}

/**
 * What the fal webhook tells the workers, through Redis: which job a fal request belongs to (written by the
 * worker right after its submit), and that fal has finished it (written by the webhook receiver). Either
 * may come first: a webhook can arrive before the worker wrote its request id, so the receiver always
 * writes `done` and wakes the job it finds, and the worker, after it parked the job, looks at `done` itself
 * and wakes its own job when fal was faster. Every write is idempotent, so duplicated or replayed webhooks
 * change nothing.
 */
export class FalCompletions {
  constructor(private readonly redis: Redis) {}

  /** Records that fal request `requestId` belongs to job `jobId` (the worker, after submitting). */
  async expect(requestId: string, jobId: string): Promise<void> {
    const key = falRequestKey(requestId);
    await this.redis.multi().hset(key, "job", jobId).expire(key, entrySeconds).exec();
  }

  /**
   * Records that fal finished `requestId` (the webhook receiver, after verifying it) and returns the job
   * it belongs to, or null when no worker has recorded one (yet, or ever: an unknown request).
   */
  async complete(requestId: string): Promise<string | null> {
    const key = falRequestKey(requestId);
    const results = await this.redis
      .multi()
      .hset(key, "done", "1")
      .expire(key, entrySeconds)
      .hget(key, "job")
      .exec();
    const [error, job] = results?.[2] ?? [new Error("Redis transaction aborted"), null];
    if (error !== null) throw error;
    return typeof job === "string" ? job : null;
  }

  /** Whether fal's webhook said `requestId` has finished. */
  async completed(requestId: string): Promise<boolean> {
    return (await this.redis.hexists(falRequestKey(requestId), "done")) === 1;
  }

  /** Forgets `requestId` (its job ended); a later duplicate webhook recreates an entry that only expires. */
  async forget(requestId: string): Promise<void> {
    await this.redis.del(falRequestKey(requestId));
  }
}
