import { HostUsage, limitAt } from "./host-usage.js";
import { imageBuildOf } from "./image-build.js";
import type { HostInput, PlanInput } from "./schema.js";
import type { Sizing } from "./sizing.js";
import { statusOf } from "./status.js";
import { swapMB } from "./swap.js";
import type { HostPlan } from "./types.js";

/**
 * One host of the plan at the given sizing: the replicas placed on it (each ServicePlan's `replicas` counts
 * those on this host only), their limits, and its RAM, CPU and disk against the marks.
 */
export function hostPlan(input: PlanInput, host: HostInput, sizing: Sizing): HostPlan {
  const t = input.thresholds;
  const usage = new HostUsage(input, host);
  const usedMB = usage.ramUsedMB(sizing);
  const utilization = usedMB / host.ramMB;
  const status = statusOf(utilization, t.ram);
  const usedCores = usage.cpuUsedCores(sizing);
  const usedGB = usage.diskUsedGB(sizing);
  return {
    name: host.name,
    ramMB: host.ramMB,
    usedMB,
    utilization,
    status,
    swapMB: swapMB(status),
    deployPeakMB: usedMB + (imageBuildOf(input)?.host === host.name ? (imageBuildOf(input)?.peakMB ?? 0) : 0),
    cpu: {
      cpus: host.cpus,
      usedCores,
      utilization: usedCores / host.cpus,
      status: statusOf(usedCores / host.cpus, t.cpu),
    },
    disk: {
      diskGB: host.diskGB,
      usedGB,
      utilization: usedGB / host.diskGB,
      status: statusOf(usedGB / host.diskGB, t.disk),
    },
    services: usage.services(sizing).map(({ service, replicas }) => ({
      name: service.name,
      host: host.name,
      replicas,
      limitMB: limitAt(service, sizing),
      reservationMB: service.reservationMB,
      cpuCores: service.cpuCores,
    })),
  };
}
