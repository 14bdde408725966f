import { HostUsage } from "./host-usage.js";
import { largestFitting, largestFittingGuided, type Probe } from "./max-users.js";
import { meetsTarget, peakArrivalPerSecond, queueMetrics, TAIL } from "./queue.js";
import type { PlanInput } from "./schema.js";
import { Sizing } from "./sizing.js";

/** The most users one resource carries with everything else as planned. */
export interface ResourceLimit {
  /** workers | provider | telegram | ram:<host> | cpu:<host> | disk:<host> */
  resource: string;
  maxUsers: number;
}

/** Every resource's limit; resources that no user count up to USERS_MAX exhausts are listed as unbounded. */
export interface Limits {
  limits: ResourceLimit[];
  unboundedResources: string[];
}

/** Users whose peak load, in jobs/s, is one: users = λ × usersPerJobPerSecond. */
function usersPerJobPerSecond(input: PlanInput): number {
  return 3600 / (input.requestsPerUserHour * input.peakFactor);
}

/**
 * The most users a queue of `servers` fixed servers carries within the wait target. Beyond a = servers the
 * queue is unstable, so the search is bounded there. The gap ln(max(C, 0.05) / 0.05) − target × (c/S − λ)
 * is ≤ 0 exactly when the p95 wait meets the target, grows smoothly with users, and stays finite up to and past
 * instability, so the search can interpolate on it.
 */
function queueMaxUsers(input: PlanInput, servers: number): number {
  const unstableFrom = Math.ceil((servers / input.jobSeconds) * usersPerJobPerSecond(input)) + 1;
  const target = input.targetWaitP95Seconds;
  const probe = (users: number): Probe => {
    const lambda = peakArrivalPerSecond(users, input);
    const q = queueMetrics(lambda, input.jobSeconds, servers);
    const drain = servers / input.jobSeconds - lambda;
    return {
      fits: meetsTarget(q, target),
      gap: Math.log(Math.max(q.probabilityOfWait, TAIL) / TAIL) - target * drain,
    };
  };
  return largestFittingGuided(probe, unstableFrom);
}

/** One bot token sends at most telegramMessagesPerSecond: users ≤ rate × 3600 / (requests × peak × messages). */
function telegramMaxUsers(input: PlanInput): number {
  const exact = (input.telegramMessagesPerSecond * usersPerJobPerSecond(input)) / input.messagesPerJob;
  // Tolerance for binary fractions such as 30 × 3600 / 45 landing a hair under 2400.
  return Math.floor(exact + 1e-9);
}

/** A host resource fits while its utilization stays under the warn mark, the workers growing by the rule. */
function hostFits(
  input: PlanInput,
  used: (sizing: Sizing) => number,
  capacity: number,
  warn: number,
): (users: number) => boolean {
  return (users) => used(new Sizing(input, users)) < warn * capacity;
}

/**
 * What binds first. Worker slots and the provider: the wait target at today's servers (workers × concurrency,
 * or the provider's cap). Telegram: its rate ceiling. RAM, CPU and disk of each host: under warn, with workers
 * following the sizing rule as users grow.
 */
export function resourceLimits(input: PlanInput, workerSlots: number): Limits {
  const t = input.thresholds;
  const candidates: { resource: string; maxUsers: number | null }[] = [
    { resource: "workers", maxUsers: queueMaxUsers(input, workerSlots) },
  ];
  if (input.providerConcurrency !== undefined) {
    candidates.push({ resource: "provider", maxUsers: queueMaxUsers(input, input.providerConcurrency) });
  }
  candidates.push({ resource: "telegram", maxUsers: telegramMaxUsers(input) });
  for (const host of input.hosts) {
    const usage = new HostUsage(input, host);
    const ram = hostFits(input, (s) => usage.ramUsedMB(s), host.ramMB, t.ram.warn);
    const cpu = hostFits(input, (s) => usage.cpuUsedCores(s), host.cpus, t.cpu.warn);
    const disk = hostFits(input, (s) => usage.diskUsedGB(s), host.diskGB, t.disk.warn);
    candidates.push(
      { resource: `ram:${host.name}`, maxUsers: largestFitting(ram) },
      { resource: `cpu:${host.name}`, maxUsers: largestFitting(cpu) },
      { resource: `disk:${host.name}`, maxUsers: largestFitting(disk) },
    );
  }
  const limits: ResourceLimit[] = [];
  const unboundedResources: string[] = [];
  for (const c of candidates) {
    if (c.maxUsers === null) unboundedResources.push(c.resource);
    else limits.push({ resource: c.resource, maxUsers: c.maxUsers });
  }
  return { limits, unboundedResources };
}
