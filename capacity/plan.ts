import { stepTargetSeconds } from "./concurrency.js";
import { collectFindings } from "./findings.js";
import { hostPlan } from "./host-plan.js";
import { falSlotsOf, placementAt } from "./host-usage.js";
import { imageBuildOf } from "./image-build.js";
import { cpuCoresPerWorker } from "./lean-workers.js";
import { providerMaxUsers, ramMaxUsers, resourceLimits } from "./limits.js";
import { postgresConnections } from "./postgres-connections.js";
import { postgresSettings } from "./postgres-settings.js";
import { sizePrometheusRetention } from "./prometheus-retention.js";
import { providerQueue } from "./provider.js";
import { redisData } from "./redis-data.js";
import { redisSettings } from "./redis-settings.js";
import type { PlanInput } from "./schema.js";
import { serviceLimitMB } from "./service-limit.js";
import { Sizing, WORKER_SERVICE } from "./sizing.js";
import { slotHold } from "./slot-hold.js";
import { spendingCaps } from "./spending-caps.js";
import type { LeanWorkers, Plan } from "./types.js";
import { adviseUpgrades } from "./upgrades.js";

/**
 * The capacity plan for the input: workers and their concurrency (Erlang C), every container's memory limit
 * and reservation, Redis and PostgreSQL settings, swap, what binds first, upgrades and findings. Pure and
 * deterministic: the CLI prints exactly what the Pulumi program deploys.
 */
export function plan(given: PlanInput): Plan {
  const { input, retention } = sizePrometheusRetention(given);
  const sizing = new Sizing(input, input.users);
  const { concurrency, steps } = sizing.choice;
  const { queue, needed } = providerQueue(input, input.users);
  const hosts = input.hosts.map((h) => hostPlan(input, h, sizing));
  const services = hosts.flatMap((h) => h.services);
  const redisLimit = services.find((s) => s.name === "redis")?.limitMB;
  if (redisLimit === undefined)
    throw new Error('plan() needs a service named "redis"; parsePlanInput checks it');
  const postgres = services.find((s) => s.name === "postgres");
  const connections = postgresConnections(input, sizing);
  const { limits, unboundedResources } = resourceLimits(input, sizing.workers * concurrency);
  // "workers" and "telegram" are always bounded, so limits is never empty.
  const bottleneck = limits.reduce((min, l) => (l.maxUsers < min.maxUsers ? l : min));
  const { upgrades, noFit } = adviseUpgrades(input, hosts);
  const costRubPerMonth = input.hosts.reduce((sum, h) => sum + h.priceRubPerMonth, 0);
  const costAfterUpgradesRubPerMonth = input.hosts.reduce(
    (sum, h) => sum + (upgrades.find((u) => u.host === h.name)?.priceAfterRubPerMonth ?? h.priceRubPerMonth),
    0,
  );
  const hold = slotHold(input);
  const withoutFindings: Omit<Plan, "findings"> = {
    users: input.users,
    calibration: input.calibration,
    workers: sizing.workers,
    workerConcurrency: concurrency,
    queue,
    provider: {
      concurrency: input.providerConcurrency ?? null,
      neededConcurrency: needed,
      bindsAtUsers:
        input.providerConcurrency === undefined ? null : providerMaxUsers(input, input.providerConcurrency),
      falCompletion: input.falCompletion,
      slotSeconds: hold.meanSeconds,
      slotHoldCv2: hold.cv2,
      pollInitialSeconds: input.pollInitialSeconds,
      pollMaxSeconds: input.pollMaxSeconds,
    },
    workerSteps: {
      queue: steps,
      targetWaitP95Seconds: stepTargetSeconds(input),
      meetsTarget: sizing.choice.meetsTarget,
      cpuCoresPerWorker: cpuCoresPerWorker(input, input.users, sizing.workers),
    },
    leanWorkers: leanWorkers(input, sizing),
    hosts,
    redis: redisSettings(redisLimit),
    redisData: redisData(input, input.users, falSlotsOf(input, input.users)),
    postgres: postgres
      ? {
          ...postgresSettings(postgres.limitMB, connections.maxConnections),
          connectionsNeeded: connections.needed,
        }
      : null,
    imageBuild: imageBuildOf(input),
    limits,
    unboundedResources,
    bottleneck,
    headroom: bottleneck.maxUsers / input.users,
    upgrades,
    costRubPerMonth,
    costAfterUpgradesRubPerMonth,
    spendingCaps: spendingCaps(input),
    prometheus: retention,
    thresholds: input.thresholds,
    targetWaitP95Seconds: input.targetWaitP95Seconds,
  };
  return {
    ...withoutFindings,
    findings: collectFindings({
      input,
      plan: withoutFindings,
      noUpgradeFits: noFit,
      overflow: placementAt(sizing).overflow,
    }),
  };
}

/**
 * The leanest setting beside the rule's: memory, what it saves, and where the workers' host's RAM then binds
 * (with workers placed over several hosts, the host that runs most of them by the rule).
 */
function leanWorkers(input: PlanInput, rule: Sizing): LeanWorkers | null {
  const worker = input.services.find((s) => s.name === WORKER_SERVICE);
  const host = input.hosts.find((h) => h.name === (worker?.host ?? mostWorkersOn(rule)));
  if (worker === undefined || host === undefined) return null;
  const lean = new Sizing(input, input.users, "lean");
  if (!lean.choice.meetsTarget) return null;
  const memoryMB = lean.workers * serviceLimitMB(worker, input.users, lean.choice.concurrency);
  const ruleMemoryMB = rule.workers * serviceLimitMB(worker, input.users, rule.choice.concurrency);
  return {
    workers: lean.workers,
    workerConcurrency: lean.choice.concurrency,
    memoryMB,
    ruleMemoryMB,
    savedMB: ruleMemoryMB - memoryMB,
    host: host.name,
    ramMaxUsers: ramMaxUsers(input, host, "lean"),
    ruleRamMaxUsers: ramMaxUsers(input, host, "rule"),
  };
}

/** The host with the most worker replicas at this sizing (the earlier host on a tie). */
function mostWorkersOn(sizing: Sizing): string | undefined {
  let best: { name: string; workers: number } | undefined;
  for (const h of placementAt(sizing).hosts) {
    const workers = h.replicas.get(WORKER_SERVICE) ?? 0;
    if (workers > (best?.workers ?? 0)) best = { name: h.name, workers };
  }
  return best?.name;
}
