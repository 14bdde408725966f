import { num, percent } from "./format.js";
import { meetsTarget } from "./queue.js";
import type { PlanInput } from "./schema.js";
import type { Status } from "./status.js";
import type { Finding, HostPlan, Plan } from "./types.js";

/** What the findings look at: the plan before its findings, and the hosts no catalog offer fits. */
export interface FindingContext {
  input: PlanInput;
  plan: Omit<Plan, "findings">;
  noUpgradeFits: string[];
}

function upgradeHint(ctx: FindingContext, host: string): string {
  const up = ctx.plan.upgrades.find((u) => u.host === host);
  if (up) return `; or move to ${up.to} (${up.priceAfterRubPerMonth} RUB/month)`;
  return ctx.noUpgradeFits.includes(host) ? "; no offer in the catalog fits it" : "";
}

function ramFinding(ctx: FindingContext, h: HostPlan): Finding | undefined {
  const m = ctx.input.thresholds.ram;
  const what = `${h.name}: RAM ${h.usedMB} of ${h.ramMB} MB (${percent(h.utilization)})`;
  const fix = `lower the limits, move a service to another host, or use fewer users${upgradeHint(ctx, h.name)}`;
  if (h.utilization > 1) {
    return {
      severity: "error",
      code: "HOST_OVERCOMMITTED",
      message: `${what}: the limits add up to more than the host has, so the kernel will kill containers; ${fix}.`,
    };
  }
  if (h.status === "crit") {
    return {
      severity: "error",
      code: "HOST_RAM_CRIT",
      message: `${what}, at or over critical ${percent(m.crit)}; ${fix}.`,
    };
  }
  if (h.status === "warn") {
    return {
      severity: "warn",
      code: "HOST_RAM_WARN",
      message: `${what}, at or over warn ${percent(m.warn)}; ${fix}.`,
    };
  }
  return undefined;
}

function markFinding(code: string, status: Status, message: string): Finding | undefined {
  if (status === "ok") return undefined;
  return { severity: status === "crit" ? "error" : "warn", code, message };
}

function hostFindings(ctx: FindingContext): Finding[] {
  const out: (Finding | undefined)[] = [];
  const t = ctx.input.thresholds;
  for (const h of ctx.plan.hosts) {
    out.push(ramFinding(ctx, h));
    out.push(
      markFinding(
        h.cpu.status === "crit" ? "CPU_CRIT" : "CPU_WARN",
        h.cpu.status,
        `${h.name}: CPU ${num(h.cpu.usedCores)} of ${h.cpu.cpus} cores (${percent(h.cpu.utilization)}), warn at ${percent(t.cpu.warn)}; give it more cores or move a service${upgradeHint(ctx, h.name)}.`,
      ),
      markFinding(
        h.disk.status === "crit" ? "DISK_CRIT" : "DISK_WARN",
        h.disk.status,
        `${h.name}: disk ${num(h.disk.usedGB)} of ${h.disk.diskGB} GB (${percent(h.disk.utilization)}), warn at ${percent(t.disk.warn)}; prune images and logs or take a bigger disk${upgradeHint(ctx, h.name)}.`,
      ),
    );
    for (const s of h.services) {
      if (s.reservationMB > s.limitMB) {
        out.push({
          severity: "error",
          code: "RESERVATION_OVER_LIMIT",
          message: `${s.name} on ${h.name}: reservation ${s.reservationMB} MB is above its limit ${s.limitMB} MB; Docker refuses it. Lower the reservation.`,
        });
      }
    }
  }
  return out.filter((f): f is Finding => f !== undefined);
}

function queueFindings(ctx: FindingContext): Finding[] {
  const { input, plan } = ctx;
  const q = plan.queue;
  const out: Finding[] = [];
  const load = `${num(q.offeredErlangs)} Erlangs at peak on ${q.servers} servers`;
  const capped = input.providerConcurrency !== undefined && q.servers === input.providerConcurrency;
  const capLimited = capped && q.servers < plan.workers * plan.workerConcurrency;
  if (!q.stable) {
    out.push({
      severity: "error",
      code: "QUEUE_UNSTABLE",
      message: `The queue grows without bound: ${load}. ${capLimited ? "Raise the provider's concurrency limit" : "Add workers (lower usersPerWorker) or raise maxWorkerConcurrency"}.`,
    });
  } else if (q.p95WaitSeconds !== null && q.p95WaitSeconds > input.targetWaitP95Seconds) {
    out.push({
      severity: "warn",
      code: "QUEUE_TARGET_MISSED",
      message: `p95 wait ${num(q.p95WaitSeconds)} s is over the target ${input.targetWaitP95Seconds} s even at ${plan.workerConcurrency} jobs per worker (${load}). Add workers or raise maxWorkerConcurrency.`,
    });
  }
  if (q.meanQueueLength !== null && q.meanQueueLength > input.thresholds.queueLength) {
    out.push({
      severity: "warn",
      code: "QUEUE_LENGTH_WARN",
      message: `Mean queue length ${num(q.meanQueueLength, 1)} jobs is over the alert mark ${input.thresholds.queueLength}.`,
    });
  }
  if (capLimited) {
    const met = meetsTarget(q, input.targetWaitP95Seconds);
    out.push({
      severity: met ? "warn" : "error",
      code: "PROVIDER_CONCURRENCY_BINDS",
      message: `The provider runs at most ${input.providerConcurrency} jobs at once, fewer than the ${plan.workers * plan.workerConcurrency} worker slots; ${met ? "the target still holds, but more workers will not help" : "ask the provider for a higher limit: more workers will not help"}.`,
    });
  }
  return out;
}

function telegramFindings(ctx: FindingContext): Finding[] {
  const limit = ctx.plan.limits.find((l) => l.resource === "telegram");
  if (limit === undefined || ctx.plan.users <= limit.maxUsers) return [];
  return [
    {
      severity: "error",
      code: "TELEGRAM_RATE_BINDS",
      message: `One bot token sends at most ${ctx.input.telegramMessagesPerSecond} messages/s, enough for ${limit.maxUsers} users at peak, not ${ctx.plan.users}; send fewer messages per job or split the load over more bots.`,
    },
  ];
}

/** Judges the Redis settings someone intends to deploy (the input's `redis`) against the plan's. */
function redisFindings(ctx: FindingContext): Finding[] {
  const stated = ctx.input.redis;
  const container = ctx.plan.hosts.flatMap((h) => h.services).find((s) => s.name === "redis");
  const out: Finding[] = [];
  if (stated?.maxmemoryMB !== undefined && container !== undefined) {
    const safe = ctx.plan.redis.maxmemoryMB;
    if (stated.maxmemoryMB > container.limitMB) {
      out.push({
        severity: "error",
        code: "REDIS_MAXMEMORY_OVER_LIMIT",
        message: `Redis maxmemory ${stated.maxmemoryMB} MB is above its container limit ${container.limitMB} MB: the kernel kills Redis before it ever evicts. Set maxmemory to ${safe} MB (half the limit, room for the fork of a save).`,
      });
    } else if (stated.maxmemoryMB > safe) {
      out.push({
        severity: "warn",
        code: "REDIS_MAXMEMORY_FORK_RISK",
        message: `Redis maxmemory ${stated.maxmemoryMB} MB is over half its container limit ${container.limitMB} MB: a save or AOF rewrite forks and can double the data set. Set it to ${safe} MB.`,
      });
    }
  }
  if (stated?.policy !== undefined && stated.policy !== "noeviction") {
    out.push({
      severity: "error",
      code: "REDIS_EVICTION_POLICY",
      message: `Redis maxmemory-policy ${stated.policy} lets Redis delete job keys under memory pressure; the queue needs noeviction.`,
    });
  }
  return out;
}

function bottleneckFinding(ctx: FindingContext): Finding {
  const { bottleneck, headroom } = ctx.plan;
  return {
    severity: "info",
    code: "BOTTLENECK",
    message: `${bottleneck.resource} binds first, at ${bottleneck.maxUsers} users (headroom ${num(headroom)}× the ${ctx.plan.users} planned).`,
  };
}

function upgradeFindings(ctx: FindingContext): Finding[] {
  return ctx.noUpgradeFits.map((host) => ({
    severity: "warn" as const,
    code: "NO_UPGRADE_FITS",
    message: `${host}: no offer in the catalog carries its load under the warn marks; split its services over more hosts.`,
  }));
}

const ORDER = { error: 0, warn: 1, info: 2 } as const;

/** Every finding of the plan, errors first, in a stable order. */
export function collectFindings(ctx: FindingContext): Finding[] {
  const all = [
    ...redisFindings(ctx),
    ...queueFindings(ctx),
    ...telegramFindings(ctx),
    ...hostFindings(ctx),
    ...upgradeFindings(ctx),
    bottleneckFinding(ctx),
  ];
  // Array sort is stable: within a severity the order above holds.
  return all.sort((x, y) => ORDER[x.severity] - ORDER[y.severity]);
}
