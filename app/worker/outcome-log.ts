import type { Redis } from "ioredis";
import { z } from "zod";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import type { GenerationStore } from "../storage/generation-store.js";

/** How a request ended, as the user was told. */
export type Outcome =
  | { status: "delivered"; resultFileId: string }
  | { status: "failed" | "cancelled" | "expired"; error: string };

const outcomeSchema = z.discriminatedUnion("status", [
  z.object({ status: z.literal("delivered"), resultFileId: z.string() }),
  z.object({ status: z.enum(["failed", "cancelled", "expired"]), error: z.string() }),
]);

/** The Redis copy of what a request's user was told, kept until PostgreSQL has it. */
export function outcomeKey(generationId: string): string {
  return `tapbot:outcome:${generationId}`;
}

/** Generation ids whose outcome is in Redis but not yet in PostgreSQL, scored by when they were told. */
export const unrecordedOutcomesKey = "tapbot:outcomes:unrecorded";

/** A week: far longer than any PostgreSQL outage the app rides out. */
const outcomeSeconds = 7 * 24 * 3600;

/**
 * What each request's user was told, recorded **after** telling (Telegram first, then the stores) and
 * fenced so that a rerun of the job (its worker died, its lock passed to another) never tells twice:
 *
 * - {@link record} runs right after Telegram accepted the message. It writes to Redis and PostgreSQL at
 *   once and returns as soon as either has it, so a slow or restarting Redis does not stretch the window
 *   in which a worker's death means telling again (PostgreSQL answers), nor does PostgreSQL being down
 *   (Redis answers). The time from Telegram's answer to the first store's is `tapbot_outcome_record_seconds`.
 * - {@link told} is the fence a rerun checks first (Redis, then the row).
 * - {@link settle} makes the row final; while PostgreSQL is down the Redis copy stays listed in
 *   {@link unrecordedOutcomesKey}, and {@link flush} (every worker, every few seconds) records it once
 *   PostgreSQL is back. The user is told whatever PostgreSQL's state; the row follows.
 */
export class OutcomeLog {
  constructor(
    private readonly redis: Redis,
    private readonly generations: GenerationStore,
    private readonly logger: Logger,
  ) {}

  /** The outcome a user was already told, if any (in Redis; the caller checks the row as well). */
  async told(generationId: string): Promise<Outcome | null> {
    const text = await this.redis.get(outcomeKey(generationId));
    if (text === null) return null;
    const parsed = outcomeSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  }

  private keep(generationId: string, outcome: Outcome): Promise<unknown> {
    return this.redis
      .multi()
      .set(outcomeKey(generationId), JSON.stringify(outcome), "EX", outcomeSeconds)
      .zadd(unrecordedOutcomesKey, Date.now(), generationId)
      .exec();
  }

  /** Records, in whichever store answers first, that the user was told `outcome` (see the class). */
  async record(generationId: string, outcome: Outcome): Promise<void> {
    const started = performance.now();
    const inRedis = this.keep(generationId, outcome);
    const inPostgres =
      outcome.status === "delivered"
        ? this.generations.markSent(generationId, outcome.resultFileId)
        : this.generations.markFailed(generationId, { status: outcome.status, error: outcome.error });
    // Whichever loses is still awaited by nobody; its failure must not surface as an unhandled rejection.
    inRedis.catch((error: unknown) =>
      this.logger.warn({ err: error, generationId }, "outcome not kept in Redis"),
    );
    inPostgres.catch(() => undefined);
    await Promise.any([inRedis, inPostgres]);
    metrics.outcomeRecordSeconds.observe((performance.now() - started) / 1000);
  }

  /**
   * Makes the row final and drops the Redis copy. While PostgreSQL is down the copy stays (written again,
   * waiting for Redis if it must) for {@link flush}; this never throws for PostgreSQL being down.
   */
  async settle(generationId: string, outcome: Outcome): Promise<void> {
    try {
      if (outcome.status === "delivered") {
        await this.generations.markDelivered(generationId, {
          resultFileId: outcome.resultFileId,
          cached: false,
        });
      } else {
        await this.generations.markFailed(generationId, { status: outcome.status, error: outcome.error });
      }
    } catch (error) {
      this.logger.warn(
        { err: error, generationId, status: outcome.status },
        "user told, but PostgreSQL could not record it; recording it when PostgreSQL is back",
      );
      await this.keep(generationId, outcome);
      return;
    }
    await this.redis.multi().del(outcomeKey(generationId)).zrem(unrecordedOutcomesKey, generationId).exec();
  }

  /**
   * Records in PostgreSQL the outcomes told more than `olderThanMs` ago that it did not get (the delay
   * leaves the ones being settled right now to their worker). Returns how many were recorded.
   */
  async flush(olderThanMs = 10_000): Promise<number> {
    const ids = await this.redis.zrangebyscore(
      unrecordedOutcomesKey,
      0,
      Date.now() - olderThanMs,
      "LIMIT",
      0,
      100,
    );
    let recorded = 0;
    for (const id of ids) {
      const outcome = await this.told(id);
      if (outcome === null) {
        await this.redis.zrem(unrecordedOutcomesKey, id);
        continue;
      }
      await this.settle(id, outcome);
      if ((await this.redis.exists(outcomeKey(id))) === 0) recorded += 1;
    }
    if (recorded > 0) this.logger.info({ recorded }, "recorded outcomes that PostgreSQL missed");
    return recorded;
  }
}
