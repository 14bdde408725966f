import { stringify } from "yaml";
import { SWARM_STACK, swarmServiceHost } from "./swarm-stack.js";

/** One placement of a Swarm service: its tasks answer on `tasks.tapbot_<service>-<host>`. */
export interface RelayPlacement {
  /** The plan's service, and the scrape job its tasks get (the alert rules and dashboards read `job`). */
  service: "bot" | "worker";
  /** The plan host the placement's tasks run on: their `host` label, as on two hosts. */
  host: string;
  /** The plan's replicas there: the tasks the central Prometheus expects to see (SwarmTasksMissing). */
  replicas: number;
}

/** Inputs of the relay's prometheus.yml. */
export interface MetricsRelayConfigOptions {
  scrapeIntervalSeconds: number;
  /** The port of each task's ops server (/metrics), the app's HTTP port. */
  taskPort: number;
  placements: RelayPlacement[];
}

/** The `match[]` the central Prometheus asks the relay's /federate for: every series of the tasks' jobs, `up` too. */
export const RELAY_FEDERATE_MATCH = ['{job=~"bot|worker"}'];

const HOST = /^[a-z][a-z0-9-]*$/;

/**
 * prometheus.yml of the metrics relay: a Prometheus on the Swarm's overlay network that finds every running
 * task of each placement by DNS (`tasks.tapbot_<service>-<host>`, type A: one address per task, refreshed each
 * scrape interval) and scrapes its /metrics. One job per service (`bot`, `worker`, the names the alert rules
 * read), each task labelled with its placement's `host` (read back from the DNS name it came from) and the
 * task's address as `instance`. The central Prometheus takes these series, `up` included, through /federate.
 * No rule files and no Alertmanager: the central one evaluates and sends. Pure.
 */
export function renderMetricsRelayConfig(options: MetricsRelayConfigOptions): string {
  const { scrapeIntervalSeconds: seconds, taskPort } = options;
  if (!Number.isInteger(seconds) || seconds < 1)
    throw new Error(`interval must be whole seconds ≥ 1; got ${seconds}`);
  if (!Number.isInteger(taskPort) || taskPort < 1 || taskPort > 65535) {
    throw new Error(`taskPort must be 1..65535; got ${taskPort}`);
  }
  if (options.placements.length === 0)
    throw new Error("the relay needs at least one Swarm placement to scrape");
  const seen = new Set<string>();
  for (const p of options.placements) {
    if (!HOST.test(p.host))
      throw new Error(`placement host must be a plan host name like app-2; got ${p.host}`);
    if (!Number.isInteger(p.replicas) || p.replicas < 1) {
      throw new Error(`${p.service} on ${p.host}: replicas must be an integer ≥ 1; got ${p.replicas}`);
    }
    const key = `${p.service}-${p.host}`;
    if (seen.has(key)) throw new Error(`placement ${key} is listed twice`);
    seen.add(key);
  }
  const jobs = (["bot", "worker"] as const).flatMap((service) => {
    const names = options.placements
      .filter((p) => p.service === service)
      .map((p) => `tasks.${swarmServiceHost(service, p.host)}`);
    if (names.length === 0) return [];
    return [
      {
        job_name: service,
        dns_sd_configs: [{ names, type: "A", port: taskPort, refresh_interval: `${seconds}s` }],
        relabel_configs: [
          {
            source_labels: ["__meta_dns_name"],
            // The name as asked, or with the root's dot: the host is what follows `<service>-`.
            regex: `tasks\\.${SWARM_STACK}_${service}-(.+?)\\.?`,
            target_label: "host",
            replacement: "$1",
          },
        ],
      },
    ];
  });
  const config = {
    global: { scrape_interval: `${seconds}s`, evaluation_interval: `${seconds}s` },
    scrape_configs: jobs,
  };
  return `# Managed by tapbot infra (Pulumi): the Swarm tasks' metrics, relayed to the data host's Prometheus.\n${stringify(config, { lineWidth: 0 })}`;
}
