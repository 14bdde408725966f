import { meetsTarget, peakArrivalPerSecond, type QueueMetrics, queueMetrics } from "./queue.js";
import type { PlanInput } from "./schema.js";
import { type SlotHold, slotHold } from "./slot-hold.js";

/**
 * The queue the app really has is fal's per-account concurrency: the app holds every accepted request until a
 * fal slot is free (a worker slot is held only for the short steps), so the servers of the M/G/c queue are the
 * account's limit and the service time is how long a request holds a slot: fal's time per job plus the lag
 * until the worker learns it finished, by fal's webhook or a status poll (slot-hold.ts), with the spread that
 * gives the holds (M/G/c).
 */

/** What the plan says about the provider's account limit. */
export interface ProviderPlan {
  /** The account limit the input gives (the stack's providerConcurrency); null when it gives none. */
  concurrency: number | null;
  /** The smallest account limit whose p95 wait for a fal slot meets the target at the planned users. */
  neededConcurrency: number;
  /** The most users the given limit carries within the wait target; null when no limit is given. */
  bindsAtUsers: number | null;
  /** How the workers learn fal finished: its webhook, or their status polls (the input's falCompletion). */
  falCompletion: "webhook" | "poll";
  /** How long a request holds a fal slot (the queue's S): fal's time plus the lag until the worker learns it. */
  slotSeconds: number;
  /** The spread of those holds, Var / mean² (0.99 with webhooks, 0.80 on the default polls). */
  slotHoldCv2: number;
  /** The status-poll schedule the slot time assumes; the program gives it to the workers. */
  pollInitialSeconds: number;
  pollMaxSeconds: number;
}

/**
 * The smallest number of servers c whose queue is stable with the p95 wait within `targetP95Seconds`. The p95
 * wait never grows with more servers, so the walk starts at the first stable c (floor(a) + 1) and stops at the
 * first that meets the target: a few hundred Erlang C evaluations at Telegram's ceiling, each O(√a).
 */
export function neededServers(lambda: number, service: SlotHold, targetP95Seconds: number): number {
  const a = lambda * service.meanSeconds;
  let c = Math.max(1, Math.floor(a) + 1);
  while (!meetsTarget(queueMetrics(lambda, service.meanSeconds, c, service.cv2), targetP95Seconds)) c++;
  return c;
}

/**
 * The queue for a fal slot at the planned users: c = the account limit given, or, when the input gives none,
 * the limit the users need (so the figures say what the owner gets once fal grants that limit).
 */
export function providerQueue(input: PlanInput, users: number): { queue: QueueMetrics; needed: number } {
  const lambda = peakArrivalPerSecond(users, input);
  const hold = slotHold(input);
  const needed = neededServers(lambda, hold, input.targetWaitP95Seconds);
  const servers = input.providerConcurrency ?? needed;
  return { queue: queueMetrics(lambda, hold.meanSeconds, servers, hold.cv2), needed };
}
