import { imageBuildOf } from "./image-build.js";
import { peakArrivalPerSecond } from "./queue.js";
import { redisData } from "./redis-data.js";
import type { HostInput, PlanInput, ServiceInput } from "./schema.js";
import { serviceLimitMB } from "./service-limit.js";
import { replicasOf, type Sizing, WORKER_SERVICE } from "./sizing.js";
import { slotSeconds } from "./slot-hold.js";

/** The service whose memory holds the queue, the caches and the logs of the app. */
export const REDIS_SERVICE = "redis";

/** fal slots whose leases Redis holds: the account limit, or about the jobs at fal when none is given. */
export function falSlotsOf(input: PlanInput, users: number): number {
  return input.providerConcurrency ?? Math.ceil(peakArrivalPerSecond(users, input) * slotSeconds(input)) + 1;
}

/**
 * Memory limit of one replica at this sizing; the concurrency is looked up only when it matters. Redis's
 * limit is at least twice the maxmemory its data needs at these users (a fork for an AOF rewrite can double
 * it; redis-settings.ts sets maxmemory to half the limit).
 */
export function limitAt(service: ServiceInput, sizing: Sizing): number {
  const concurrency = service.perJobMB > 0 ? sizing.choice.concurrency : 0;
  const limit = serviceLimitMB(service, sizing.users, concurrency);
  if (service.name !== REDIS_SERVICE) return limit;
  const data = redisData(sizing.input, sizing.users, falSlotsOf(sizing.input, sizing.users));
  return Math.max(limit, 2 * data.neededMaxmemoryMB);
}

/**
 * What the services placed on one host use of its RAM, CPU and disk at a given sizing. Every figure grows with
 * users (per-user memory, more worker replicas, more jobs per second), which the maxUsers searches rely on;
 * they call these hundreds of times per plan, so the host's services are picked out once, here.
 */
export class HostUsage {
  readonly #services: ServiceInput[];
  readonly #runsWorkers: boolean;

  constructor(
    private readonly input: PlanInput,
    private readonly host: HostInput,
  ) {
    this.#services = input.services.filter((s) => s.host === host.name);
    this.#runsWorkers = this.#services.some((s) => s.name === WORKER_SERVICE);
  }

  /** used = systemReserveMB + Σ limit × replicas: the limits are what Docker lets each container take. */
  ramUsedMB(sizing: Sizing): number {
    let used = this.host.systemReserveMB;
    for (const s of this.#services) used += limitAt(s, sizing) * replicasOf(s, sizing);
    return used;
  }

  /** used cores = Σ cpuCores × replicas, plus the steps' CPU, λ × stepsPerJob × cpuSecondsPerStep, on the workers' host. */
  cpuUsedCores(sizing: Sizing): number {
    let used = 0;
    for (const s of this.#services) used += s.cpuCores * replicasOf(s, sizing);
    if (this.#runsWorkers)
      used +=
        peakArrivalPerSecond(sizing.users, this.input) *
        this.input.stepsPerJob *
        this.input.cpuSecondsPerStep;
    return used;
  }

  /**
   * used GB = systemDiskGB + Σ diskGB (images and volumes, once per service) + capped logs per container, plus
   * the image build's cache and previous image on the host that builds it.
   */
  diskUsedGB(sizing: Sizing): number {
    let used = this.input.systemDiskGB;
    for (const s of this.#services) used += s.diskGB + this.input.containerLogGB * replicasOf(s, sizing);
    const build = imageBuildOf(this.input);
    if (build?.host === this.host.name) used += build.diskGB;
    return used;
  }
}
