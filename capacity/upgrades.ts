import type { Offer, PlanInput } from "./schema.js";
import type { HostPlan, Upgrade } from "./types.js";

/** The upgrades the plan proposes, and the hosts over warn that no offer fits. */
export interface UpgradeAdvice {
  upgrades: Upgrade[];
  noFit: string[];
}

/** Whether the host's RAM, CPU or disk is at or over its warn mark. */
export function overWarn(host: HostPlan): boolean {
  return host.status !== "ok" || host.cpu.status !== "ok" || host.disk.status !== "ok";
}

/** Whether the host's load sits under every warn mark on the offer's RAM, CPU and disk. */
function fitsOn(host: HostPlan, offer: Offer, t: PlanInput["thresholds"]): boolean {
  return (
    host.usedMB < t.ram.warn * offer.ramMB &&
    host.cpu.usedCores < t.cpu.warn * offer.cpus &&
    host.disk.usedGB < t.disk.warn * offer.diskGB
  );
}

/**
 * For each host at or over a warn mark, the cheapest catalog offer on which the same services at the same
 * users sit under every warn mark (ties: more RAM). The load does not depend on the machine, only its share.
 */
export function adviseUpgrades(input: PlanInput, hosts: HostPlan[]): UpgradeAdvice {
  const upgrades: Upgrade[] = [];
  const noFit: string[] = [];
  for (const host of hosts.filter(overWarn)) {
    const hostInput = input.hosts.find((h) => h.name === host.name);
    const price = hostInput?.priceRubPerMonth ?? 0;
    const best = input.catalog
      .filter((o) => fitsOn(host, o, input.thresholds))
      .sort((x, y) => x.priceRubPerMonth - y.priceRubPerMonth || y.ramMB - x.ramMB)[0];
    if (best === undefined) {
      noFit.push(host.name);
      continue;
    }
    const today = input.catalog.find(
      (o) => o.ramMB === host.ramMB && o.cpus === host.cpu.cpus && o.diskGB === host.disk.diskGB,
    );
    upgrades.push({
      host: host.name,
      from: today?.name ?? null,
      to: best.name,
      priceBeforeRubPerMonth: price,
      priceAfterRubPerMonth: best.priceRubPerMonth,
    });
  }
  return { upgrades, noFit };
}
