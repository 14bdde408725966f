import { stepTargetSeconds } from "./concurrency.js";
import { HostUsage } from "./host-usage.js";
import { largestFitting, largestFittingGuided, type Probe } from "./max-users.js";
import { meetsTarget, peakArrivalPerSecond, queueMetrics, TAIL, waitDrainRate } from "./queue.js";
import type { HostInput, PlanInput } from "./schema.js";
import { Sizing, type WorkerMode } from "./sizing.js";
import { slotHold } from "./slot-hold.js";

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

/** One queue a resource is: its arrivals per job, its service time and the p95 wait it must keep. */
interface QueueShape {
  /** Arrivals of this queue per peak job: 1 for fal's queue, stepsPerJob for the worker slots. */
  perJob: number;
  serviceSeconds: number;
  /** The service times' squared coefficient of variation (1: exponential). */
  serviceCv2: number;
  targetSeconds: number;
}

/**
 * The most users a queue of `servers` fixed servers carries within its wait target. Beyond a = servers the
 * queue is unstable, so the search is bounded there. The gap ln(max(C, 0.05) / 0.05) − target × r, with r the
 * wait's tail rate ({@link waitDrainRate}), is ≤ 0 exactly when the p95 wait meets the target, grows smoothly
 * with users, and stays finite up to and past instability, so the search can interpolate on it.
 */
function queueMaxUsers(input: PlanInput, shape: QueueShape, servers: number): number {
  const { perJob, serviceSeconds, serviceCv2, targetSeconds: target } = shape;
  const unstableFrom = Math.ceil((servers / serviceSeconds / perJob) * usersPerJobPerSecond(input)) + 1;
  const probe = (users: number): Probe => {
    const lambda = peakArrivalPerSecond(users, input) * perJob;
    const q = queueMetrics(lambda, serviceSeconds, servers, serviceCv2);
    const drain = waitDrainRate(lambda, serviceSeconds, servers, serviceCv2);
    return {
      fits: meetsTarget(q, target),
      gap: Math.log(Math.max(q.probabilityOfWait, TAIL) / TAIL) - target * drain,
    };
  };
  return largestFittingGuided(probe, unstableFrom);
}

/** The most users fal's account limit carries within the wait target for a fal slot. */
export function providerMaxUsers(input: PlanInput, concurrency: number): number {
  const hold = slotHold(input);
  return queueMaxUsers(
    input,
    {
      perJob: 1,
      serviceSeconds: hold.meanSeconds,
      serviceCv2: hold.cv2,
      targetSeconds: input.targetWaitP95Seconds,
    },
    concurrency,
  );
}

/** The most users `slots` worker slots carry with each step's p95 wait within its share of the target. */
export function workerSlotsMaxUsers(input: PlanInput, slots: number): number {
  return queueMaxUsers(
    input,
    {
      perJob: input.stepsPerJob,
      serviceSeconds: input.stepSeconds,
      serviceCv2: 1,
      targetSeconds: stepTargetSeconds(input),
    },
    slots,
  );
}

/** The most users a host's RAM carries under its warn mark, the workers counted as `mode` says. */
export function ramMaxUsers(
  input: PlanInput,
  host: HostInput,
  mode: WorkerMode,
  sizingAt: (users: number) => Sizing = (users) => new Sizing(input, users, mode),
): number | null {
  const usage = new HostUsage(input, host);
  return largestFitting((users) => usage.ramUsedMB(sizingAt(users)) < input.thresholds.ram.warn * host.ramMB);
}

/**
 * One Sizing per user count for the searches over every host: the hosts probe mostly the same counts, and a
 * Sizing keeps its worker concurrency and its placement, the costly parts of a probe.
 */
function sharedSizings(input: PlanInput): (users: number) => Sizing {
  const sizings = new Map<number, Sizing>();
  return (users) => {
    let sizing = sizings.get(users);
    if (sizing === undefined) {
      sizing = new Sizing(input, users);
      sizings.set(users, sizing);
    }
    return sizing;
  };
}

/** One bot token sends at most telegramMessagesPerSecond: users ≤ rate × 3600 / (requests × peak × messages). */
function telegramMaxUsers(input: PlanInput): number {
  const exact = (input.telegramMessagesPerSecond * usersPerJobPerSecond(input)) / input.messagesPerJob;
  // Tolerance for binary fractions such as 30 × 3600 / 45 landing a hair under 2400.
  return Math.floor(exact + 1e-9);
}

/** A host resource fits while its utilization stays under the warn mark, the workers growing by the rule. */
function hostFits(
  sizingAt: (users: number) => Sizing,
  used: (sizing: Sizing) => number,
  capacity: number,
  warn: number,
): (users: number) => boolean {
  return (users) => used(sizingAt(users)) < warn * capacity;
}

/** The RAM, CPU and disk of each host: the most users each carries under its warn mark (null: unbounded). */
export function hostLimits(input: PlanInput): { resource: string; maxUsers: number | null }[] {
  const t = input.thresholds;
  const sizingAt = sharedSizings(input);
  return input.hosts.flatMap((host) => {
    const usage = new HostUsage(input, host);
    const cpu = hostFits(sizingAt, (s) => usage.cpuUsedCores(s), host.cpus, t.cpu.warn);
    const disk = hostFits(sizingAt, (s) => usage.diskUsedGB(s), host.diskGB, t.disk.warn);
    return [
      { resource: `ram:${host.name}`, maxUsers: ramMaxUsers(input, host, "rule", sizingAt) },
      { resource: `cpu:${host.name}`, maxUsers: largestFitting(cpu) },
      { resource: `disk:${host.name}`, maxUsers: largestFitting(disk) },
    ];
  });
}

/** The smallest of the hosts' RAM, CPU and disk limits among `limits`; null when none is bounded. */
export function hostsCarry(limits: readonly { resource: string; maxUsers: number | null }[]): number | null {
  const bounded = limits.flatMap((l) =>
    l.maxUsers !== null && /^(ram|cpu|disk):/.test(l.resource) ? [l.maxUsers] : [],
  );
  return bounded.length === 0 ? null : Math.min(...bounded);
}

/** The most users every host carries under all its warn marks; null when no count up to USERS_MAX exhausts them. */
export function hostsMaxUsers(input: PlanInput): number | null {
  return hostsCarry(hostLimits(input));
}

/**
 * What binds first. Worker slots: each step's share of the wait target at today's slots (workers × concurrency).
 * The provider: the wait target for a fal slot at the account limit given (absent when none is given). Telegram: its rate ceiling. RAM, CPU and disk of each host: under warn, with workers
 * following the sizing rule as users grow.
 */
export function resourceLimits(input: PlanInput, workerSlots: number): Limits {
  const candidates: { resource: string; maxUsers: number | null }[] = [
    { resource: "workers", maxUsers: workerSlotsMaxUsers(input, workerSlots) },
  ];
  if (input.providerConcurrency !== undefined) {
    candidates.push({ resource: "provider", maxUsers: providerMaxUsers(input, input.providerConcurrency) });
  }
  candidates.push({ resource: "telegram", maxUsers: telegramMaxUsers(input) }, ...hostLimits(input));
  const limits: ResourceLimit[] = [];
  const unboundedResources: string[] = [];
  for (const c of candidates) {
    if (c.maxUsers === null) unboundedResources.push(c.resource);
    else limits.push({ resource: c.resource, maxUsers: c.maxUsers });
  }
  return { limits, unboundedResources };
}
