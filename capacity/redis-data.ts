import { peakArrivalPerSecond } from "./queue.js";
import type { PlanInput } from "./schema.js";

/** MB in a byte count. */
const MB = 1024 * 1024;

/** Keys of each kind the app holds in Redis at a user count, and the memory they take. */
export interface RedisData {
  keys: Record<keyof PlanInput["redisData"]["bytesPerKey"], number>;
  /** used_memory: emptyMB + Σ keys × bytes per key, MB. */
  dataMB: number;
  /** dataMB × dataHeadroom, rounded up: what maxmemory must allow. */
  neededMaxmemoryMB: number;
}

/**
 * What the app keeps in Redis at `users` (redisRetention: how long each kind lives, with the app's defaults):
 * the queue's live jobs (peak arrivals over a job's longest lifetime), the finished jobs BullMQ keeps (its
 * count and age caps), the events stream, one result-cache entry per request of the cache's TTL, one update
 * id per update of the log's TTL, a rate-limit log per user, and a lease per fal slot. Rates over a day use
 * the average arrival rate, rates over a job's life the peak one. Bytes per key from redisData (measured by
 * a calibration, else high guesses).
 */
export function redisData(input: PlanInput, users: number, falSlots: number): RedisData {
  const r = input.redisRetention;
  const peak = peakArrivalPerSecond(users, input);
  const average = peak / input.peakFactor;
  const keys = {
    job: peak * r.jobLifetimeSeconds,
    finishedJob:
      Math.min(r.completedJobsKept, average * r.completedJobsAgeSeconds) +
      Math.min(r.failedJobsKept, average * r.failedJobsAgeSeconds),
    event: r.eventsKept,
    resultCache: average * r.resultCacheSeconds,
    updateLog: average * r.updatesPerJob * r.updateLogSeconds,
    rateLimit: users,
    falSlot: falSlots,
  };
  const bytes = input.redisData.bytesPerKey;
  let total = 0;
  for (const kind of Object.keys(keys) as (keyof typeof keys)[]) total += keys[kind] * bytes[kind];
  const dataMB = input.redisData.emptyMB + total / MB;
  return { keys, dataMB, neededMaxmemoryMB: Math.ceil(dataMB * r.dataHeadroom) };
}
