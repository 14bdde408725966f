import { imageBuildOf } from "./image-build.js";
import { hostAdmits, type Placement, placeReplicas } from "./placement.js";
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

/** The placements already computed, per sizing: every host's usage at one sizing shares one packing. */
const placements = new WeakMap<Sizing, Placement>();

/** Where every replica runs at this sizing (placement.ts): pinned services on their host, the others packed. */
export function placementAt(sizing: Sizing): Placement {
  let placement = placements.get(sizing);
  if (placement === undefined) {
    const { input } = sizing;
    const demands = input.services.map((s) => ({
      name: s.name,
      host: s.host,
      replicas: replicasOf(s, sizing),
      limitMB: limitAt(s, sizing),
    }));
    placement = placeReplicas(input.hosts, demands, input.thresholds.ram.warn);
    placements.set(sizing, placement);
  }
  return placement;
}

/** A service and how many of its replicas run on one host. */
export interface ServiceOnHost {
  service: ServiceInput;
  replicas: number;
}

/**
 * What the services on one host use of its RAM, CPU and disk at a given sizing. Every figure grows with
 * users (per-user memory, more worker replicas, more jobs per second), which the maxUsers searches rely on;
 * they call these hundreds of times per plan, so the host's pinned services are picked out once, here, and
 * the packing runs only when the host's roles admit a service that has no fixed host.
 */
export class HostUsage {
  readonly #pinned: ServiceInput[];
  readonly #packed: boolean;

  constructor(
    private readonly input: PlanInput,
    private readonly host: HostInput,
  ) {
    this.#pinned = input.services.filter((s) => s.host === host.name);
    // A host whose roles admit no unpinned service runs its pinned ones only, whatever the packing does.
    this.#packed = input.services.some((s) => s.host === undefined && hostAdmits(host, s.name));
  }

  /** The services with replicas on this host at this sizing, in the input's order. */
  services(sizing: Sizing): ServiceOnHost[] {
    if (!this.#packed)
      return this.#pinned.map((service) => ({ service, replicas: replicasOf(service, sizing) }));
    const here = placementAt(sizing).hosts.find((h) => h.name === this.host.name)?.replicas;
    return this.input.services
      .map((service) => ({ service, replicas: here?.get(service.name) ?? 0 }))
      .filter((s) => s.replicas > 0);
  }

  /** used = systemReserveMB + Σ limit × replicas: the limits are what Docker lets each container take. */
  ramUsedMB(sizing: Sizing): number {
    let used = this.host.systemReserveMB;
    for (const s of this.services(sizing)) used += limitAt(s.service, sizing) * s.replicas;
    return used;
  }

  /**
   * used cores = Σ cpuCores × replicas, plus the steps' CPU, λ × stepsPerJob × cpuSecondsPerStep, shared among
   * the workers' hosts by their worker replicas.
   */
  cpuUsedCores(sizing: Sizing): number {
    let used = 0;
    let workersHere = 0;
    for (const s of this.services(sizing)) {
      used += s.service.cpuCores * s.replicas;
      if (s.service.name === WORKER_SERVICE) workersHere = s.replicas;
    }
    if (workersHere > 0)
      used +=
        peakArrivalPerSecond(sizing.users, this.input) *
        this.input.stepsPerJob *
        this.input.cpuSecondsPerStep *
        (workersHere / sizing.workers);
    return used;
  }

  /**
   * used GB = systemDiskGB + Σ diskGB (images and volumes, once per service on the host) + capped logs per
   * container, plus the image build's cache and previous image on the host that builds it.
   */
  diskUsedGB(sizing: Sizing): number {
    let used = this.input.systemDiskGB;
    for (const s of this.services(sizing)) used += s.service.diskGB + this.input.containerLogGB * s.replicas;
    const build = imageBuildOf(this.input);
    if (build?.host === this.host.name) used += build.diskGB;
    return used;
  }
}
