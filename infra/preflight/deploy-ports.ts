import type { Plan } from "../../capacity/index.js";
import { usesSwarm } from "../cluster-hosts.js";
import type { PlainConfig } from "../config.js";
import { DATA_PRIVATE_PORTS, type HostRole } from "../host-scripts.js";
import { appMetricsPort, MONITORING_PORTS, tunnelAddress } from "../monitoring-targets.js";
import { botReplicasOf } from "../rollout-order.js";

/** A port the deploy binds on a host: a published container port, a host-network service or WireGuard. */
export interface DeployPort {
  proto: "tcp" | "udp";
  port: number;
  /** The address it binds; 0.0.0.0 for every address. */
  ip: string;
  /** What binds it, as the owner knows it. */
  what: string;
}

/**
 * Every port the program binds on a host, with the address, read from the same constants the components
 * use (Caddy's 80/443, the tunnel's UDP port, the data services and monitoring on the tunnel address or
 * loopback, the app's metrics ports, or the metrics relay's with a Swarm): a listener already there makes that
 * container fail to start.
 */
export function deployPorts(config: PlainConfig, plan: Plan, role: HostRole): DeployPort[] {
  const tunnel = tunnelAddress(config, role);
  const ports: DeployPort[] = [
    { proto: "udp", port: config.wireguardPort, ip: "0.0.0.0", what: "WireGuard (the tunnel)" },
  ];
  const on = (port: number, what: string, ip = tunnel): DeployPort => ({ proto: "tcp", port, ip, what });
  ports.push(on(MONITORING_PORTS.nodeExporter, "node-exporter"), on(MONITORING_PORTS.cadvisor, "cAdvisor"));
  if (role === "automation") {
    ports.push(
      on(80, "Caddy (HTTP, certificates)", "0.0.0.0"),
      on(443, "Caddy (HTTPS)", "0.0.0.0"),
      { proto: "udp", port: 443, ip: "0.0.0.0", what: "Caddy (HTTP/3)" },
      on(MONITORING_PORTS.redisExporter, "the Redis exporter"),
    );
    if (usesSwarm(plan)) {
      // Swarm tasks publish nothing: the relay's /federate is the one metrics port (infra/README.md).
      ports.push(on(MONITORING_PORTS.metricsRelay, "the metrics relay (the Swarm tasks' metrics)"));
    } else {
      for (let r = 1; r <= botReplicasOf(plan); r += 1)
        ports.push(on(appMetricsPort("bot", r), `bot ${r} (metrics)`));
      for (let n = 1; n <= plan.workers; n += 1)
        ports.push(on(appMetricsPort("worker", n), `worker ${n} (metrics)`));
    }
  } else {
    ports.push(
      on(DATA_PRIVATE_PORTS.postgres, "PostgreSQL"),
      on(DATA_PRIVATE_PORTS.qdrant, "Qdrant"),
      on(DATA_PRIVATE_PORTS.directus, "Directus"),
      on(MONITORING_PORTS.grafana, "Grafana"),
      on(MONITORING_PORTS.prometheus, "Prometheus", "127.0.0.1"),
      on(MONITORING_PORTS.alertmanager, "Alertmanager", "127.0.0.1"),
      on(MONITORING_PORTS.postgresExporter, "the PostgreSQL exporter", "127.0.0.1"),
    );
  }
  return ports;
}

/**
 * Ports whose listener means an old service the plan does not count, wherever it listens: a PostgreSQL or
 * Redis left by the old bot holds RAM the plan gives the containers (and data to move first).
 */
export const OLD_SERVICE_PORTS: Record<number, string> = {
  5432: "PostgreSQL",
  6379: "Redis",
  80: "a web server",
  443: "a web server",
};
