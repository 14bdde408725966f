import { num, percent } from "./format.js";
import type { Overflow } from "./placement.js";
import type { PlanInput } from "./schema.js";
import { slotHoldText, slotSeconds } from "./slot-hold.js";
import { spendingFindings } from "./spending-caps.js";
import type { Status } from "./status.js";
import type { Finding, HostPlan, Plan } from "./types.js";

/** What the findings look at: the plan before its findings, the hosts no catalog offer fits, the replicas no host fits. */
export interface FindingContext {
  input: PlanInput;
  plan: Omit<Plan, "findings">;
  noUpgradeFits: string[];
  overflow: Overflow[];
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

/** How to learn and raise fal's account limit, said wherever the plan needs a number from the owner. */
export const PROVIDER_LIMIT_HOWTO =
  "new fal accounts run 2 requests at once; fal support raises the limit on request (ask through the fal dashboard or support)";

function queueFindings(ctx: FindingContext): Finding[] {
  const { input, plan } = ctx;
  const q = plan.queue;
  const p = plan.provider;
  const out: Finding[] = [];
  const load = `${num(q.offeredErlangs)} Erlangs at peak (${num(q.arrivalPerSecondPeak, 3)} jobs/s × ${num(slotSeconds(input))} s holding a fal slot: ${slotHoldText(input)})`;
  const ask = `ask fal for an account limit of ${p.neededConcurrency} (the smallest whose p95 wait meets ${num(input.targetWaitP95Seconds)} s at ${plan.users} users)`;
  if (p.concurrency === null) {
    out.push({
      severity: "warn",
      code: "PROVIDER_CONCURRENCY_UNSET",
      message: `No providerConcurrency given: the queue figures assume fal's account limit is ${p.neededConcurrency}, what ${plan.users} users need (${load}). Give your account's limit (--provider-concurrency, tapbot:capacity.providerConcurrency); ${PROVIDER_LIMIT_HOWTO}.`,
    });
  } else if (!q.stable) {
    out.push({
      severity: "error",
      code: "QUEUE_UNSTABLE",
      message: `The wait for a fal slot grows without bound: ${load} on an account limit of ${p.concurrency}; requests pile up at fal and expire at their deadline. ${ask[0]?.toUpperCase()}${ask.slice(1)}.`,
    });
  } else if (q.p95WaitSeconds !== null && q.p95WaitSeconds > input.targetWaitP95Seconds) {
    out.push({
      severity: "warn",
      code: "QUEUE_TARGET_MISSED",
      message: `p95 wait for a fal slot ${num(q.p95WaitSeconds)} s is over the target ${num(input.targetWaitP95Seconds)} s (${load} on an account limit of ${p.concurrency}); ${ask}.`,
    });
  }
  if (q.meanQueueLength !== null && q.meanQueueLength > input.thresholds.queueLength) {
    out.push({
      severity: "warn",
      code: "QUEUE_LENGTH_WARN",
      message: `Mean queue length ${num(q.meanQueueLength, 1)} jobs is over the alert mark ${input.thresholds.queueLength}.`,
    });
  }
  if (p.concurrency !== null && p.bindsAtUsers !== null && p.bindsAtUsers < plan.users) {
    out.push({
      severity: "error",
      code: "PROVIDER_CONCURRENCY_BINDS",
      message: `fal runs at most ${p.concurrency} of this account's requests at once, enough for ${p.bindsAtUsers} users within the ${num(input.targetWaitP95Seconds)} s wait target, not ${plan.users}; more workers will not help: ${ask}.`,
    });
  }
  const steps = plan.workerSteps;
  if (!steps.meetsTarget) {
    out.push({
      severity: "warn",
      code: "WORKER_SLOTS_TARGET_MISSED",
      message: `${plan.workers} workers × ${plan.workerConcurrency} slots keep a step's p95 wait for a slot at ${steps.queue.p95WaitSeconds === null ? "unbounded (unstable)" : `${num(steps.queue.p95WaitSeconds)} s`}, over its share ${num(steps.targetWaitP95Seconds)} s of the target even at the most concurrency (${input.maxWorkerConcurrency}); add workers (lower usersPerWorker) or raise maxWorkerConcurrency.`,
    });
  }
  if (steps.cpuCoresPerWorker >= input.thresholds.cpu.warn) {
    out.push({
      severity: "warn",
      code: "WORKER_PROCESS_CPU",
      message: `Each worker process needs ${num(steps.cpuCoresPerWorker)} cores at peak, over the CPU warn mark of the one core its JavaScript runs on; add workers (lower usersPerWorker).`,
    });
  }
  return out;
}

/** The owner's worker rule against the leanest setting that meets every target: what the rule costs. */
function leanFinding(ctx: FindingContext): Finding[] {
  const lean = ctx.plan.leanWorkers;
  if (lean === null) return [];
  const { plan, input } = ctx;
  const rule = `${plan.workers} workers × ${plan.workerConcurrency} slots`;
  const leanSetting = `${lean.workers} × ${lean.workerConcurrency}`;
  const binds = (n: number | null) => (n === null ? "never" : `at ${n} users`);
  if (lean.savedMB <= 0) {
    return [
      {
        severity: "info",
        code: "WORKER_RULE_COST",
        message: `The worker rule (ceil(users / ${input.usersPerWorker})) deploys ${rule}, already the leanest setting that meets every target.`,
      },
    ];
  }
  return [
    {
      severity: "info",
      code: "WORKER_RULE_COST",
      message: `The worker rule (ceil(users / ${input.usersPerWorker})) deploys ${rule}, ${lean.ruleMemoryMB} MB; the leanest setting that meets every target is ${leanSetting}, ${lean.memoryMB} MB (${lean.savedMB} MB less). With it ${lean.host}'s RAM binds ${binds(lean.ramMaxUsers)} instead of ${binds(lean.ruleRamMaxUsers)}. To deploy it, set usersPerWorker ${Math.max(1, Math.ceil(plan.users / lean.workers))} and maxWorkerConcurrency at least ${lean.workerConcurrency}.`,
    },
  ];
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
  const needed = ctx.plan.redisData.neededMaxmemoryMB;
  if (stated?.maxmemoryMB !== undefined && stated.maxmemoryMB < needed) {
    out.push({
      severity: "error",
      code: "REDIS_MAXMEMORY_SHORT",
      message: `Redis maxmemory ${stated.maxmemoryMB} MB is below the ${needed} MB the app's data needs at ${ctx.plan.users} users (queue, finished jobs, result cache, update log, rate limits, fal-slot leases); with noeviction Redis then refuses writes and the bot stops accepting requests. Set it to ${ctx.plan.redis.maxmemoryMB} MB.`,
    });
  }
  if (stated?.policy !== undefined && stated.policy !== "noeviction") {
    out.push({
      severity: "error",
      code: "REDIS_EVICTION_POLICY",
      message: `Redis maxmemory-policy ${stated.policy} lets Redis delete job keys under memory pressure; the queue needs noeviction.`,
    });
  }
  if (stated?.appendonly === false) {
    out.push({
      severity: "error",
      code: "REDIS_NOT_PERSISTENT",
      message:
        "Redis appendonly no: the queue's Redis keeps the accepted requests, and a restart without AOF loses every one of them (15 of 1,000 in a soak with Redis restarts); set appendonly yes with appendfsync everysec (at most a second of jobs lost).",
    });
  }
  return out;
}

/** max_connections against the pools that may all be open at once. */
function postgresFindings(ctx: FindingContext): Finding[] {
  const pg = ctx.plan.postgres;
  if (pg === null || pg.maxConnections >= pg.connectionsNeeded) return [];
  const i = ctx.input;
  return [
    {
      severity: "error",
      code: "POSTGRES_MAX_CONNECTIONS_SHORT",
      message: `PostgreSQL max_connections ${pg.maxConnections} is below the ${pg.connectionsNeeded} the deployment can open at once (${i.postgresPoolPerProcess} per bot and worker process, ${i.directusPoolMax} for Directus, ${i.postgresConnectionMargin} margin): a burst or a restart gets "too many clients". Set postgresMaxConnections to ${pg.connectionsNeeded} or more, or leave it unset.`,
    },
  ];
}

/** The image build's peak beside the running containers during a deploy. */
function buildFindings(ctx: FindingContext): Finding[] {
  const build = ctx.plan.imageBuild;
  const host = ctx.plan.hosts.find((h) => h.name === build?.host);
  if (build === null || host === undefined || host.deployPeakMB <= host.ramMB) return [];
  const over = host.deployPeakMB > host.ramMB + host.swapMB;
  return [
    {
      severity: over ? "error" : "warn",
      code: "IMAGE_BUILD_RAM",
      message: `${host.name}: building the app image during a deploy (${build.peakMB} MB) beside the running containers' limits (${host.usedMB} MB) needs ${host.deployPeakMB} MB of ${host.ramMB} MB RAM${over ? `, more than RAM and its ${host.swapMB} MB of swap` : `: the deploy leans on the ${host.swapMB} MB of swap`}; build the image elsewhere or deploy at a quiet hour.`,
    },
  ];
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
    message: `${host}: no offer in the catalog carries its load under the warn marks; split its services over more hosts (a host's roles admit the services left without a host; the report's Growth prices one more app host).`,
  }));
}

function placementFindings(ctx: FindingContext): Finding[] {
  const warn = percent(ctx.input.thresholds.ram.warn);
  return ctx.overflow.map((o) => ({
    severity: "warn" as const,
    code: "SERVICE_FITS_NOWHERE",
    message: `${o.service}: ${o.replicas} replica${o.replicas === 1 ? "" : "s"} of ${o.limitMB} MB fit on no host under the RAM warn mark (${warn}); free under it: ${o.hosts.map((h) => `${h.name} ${h.freeMB} MB`).join(", ")}. They were put where the most room was; add a host whose roles admit ${o.service}, move to a bigger offer, or use fewer users.`,
  }));
}

const ORDER = { error: 0, warn: 1, info: 2 } as const;

/** Every finding of the plan, errors first, in a stable order. */
export function collectFindings(ctx: FindingContext): Finding[] {
  const all = [
    ...redisFindings(ctx),
    ...postgresFindings(ctx),
    ...buildFindings(ctx),
    ...queueFindings(ctx),
    ...leanFinding(ctx),
    ...telegramFindings(ctx),
    ...spendingFindings(ctx.input, ctx.plan.spendingCaps),
    ...hostFindings(ctx),
    ...placementFindings(ctx),
    ...upgradeFindings(ctx),
    bottleneckFinding(ctx),
  ];
  // Array sort is stable: within a severity the order above holds.
  return all.sort((x, y) => ORDER[x.severity] - ORDER[y.severity]);
}
