import { stringify } from "yaml";

/** One endpoint Prometheus scrapes. */
export interface ScrapeTarget {
  /** host:port */
  address: string;
  /** The host it runs on (`automation`, `data`): every alert and dashboard groups by it. */
  host: string;
  /** A readable name for the instance (`worker-3`); the address when unset. */
  instance?: string;
}

/** A scrape job: one kind of endpoint (node, cadvisor, bot, worker, …). */
export interface ScrapeJob {
  name: string;
  targets: ScrapeTarget[];
  /** @defaultValue "/metrics" */
  metricsPath?: string;
  /**
   * Scrape another Prometheus's `/federate` for these `match[]` selectors instead of /metrics, keeping the
   * labels the series carry there (`honor_labels`): the Swarm tasks' `job`, `host` and `instance` as the relay
   * gave them, not the relay's own. The samples take this scrape's time (`honor_timestamps: false`): series
   * with timestamps of their own are never marked stale, so a task gone from the relay, or the whole relay
   * down, would look alive for the five-minute lookback; with this scrape's time both are stale at once.
   */
  federate?: string[];
}

/** Inputs of prometheus.yml. */
export interface PrometheusConfigOptions {
  scrapeIntervalSeconds: number;
  evaluationIntervalSeconds: number;
  /** host:port of Alertmanager. */
  alertmanager: string;
  /** Paths of the rule files, as Prometheus sees them. */
  ruleFiles: string[];
  jobs: ScrapeJob[];
}

const ADDRESS = /^[a-z0-9.-]+:[0-9]{1,5}$/i;
const NAME = /^[a-z][a-z0-9_-]*$/;

/**
 * prometheus.yml: global intervals, the Alertmanager to send to, the rule files, and one static job per kind
 * of endpoint. Each target carries a `host` label and a readable `instance`, so alerts say "worker-3 on
 * automation", not an address. Retention is not here: it is a command-line flag (see the Monitoring
 * component). Pure.
 */
export function renderPrometheusConfig(options: PrometheusConfigOptions): string {
  for (const seconds of [options.scrapeIntervalSeconds, options.evaluationIntervalSeconds]) {
    if (!Number.isInteger(seconds) || seconds < 1)
      throw new Error(`intervals must be whole seconds ≥ 1; got ${seconds}`);
  }
  if (!ADDRESS.test(options.alertmanager)) {
    throw new Error(`alertmanager must be host:port; got ${options.alertmanager}`);
  }
  const seen = new Set<string>();
  const scrapeConfigs = options.jobs.map((job) => {
    if (!NAME.test(job.name)) throw new Error(`job name must be like node_exporter; got ${job.name}`);
    if (seen.has(job.name)) throw new Error(`job ${job.name} is listed twice`);
    seen.add(job.name);
    if (job.federate !== undefined && (job.federate.length === 0 || job.metricsPath !== undefined)) {
      throw new Error(
        `${job.name}: federate needs at least one match[] selector and no metricsPath of its own`,
      );
    }
    return {
      job_name: job.name,
      ...(job.metricsPath === undefined ? {} : { metrics_path: job.metricsPath }),
      ...(job.federate === undefined
        ? {}
        : {
            metrics_path: "/federate",
            honor_labels: true,
            honor_timestamps: false,
            params: { "match[]": job.federate },
          }),
      static_configs: job.targets.map((target) => {
        if (!ADDRESS.test(target.address)) {
          throw new Error(`${job.name} target must be host:port; got ${target.address}`);
        }
        return {
          targets: [target.address],
          labels: { host: target.host, instance: target.instance ?? target.address },
        };
      }),
    };
  });
  const config = {
    global: {
      scrape_interval: `${options.scrapeIntervalSeconds}s`,
      evaluation_interval: `${options.evaluationIntervalSeconds}s`,
    },
    alerting: { alertmanagers: [{ static_configs: [{ targets: [options.alertmanager] }] }] },
    rule_files: options.ruleFiles,
    scrape_configs: scrapeConfigs,
  };
  return `# Managed by tapbot infra (Pulumi).\n${stringify(config, { lineWidth: 0 })}`;
}
