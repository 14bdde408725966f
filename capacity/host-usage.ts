import { peakArrivalPerSecond } from "./queue.js";
import type { HostInput, PlanInput, ServiceInput } from "./schema.js";
import { serviceLimitMB } from "./service-limit.js";
import { replicasOf, type Sizing, WORKER_SERVICE } from "./sizing.js";

/** Memory limit of one replica at this sizing; the concurrency is looked up only when it matters. */
export function limitAt(service: ServiceInput, sizing: Sizing): number {
  const concurrency = service.perJobMB > 0 ? sizing.choice.concurrency : 0;
  return serviceLimitMB(service, sizing.users, concurrency);
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

  /** used GB = systemDiskGB + Σ diskGB (images and volumes, once per service) + capped logs per container. */
  diskUsedGB(sizing: Sizing): number {
    let used = this.input.systemDiskGB;
    for (const s of this.#services) used += s.diskGB + this.input.containerLogGB * replicasOf(s, sizing);
    return used;
  }
}
