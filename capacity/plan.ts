import { collectFindings } from "./findings.js";
import { hostPlan } from "./host-plan.js";
import { resourceLimits } from "./limits.js";
import { postgresSettings } from "./postgres-settings.js";
import { sizePrometheusRetention } from "./prometheus-retention.js";
import { redisSettings } from "./redis-settings.js";
import type { PlanInput } from "./schema.js";
import { Sizing } from "./sizing.js";
import type { Plan } from "./types.js";
import { adviseUpgrades } from "./upgrades.js";

/**
 * The capacity plan for the input: workers and their concurrency (Erlang C), every container's memory limit
 * and reservation, Redis and PostgreSQL settings, swap, what binds first, upgrades and findings. Pure and
 * deterministic: the CLI prints exactly what the Pulumi program deploys.
 */
export function plan(given: PlanInput): Plan {
  const { input, retention } = sizePrometheusRetention(given);
  const sizing = new Sizing(input, input.users);
  const { concurrency, queue } = sizing.choice;
  const hosts = input.hosts.map((h) => hostPlan(input, h, sizing));
  const services = hosts.flatMap((h) => h.services);
  const redisLimit = services.find((s) => s.name === "redis")?.limitMB;
  if (redisLimit === undefined)
    throw new Error('plan() needs a service named "redis"; parsePlanInput checks it');
  const postgres = services.find((s) => s.name === "postgres");
  const { limits, unboundedResources } = resourceLimits(input, sizing.workers * concurrency);
  // "workers" and "telegram" are always bounded, so limits is never empty.
  const bottleneck = limits.reduce((min, l) => (l.maxUsers < min.maxUsers ? l : min));
  const { upgrades, noFit } = adviseUpgrades(input, hosts);
  const costRubPerMonth = input.hosts.reduce((sum, h) => sum + h.priceRubPerMonth, 0);
  const costAfterUpgradesRubPerMonth = input.hosts.reduce(
    (sum, h) => sum + (upgrades.find((u) => u.host === h.name)?.priceAfterRubPerMonth ?? h.priceRubPerMonth),
    0,
  );
  const withoutFindings: Omit<Plan, "findings"> = {
    users: input.users,
    calibration: input.calibration,
    workers: sizing.workers,
    workerConcurrency: concurrency,
    queue,
    hosts,
    redis: redisSettings(redisLimit),
    postgres: postgres ? postgresSettings(postgres.limitMB, input.postgresMaxConnections) : null,
    limits,
    unboundedResources,
    bottleneck,
    headroom: bottleneck.maxUsers / input.users,
    upgrades,
    costRubPerMonth,
    costAfterUpgradesRubPerMonth,
    prometheus: retention,
    thresholds: input.thresholds,
    targetWaitP95Seconds: input.targetWaitP95Seconds,
  };
  return {
    ...withoutFindings,
    findings: collectFindings({ input, plan: withoutFindings, noUpgradeFits: noFit }),
  };
}
