import {
  HOST_AGENTS,
  type HostPlan,
  METRICS_RELAY_SERVICE,
  type Plan,
  type ServicePlan,
} from "../capacity/index.js";
import type { HostRole } from "./host-scripts.js";

/** The services this program knows how to run, and the host each must be on. */
export const DEPLOYABLE_SERVICES = {
  redis: "automation",
  n8n: "automation",
  caddy: "automation",
  bot: "automation",
  worker: "automation",
  board: "automation",
  postgres: "data",
  directus: "data",
  qdrant: "data",
  prometheus: "data",
  alertmanager: "data",
  grafana: "data",
  "postgres-exporter": "data",
  "node-exporter-data": "data",
  "cadvisor-data": "data",
  "redis-exporter": "automation",
  "node-exporter-automation": "automation",
  "cadvisor-automation": "automation",
} as const satisfies Record<string, HostRole>;

/** Name of a service the program deploys. */
export type ServiceName = keyof typeof DEPLOYABLE_SERVICES;

/**
 * The services a plan of more than two hosts may place on any host (as Swarm services, in replicas on several
 * hosts): they keep no state on their host. The rest stay where their data, ports or peers are.
 */
export const SWARM_SERVICES = ["bot", "worker"] as const;

/** Name of a service that runs on the Swarm when the plan has more than two hosts. */
export type SwarmServiceName = (typeof SWARM_SERVICES)[number];

/**
 * The host agents a plan may pin on an extra host, named `<agent>-<host>` as on the base hosts
 * (`node-exporter-worker-1`): the program runs them there for Prometheus, like the base hosts' own.
 */
export { HOST_AGENTS };

/**
 * With more than two hosts only: the Prometheus on the Swarm's overlay that scrapes the bot's and the workers'
 * tasks for the data host's Prometheus (infra/README.md, "Metrics of the Swarm tasks"). The plan sizes it on the
 * automation host (capacity's METRICS_RELAY_SERVICE, which growing out adds); a two-host plan has none.
 */
export const METRICS_RELAY = METRICS_RELAY_SERVICE.name;

/** Name of a host agent. */
export type HostAgent = (typeof HOST_AGENTS)[number];

/** The agents the plan places on an extra host, and each one's plan. */
export function extraHostAgents(plan: Plan, host: string): { agent: HostAgent; plan: ServicePlan }[] {
  const services = plan.hosts.find((h) => h.name === host)?.services ?? [];
  return HOST_AGENTS.flatMap((agent) => {
    const service = services.find((s) => s.name === `${agent}-${host}`);
    return service === undefined ? [] : [{ agent, plan: service }];
  });
}

/** The relay as a stack file lists it, on the automation host: `{ name: metrics-relay, host: automation, … }`. */
function relayInput(): string {
  const { name, ...sizes } = METRICS_RELAY_SERVICE;
  const fields = Object.entries({ name, host: "automation", ...sizes }).map(
    ([key, value]) => `${key}: ${value}`,
  );
  return `{ ${fields.join(", ")} }`;
}

/** A plan the program cannot deploy as is. */
export class UndeployablePlanError extends Error {
  override name = "UndeployablePlanError";
}

/**
 * Checks that the plan is one this program can deploy exactly: hosts named automation and data (and, beyond
 * them, hosts for the Swarm services only), every service known and placed on its host (bot and workers on
 * any host once there are more than two), every known service present. Deploying "roughly" the plan would
 * break the promise that the CLI's numbers are the deployed numbers, so anything else is an error.
 */
export function checkDeployable(plan: Plan): void {
  const problems: string[] = [];
  const hostNames = plan.hosts.map((h) => h.name);
  for (const base of ["automation", "data"]) {
    if (!hostNames.includes(base)) {
      problems.push(`hosts must include "automation" and "data"; the plan has ${JSON.stringify(hostNames)}`);
      break;
    }
  }
  const swarm = plan.hosts.length > 2;
  const movable = (name: string) => swarm && (SWARM_SERVICES as readonly string[]).includes(name);
  const seen = new Set<string>();
  for (const host of plan.hosts) {
    for (const service of host.services) {
      seen.add(service.name);
      const wanted = (DEPLOYABLE_SERVICES as Record<string, HostRole | undefined>)[service.name];
      const extraAgent =
        swarm &&
        service.host !== "automation" &&
        service.host !== "data" &&
        HOST_AGENTS.some((agent) => service.name === `${agent}-${service.host}`);
      if (extraAgent) continue;
      if (service.name === METRICS_RELAY) {
        if (!swarm) problems.push(`service "${METRICS_RELAY}" runs only with more than two hosts; remove it`);
        else if (service.host !== "automation") {
          problems.push(
            `service "${METRICS_RELAY}" must be on the automation host; the plan puts it on "${service.host}"`,
          );
        }
        continue;
      }
      if (wanted === undefined) {
        problems.push(
          `service "${service.name}" is not one this program runs (${Object.keys(DEPLOYABLE_SERVICES).join(", ")})`,
        );
      } else if (service.host !== wanted && !movable(service.name)) {
        problems.push(
          `service "${service.name}" must be on the ${wanted} host${(SWARM_SERVICES as readonly string[]).includes(service.name) ? " (with two hosts; beyond two it may be on any)" : ""}; the plan puts it on "${service.host}"`,
        );
      }
    }
  }
  for (const name of Object.keys(DEPLOYABLE_SERVICES)) {
    if (!seen.has(name)) problems.push(`the plan has no "${name}" service`);
  }
  if (swarm && !seen.has(METRICS_RELAY)) {
    problems.push(
      `the plan has no "${METRICS_RELAY}" service: with more than two hosts Prometheus reads the bot's and the workers' metrics through it; add ${relayInput()}`,
    );
  }
  if (plan.postgres === null) problems.push("the plan has no PostgreSQL settings");
  if (problems.length > 0) {
    throw new UndeployablePlanError(
      `tapbot:capacity gives a plan this program cannot deploy:\n  - ${problems.join("\n  - ")}`,
    );
  }
}

/** The plan of one host. */
export function hostPlan(plan: Plan, name: string): HostPlan {
  const host = plan.hosts.find((h) => h.name === name);
  if (host === undefined) throw new UndeployablePlanError(`the plan has no "${name}" host`);
  return host;
}

/** The hosts the plan gives bot or worker replicas (the Swarm's task hosts), in the plan's host order. */
export function swarmAppHosts(plan: Plan): string[] {
  return plan.hosts
    .filter((h) => h.services.some((s) => (SWARM_SERVICES as readonly string[]).includes(s.name)))
    .map((h) => h.name);
}

/** The plan of one service. */
export function servicePlan(plan: Plan, name: ServiceName): ServicePlan {
  for (const host of plan.hosts) {
    const service = host.services.find((s) => s.name === name);
    if (service !== undefined) return service;
  }
  throw new UndeployablePlanError(`the plan has no "${name}" service`);
}

/**
 * Every placement of one service, one per host it runs on (the plan may split a Swarm service's replicas over
 * several hosts), in the plan's host order.
 */
export function servicePlacements(plan: Plan, name: ServiceName): ServicePlan[] {
  const found = plan.hosts.flatMap((h) => h.services.filter((s) => s.name === name));
  if (found.length === 0) throw new UndeployablePlanError(`the plan has no "${name}" service`);
  return found;
}
