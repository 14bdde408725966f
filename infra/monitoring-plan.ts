import type { Plan } from "../capacity/index.js";
import { usesSwarm } from "./cluster-hosts.js";
import { relayPlacements } from "./monitoring-targets.js";
import { SWARM_SERVICES, servicePlan } from "./plan-services.js";
import type { AlertRulesInput, AlertTiming } from "./render/alert-rules.js";

/** Every store a stack with `tapbot:offsiteBackup` backs up (backup-plan.ts; infra/README: backups). */
export const BACKUP_STORES = ["postgres", "qdrant", "directus", "n8n"] as const;

/**
 * What the alert rules watch, read off the plan: its warn / critical marks, swap and queue-length marks, the
 * wait target for a fal slot, every service's memory limit per replica, Redis's maxmemory and PostgreSQL's
 * max_connections; and the stores the stack backs up (`backedUpStores`). Nothing here is a number of its own, so a change of users, thresholds or budgets changes
 * the rules on the next `pulumi up`. Pure.
 */
export function alertRulesInput(
  plan: Plan,
  timing?: Partial<AlertTiming>,
  backupStores: readonly string[] = BACKUP_STORES,
): AlertRulesInput {
  if (plan.postgres === null) throw new Error("the plan has no PostgreSQL settings to watch");
  const th = plan.thresholds;
  const swarm = usesSwarm(plan);
  return {
    thresholds: { ram: th.ram, cpu: th.cpu, disk: th.disk, swap: th.swap, queueLength: th.queueLength },
    // With a Swarm the bot's and the workers' containers are tasks, named by placement (one rule per host).
    containers: plan.hosts.flatMap((h) =>
      h.services.map((s) => ({
        service: s.name,
        limitMB: s.limitMB,
        ...(swarm && (SWARM_SERVICES as readonly string[]).includes(s.name) ? { swarmHost: h.name } : {}),
      })),
    ),
    redisMaxmemoryMB: plan.redis.maxmemoryMB,
    redisHost: servicePlan(plan, "redis").host,
    postgresMaxConnections: plan.postgres.maxConnections,
    falWaitTargetSeconds: plan.targetWaitP95Seconds,
    backupStores: [...backupStores],
    ...(timing === undefined ? {} : { timing }),
    // With a Swarm, the tasks each placement should have (their `up` vanishes with them; see alert-rules.ts).
    ...(swarm
      ? {
          swarmPlacements: relayPlacements(plan).map((p) => ({
            job: p.service,
            host: p.host,
            replicas: p.replicas,
          })),
        }
      : {}),
  };
}
