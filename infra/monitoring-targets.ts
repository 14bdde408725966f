import type { Plan } from "../capacity/index.js";
import { usesSwarm } from "./cluster-hosts.js";
import type { PlainConfig } from "./config.js";
import type { HostRole } from "./host-scripts.js";
import { extraHostAgents, type HostAgent, METRICS_RELAY, servicePlacements } from "./plan-services.js";
import { RELAY_FEDERATE_MATCH, type RelayPlacement } from "./render/metrics-relay-config.js";
import type { ScrapeJob } from "./render/prometheus-config.js";
import { botReplicasOf } from "./rollout-order.js";

/**
 * Ports of the monitoring endpoints. Host agents (node-exporter, cAdvisor) run in the host's network and
 * listen on its tunnel address; the Redis exporter and the app publish theirs on the automation host's
 * tunnel address; Prometheus, Alertmanager and the PostgreSQL exporter answer on the data host's loopback
 * only; Grafana listens on the data host's tunnel address for Caddy. Nothing listens on a public address.
 */
export const MONITORING_PORTS = {
  nodeExporter: 9100,
  cadvisor: 9338,
  redisExporter: 9121,
  postgresExporter: 9187,
  prometheus: 9090,
  alertmanager: 9093,
  grafana: 3000,
  /** Bot replica r publishes its ops port on botBase + r (r from 1). */
  botBase: 9390,
  /** Worker n publishes its ops port on workerBase + n (n from 1). */
  workerBase: 9400,
  /** With more than two hosts: the metrics relay's /federate, on the automation host's tunnel address. */
  metricsRelay: 9095,
} as const;

/** The host port where an app process's ops server (/metrics) is published: bot r on 9390 + r, worker n on 9400 + n. */
export function appMetricsPort(role: "bot" | "worker", index: number): number {
  if (!Number.isInteger(index) || index < 1) throw new Error(`replica numbers start at 1; got ${index}`);
  return (role === "bot" ? MONITORING_PORTS.botBase : MONITORING_PORTS.workerBase) + index;
}

/** The tunnel address of a host. */
export function tunnelAddress(config: PlainConfig, role: HostRole): string {
  return role === "automation" ? config.automationTunnelAddress : config.dataTunnelAddress;
}

/**
 * What Prometheus (on the data host) scrapes: node-exporter and cAdvisor of both hosts, the Redis and
 * PostgreSQL exporters, itself, Alertmanager, the bot and every worker of the plan, each labelled with
 * its host and a readable instance. Pure. With more than two hosts the bot and the workers are Swarm tasks
 * that publish no port: the metrics relay on the overlay scrapes them (jobs `bot` and `worker`, labelled with
 * their placement's host), and Prometheus takes those series from its /federate (job `metrics-relay`).
 */
export function scrapeJobs(config: PlainConfig, plan: Plan): ScrapeJob[] {
  const roles: HostRole[] = ["automation", "data"];
  // The extra hosts' agents where the plan has them (`node-exporter-<host>`), at their tunnel addresses.
  const agent = (port: number, name: HostAgent) => [
    ...roles.map((host) => ({ address: `${tunnelAddress(config, host)}:${port}`, host, instance: host })),
    ...config.extraHosts
      .filter((host) => extraHostAgents(plan, host.name).some((a) => a.agent === name))
      .map((host) => ({ address: `${host.tunnelAddress}:${port}`, host: host.name, instance: host.name })),
  ];
  const automation = config.automationTunnelAddress;
  const local = (port: number) => [{ address: `127.0.0.1:${port}`, host: "data", instance: "data" }];
  const bots = botReplicasOf(plan);
  const appJobs: ScrapeJob[] = usesSwarm(plan)
    ? [
        {
          name: METRICS_RELAY,
          federate: RELAY_FEDERATE_MATCH,
          targets: [
            {
              address: `${automation}:${MONITORING_PORTS.metricsRelay}`,
              host: "automation",
              instance: METRICS_RELAY,
            },
          ],
        },
      ]
    : [
        {
          name: "bot",
          targets: Array.from({ length: bots }, (_, i) => ({
            address: `${automation}:${appMetricsPort("bot", i + 1)}`,
            host: "automation",
            instance: bots === 1 ? "bot" : `bot-${i + 1}`,
          })),
        },
        {
          name: "worker",
          targets: Array.from({ length: plan.workers }, (_, i) => ({
            address: `${automation}:${appMetricsPort("worker", i + 1)}`,
            host: "automation",
            instance: `worker-${i + 1}`,
          })),
        },
      ];
  return [
    { name: "node", targets: agent(MONITORING_PORTS.nodeExporter, "node-exporter") },
    { name: "cadvisor", targets: agent(MONITORING_PORTS.cadvisor, "cadvisor") },
    {
      name: "redis",
      targets: [
        { address: `${automation}:${MONITORING_PORTS.redisExporter}`, host: "automation", instance: "redis" },
      ],
    },
    {
      name: "postgres",
      targets: [
        { address: `127.0.0.1:${MONITORING_PORTS.postgresExporter}`, host: "data", instance: "postgres" },
      ],
    },
    { name: "prometheus", targets: local(MONITORING_PORTS.prometheus) },
    { name: "alertmanager", targets: local(MONITORING_PORTS.alertmanager) },
    ...appJobs,
  ];
}

/** The Swarm placements of the bot and the workers (more than two hosts), as the relay scrapes them. */
export function relayPlacements(plan: Plan): RelayPlacement[] {
  return (["bot", "worker"] as const).flatMap((service) =>
    servicePlacements(plan, service).map((p) => ({ service, host: p.host, replicas: p.replicas })),
  );
}
