import type { Plan } from "../capacity/index.js";
import { servicePlan } from "./plan-services.js";
import { workerBatches } from "./worker-batches.js";

/** The fewest bot replicas a deploy runs: two, so that one takes the webhook while the other is replaced. */
export const BOT_REPLICAS = 2;

/**
 * The bot replicas a deploy runs: the plan's, and at least {@link BOT_REPLICAS} so a deploy never leaves
 * the webhook without a replica (the capacity model budgets one bot container unless told otherwise).
 */
export function botReplicasOf(plan: Plan): number {
  return Math.max(BOT_REPLICAS, servicePlan(plan, "bot").replicas);
}

/** One step of a deploy that replaces the app: these containers are replaced together. */
export interface RolloutStage {
  role: "bot" | "worker";
  /** 0-based replica indices; the containers are `tapbot-<role>-<index + 1>`. */
  indices: number[];
}

/**
 * The order in which a new app image replaces the containers, one stage after the other (each stage
 * depends on the whole previous one, and Pulumi waits for every container's healthcheck): the bot replicas
 * one at a time, so the other keeps taking Telegram's updates behind the proxy, then the workers in
 * batches (see {@link workerBatches}), so the others keep taking jobs. Every container is stopped with
 * SIGTERM and the grace of {@link containerStopSeconds} before it is removed and replaced (fixed names,
 * delete-before-replace: the plan's memory never holds an old and a new copy at once).
 */
export function rolloutStages(botReplicas: number, workers: number, workerBatchSize: number): RolloutStage[] {
  if (!Number.isInteger(botReplicas) || botReplicas < 1)
    throw new Error(`bot replicas must be an integer ≥ 1; got ${botReplicas}`);
  return [
    ...Array.from({ length: botReplicas }, (_, i) => ({ role: "bot" as const, indices: [i] })),
    ...workerBatches(workers, workerBatchSize).map((indices) => ({ role: "worker" as const, indices })),
  ];
}

/**
 * How long Docker waits after SIGTERM before it kills an app container: the app's own grace
 * (SHUTDOWN_GRACE_SECONDS, within which it finishes or hands back its work) plus 10 s for its exit.
 */
export function containerStopSeconds(shutdownGraceSeconds: number): number {
  return shutdownGraceSeconds + 10;
}
