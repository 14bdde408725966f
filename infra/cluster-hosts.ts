import type { Plan } from "../capacity/index.js";
import { CONFIG_NAMESPACE, InfraConfigError, type PlainConfig } from "./config.js";

/** One server of the deployment, whichever config keys describe it. */
export interface ClusterHost {
  /** The plan's host name: automation, data, or an extra host's; the Swarm node label `tapbot.host`. */
  name: string;
  /** Public address: SSH, WireGuard. */
  address: string;
  /** Pinned ed25519 SSH host key. */
  hostKey: string;
  /** Address on the WireGuard tunnel, where the Swarm's control and data planes listen. */
  tunnelAddress: string;
}

/**
 * Every host of the deployment, the two base hosts first, then `tapbot:extraHosts` in their order, after
 * checking that the config and the plan name the same hosts: a plan host without an address could not be
 * deployed, and an extra host the plan gives nothing would be hardened and joined for nothing (most likely a
 * misspelt name). Throws {@link InfraConfigError} naming each mismatch and what would fix it.
 */
export function clusterHosts(config: PlainConfig, plan: Plan): ClusterHost[] {
  const hosts: ClusterHost[] = [
    {
      name: "automation",
      address: config.automationHost,
      hostKey: config.automationHostKey,
      tunnelAddress: config.automationTunnelAddress,
    },
    {
      name: "data",
      address: config.dataHost,
      hostKey: config.dataHostKey,
      tunnelAddress: config.dataTunnelAddress,
    },
    ...config.extraHosts,
  ];
  const configured = hosts.map((h) => h.name);
  const planned = plan.hosts.map((h) => h.name);
  const problems: string[] = [];
  for (const name of planned) {
    if (!configured.includes(name)) {
      problems.push(
        `${CONFIG_NAMESPACE}:capacity.hosts has "${name}", which no host of the stack is: add it to ${CONFIG_NAMESPACE}:extraHosts with its name, address, hostKey and tunnelAddress (configured: ${configured.join(", ")})`,
      );
    }
  }
  config.extraHosts.forEach((host, i) => {
    if (!planned.includes(host.name)) {
      problems.push(
        `${CONFIG_NAMESPACE}:extraHosts.${i}.name: "${host.name}" is not a host of the plan; expected one of ${CONFIG_NAMESPACE}:capacity.hosts: ${planned.join(", ")}`,
      );
    }
  });
  if (problems.length > 0) throw new InfraConfigError(problems);
  return hosts;
}

/**
 * Whether the deployment runs a Swarm: only with more than the two base hosts. Two hosts keep the plain
 * containers they run today (infra/README.md, "More than two hosts", says why).
 */
export function usesSwarm(plan: Plan): boolean {
  return plan.hosts.length > 2;
}
