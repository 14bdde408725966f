import { HostUsage } from "./host-usage.js";
import type { PlanInput } from "./schema.js";
import { Sizing } from "./sizing.js";

/** The service that stores the metrics; its disk budget grows by the retention the plan gives it. */
export const PROMETHEUS_SERVICE = "prometheus";

/**
 * Share of the disk left under the warn mark that Prometheus's data may take. Half: the other half stays for
 * what grows without a budget (images of new releases, dumps waiting for upload), so the metrics alone can
 * never push the host over its disk mark.
 */
export const RETENTION_SHARE = 0.5;

/** The least retention worth running, GB; below it the plan still deploys it and reports the disk mark. */
export const RETENTION_MIN_GB = 0.5;

/** Where Prometheus runs and how much metric data it keeps (`--storage.tsdb.retention.size`). */
export interface PrometheusRetention {
  host: string;
  retentionGB: number;
}

/**
 * Sizes Prometheus's retention to its host's disk: half of what the host's other budgets leave under the
 * disk warn mark at these users, rounded down to 0.1 GB and at least {@link RETENTION_MIN_GB}. Returns the
 * input with that retention added to the prometheus service's own disk budget (so disk usage, findings and
 * the disk limit count it), or the input unchanged and null when no service is named prometheus. Pure.
 */
export function sizePrometheusRetention(input: PlanInput): {
  input: PlanInput;
  retention: PrometheusRetention | null;
} {
  const service = input.services.find((s) => s.name === PROMETHEUS_SERVICE);
  const host = input.hosts.find((h) => h.name === service?.host);
  if (service === undefined || host === undefined) return { input, retention: null };
  const usedGB = new HostUsage(input, host).diskUsedGB(new Sizing(input, input.users));
  const roomGB = input.thresholds.disk.warn * host.diskGB - usedGB;
  const retentionGB = Math.max(RETENTION_MIN_GB, Math.floor(roomGB * RETENTION_SHARE * 10) / 10);
  return {
    input: {
      ...input,
      services: input.services.map((s) => (s === service ? { ...s, diskGB: s.diskGB + retentionGB } : s)),
    },
    retention: { host: host.name, retentionGB },
  };
}
