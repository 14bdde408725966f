import { type KeepJobs, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { type FalSlots, slotScore } from "./fal-slots.js";
import { type GenerationJob, generationJobSchema, tierPriority } from "./generation-job.js";

/**
 * Retention and retry policy of every generation job. Finished jobs are kept only briefly and in bounded
 * numbers (the rows in PostgreSQL are the record), and the events stream is capped, so Redis memory
 * stays flat under sustained load. Retries (network errors, 5xx, 429 at fal or Telegram) back off
 * exponentially from 2 s: 2, 4, 8, 16 s over five attempts.
 */
export const jobRetention: JobRetention = {
  attempts: 5,
  backoff: { type: "exponential", delay: 2_000 },
  removeOnComplete: { age: 3_600, count: 1_000 },
  removeOnFail: { age: 24 * 3_600, count: 5_000 },
};

/** BullMQ's longest wait before a retry under {@link jobRetention} (the last of the exponential delays). */
export const maxRetryBackoffMs = jobRetention.backoff.delay * 2 ** (jobRetention.attempts - 2);

/** The shape of {@link jobRetention}. */
export interface JobRetention {
  attempts: number;
  backoff: { type: "exponential"; delay: number };
  removeOnComplete: KeepJobs;
  removeOnFail: KeepJobs;
}

/** Approximate cap of the queue's events stream (BullMQ's default is 10 000 entries). */
export const eventsStreamMaxLen = 1_000;

/** How long a cancel request for a running job is remembered (well past any deadline). */
const cancelFlagSeconds = 3_600;

/** The job name; one kind of job in this queue. */
export const generationJobName = "generate";

/** The Redis key a running job checks at every step; set by {@link GenerationQueue.requestCancel}. */
export function cancelFlagKey(generationId: string): string {
  return `tapbot:cancel:${generationId}`;
}

/** Job counts by state, as BullMQ names them. */
export type QueueCounts = Record<
  "waiting" | "prioritized" | "active" | "delayed" | "completed" | "failed",
  number
>;

/**
 * The generation queue as the bot and the worker use it: validated enqueue with idempotent ids, the
 * user's place in line (counting the wait for a fal slot), cancellation and counts. A thin adapter over
 * one BullMQ `Queue` and the account's {@link FalSlots}.
 */
export class GenerationQueue {
  constructor(
    readonly queue: Queue,
    private readonly redis: Redis,
    /** The fal account's slots; without them (a queue used only to add jobs) places count BullMQ's line only. */
    readonly slots?: FalSlots,
  ) {}

  /**
   * Adds the job with jobId = generationId (so a repeated enqueue after a crash adds nothing) at the
   * given priority (lower first) and returns its place: 1 = next to start.
   */
  async enqueue(job: GenerationJob, options: { priority: number }): Promise<{ position: number }> {
    const data = generationJobSchema.parse(job);
    await this.queue.add(generationJobName, data, { jobId: data.generationId, priority: options.priority });
    return { position: (await this.positionOf(data.generationId)) ?? 1 };
  }

  /**
   * The job's place in line (1 = next): among the jobs waiting for a fal slot when it waits for one
   * itself; else, while BullMQ has not handed it to a worker yet, its place in BullMQ's line plus the jobs
   * already waiting for a slot ahead of it (by priority, then time of acceptance). Null when it is not
   * waiting: at fal, between retries, finished or unknown.
   */
  async positionOf(generationId: string): Promise<number | null> {
    const inLine = (await this.slots?.placeInLine(generationId)) ?? null;
    if (inLine !== null) return inLine;
    const queued = await this.bullPositionOf(generationId);
    if (this.slots === undefined) return queued;
    const job = await this.queue.getJob(generationId);
    if (job === undefined) return queued;
    if (queued === null) {
      if ((job.data as { step?: unknown }).step !== undefined) return null;
      const state = await job.getState();
      if (state !== "active" && state !== "delayed") return null;
    }
    // Not in BullMQ's line and never started: a worker holds it for the moment of its first (or next)
    // ask for a slot; its place is the one its score gives it.
    const tier = (job.data as { tier?: keyof typeof tierPriority }).tier;
    const priority = job.opts.priority ?? (tier === undefined ? tierPriority.free : tierPriority[tier]);
    return (queued ?? 1) + (await this.slots.waitingAhead(slotScore(priority, job.timestamp)));
  }

  /** The fal slots in use and the jobs waiting for one, account-wide; undefined without slots. */
  async slotUse(): Promise<{ inUse: number; waiting: number; limit: number } | undefined> {
    if (this.slots === undefined) return undefined;
    return { ...(await this.slots.snapshot()), limit: this.slots.limit };
  }

  /**
   * Moves jobs sleeping in the delayed set to the waiting line now (the first in line for a fal slot
   * that was just released); a job that is not delayed any more is left alone.
   */
  async wake(jobIds: readonly string[]): Promise<void> {
    await Promise.all(
      jobIds.map(async (id) => {
        const job = await this.queue.getJob(id);
        if (job !== undefined && (await job.isDelayed())) await job.promote().catch(() => undefined);
      }),
    );
  }

  /** The job's place in BullMQ's own line (wait list, then prioritized set), or null when not there. */
  private async bullPositionOf(generationId: string): Promise<number | null> {
    const keys = this.queue.keys;
    const [rank, waitLength, waitIndex] = await Promise.all([
      this.redis.zrank(keys.prioritized as string, generationId),
      this.redis.llen(keys.wait as string),
      this.redis.lpos(keys.wait as string, generationId),
    ]);
    // Workers take from the right end of the wait list first, then the prioritized set by score.
    if (waitIndex !== null) return waitLength - waitIndex;
    if (rank !== null) return waitLength + rank + 1;
    return null;
  }

  /**
   * Cancels a request. A job that has not started is removed ("removed": the caller records and tells).
   * A job that is running or waiting on fal is flagged and woken ("signalled"): the worker cancels it
   * at fal at its next step, records it and tells the user. Finished or unknown jobs: "not-found".
   */
  async requestCancel(generationId: string): Promise<"removed" | "signalled" | "not-found"> {
    const job = await this.queue.getJob(generationId);
    if (job === undefined) return "not-found";
    const state = await job.getState();
    if (state === "completed" || state === "failed" || state === "unknown") return "not-found";
    const started = (job.data as { step?: unknown }).step !== undefined;
    if ((state === "waiting" || state === "prioritized" || state === "delayed") && !started) {
      try {
        await job.remove();
        // It may have been first in line for a fal slot: its place goes to the next.
        const next = (await this.slots?.release(generationId)) ?? [];
        await this.wake(next);
        return "removed";
      } catch {
        // A worker took it in the meantime (it is locked): signal it like a running one.
      }
    }
    await this.redis.set(cancelFlagKey(generationId), "1", "EX", cancelFlagSeconds);
    if ((await job.getState()) === "delayed") await job.promote().catch(() => undefined);
    return "signalled";
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.queue.getJobCounts(
      "waiting",
      "prioritized",
      "active",
      "delayed",
      "completed",
      "failed",
    );
    return {
      waiting: c.waiting ?? 0,
      prioritized: c.prioritized ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

/**
 * Builds the queue on an existing connection (see `createRedis`); the caller closes the connection after
 * {@link GenerationQueue.close}. `retention` overrides {@link jobRetention} (tests use small bounds); `slots`
 * are the fal account's (see {@link FalSlots}), which the place in line counts.
 */
export function createGenerationQueue(
  redis: Redis,
  name: string,
  retention: Partial<JobRetention> = {},
  slots?: FalSlots,
): GenerationQueue {
  const queue = new Queue(name, {
    connection: redis,
    defaultJobOptions: { ...jobRetention, ...retention },
    streams: { events: { maxLen: eventsStreamMaxLen } },
  });
  return new GenerationQueue(queue, redis, slots);
}
