import type { Marks } from "./alert-rules.js";

/** The uid of the provisioned Prometheus data source every panel queries. */
export const DATASOURCE_UID = "tapbot-prometheus";

/** One PromQL query of a panel. */
export interface PanelQuery {
  expr: string;
  legendFormat: string;
}

/** A time-series or stat panel, as Grafana's dashboard JSON (schemaVersion 39) holds it. */
export interface Panel {
  id: number;
  type: "timeseries" | "stat";
  title: string;
  description: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: "prometheus"; uid: string };
  targets: (PanelQuery & { refId: string; datasource: { type: "prometheus"; uid: string } })[];
  fieldConfig: {
    defaults: {
      unit: string;
      min?: number;
      max?: number;
      thresholds: { mode: "absolute"; steps: { color: string; value: number | null }[] };
      custom?: { thresholdsStyle: { mode: "line" } };
    };
    overrides: never[];
  };
  options: Record<string, unknown>;
}

/** A dashboard file Grafana's file provider loads. */
export interface Dashboard {
  uid: string;
  title: string;
  tags: string[];
  timezone: "browser";
  schemaVersion: number;
  version: number;
  editable: boolean;
  refresh: string;
  time: { from: string; to: string };
  panels: Panel[];
}

/** What the dashboards draw their threshold lines at: the plan's marks. */
export interface DashboardMarks {
  ram: Marks;
  cpu: Marks;
  disk: Marks;
  queueLength: number;
  falWaitTargetSeconds: number;
}

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: PanelQuery[];
  /** Warn and critical lines, in the panel's unit. */
  marks?: { warn: number; crit: number };
  max?: number;
  type?: "timeseries" | "stat";
}

const source = { type: "prometheus" as const, uid: DATASOURCE_UID };

function panels(specs: PanelSpec[]): Panel[] {
  return specs.map((spec, i) => ({
    id: i + 1,
    type: spec.type ?? "timeseries",
    title: spec.title,
    description: spec.description,
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    datasource: source,
    targets: spec.queries.map((q, j) => ({ ...q, refId: String.fromCharCode(65 + j), datasource: source })),
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        min: 0,
        ...(spec.max === undefined ? {} : { max: spec.max }),
        thresholds: {
          mode: "absolute",
          steps: [
            { color: "green", value: null },
            ...(spec.marks === undefined
              ? []
              : [
                  { color: "orange", value: spec.marks.warn },
                  { color: "red", value: spec.marks.crit },
                ]),
          ],
        },
        ...(spec.marks === undefined || spec.type === "stat"
          ? {}
          : { custom: { thresholdsStyle: { mode: "line" as const } } }),
      },
      overrides: [],
    },
    options:
      spec.type === "stat"
        ? { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "background" }
        : { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi" } },
  }));
}

function dashboard(uid: string, title: string, specs: PanelSpec[]): Dashboard {
  return {
    uid,
    title,
    tags: ["tapbot"],
    timezone: "browser",
    schemaVersion: 39,
    version: 1,
    editable: false,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    panels: panels(specs),
  };
}

/**
 * The four dashboards the owner finds in Grafana's "tapbot" folder: Overview (is everything up, is the queue
 * moving), Hosts (RAM, CPU, disk, swap against the plan's marks), Containers (each container's memory against
 * its limit, CPU) and Queue & fal (backlog, wait for a fal slot against the target, slots, jobs, Telegram
 * errors). Threshold lines are the plan's marks, so the dashboards and the alerts draw the same lines. Pure.
 */
export function grafanaDashboards(marks: DashboardMarks): Dashboard[] {
  const pct = (m: Marks) => ({ warn: m.warn, crit: m.crit });
  return [
    dashboard("tapbot-overview", "tapbot: Overview", [
      {
        title: "Processes up",
        description: "Scrape targets answering, by job (bot, worker, exporters). Red: something is down.",
        unit: "short",
        type: "stat",
        queries: [{ expr: "sum by (job) (up)", legendFormat: "{{job}}" }],
      },
      {
        title: "Alerts firing",
        description: "Alerts Prometheus is firing now; each also went to the owner's Telegram chat.",
        unit: "short",
        type: "stat",
        marks: { warn: 1, crit: 1 },
        queries: [{ expr: 'count(ALERTS{alertstate="firing"}) or vector(0)', legendFormat: "firing" }],
      },
      {
        title: "Requests per minute",
        description: "Generation jobs accepted and delivered per minute.",
        unit: "short",
        queries: [
          { expr: "sum(rate(tapbot_jobs_enqueued_total[5m])) * 60", legendFormat: "accepted" },
          { expr: "sum(rate(tapbot_jobs_completed_total[5m])) * 60", legendFormat: "delivered" },
          { expr: "sum(rate(tapbot_jobs_failed_total[5m])) * 60", legendFormat: "failed" },
        ],
      },
      {
        title: "Time to the picture (p50, p95)",
        description: "From acceptance to delivery, as the user waits for it.",
        unit: "s",
        queries: [
          {
            expr: "histogram_quantile(0.5, sum by (le) (rate(tapbot_job_duration_seconds_bucket[5m])))",
            legendFormat: "p50",
          },
          {
            expr: "histogram_quantile(0.95, sum by (le) (rate(tapbot_job_duration_seconds_bucket[5m])))",
            legendFormat: "p95",
          },
        ],
      },
    ]),
    dashboard("tapbot-hosts", "tapbot: Hosts", [
      {
        title: "RAM used",
        description: "Of each host's RAM; lines at the plan's warn and critical marks.",
        unit: "percentunit",
        max: 1,
        marks: pct(marks.ram),
        queries: [
          {
            expr: "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
            legendFormat: "{{host}}",
          },
        ],
      },
      {
        title: "CPU busy",
        description: "Of each host's cores, 5-minute average; lines at the plan's marks.",
        unit: "percentunit",
        max: 1,
        marks: pct(marks.cpu),
        queries: [
          {
            expr: '1 - avg by (host) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
            legendFormat: "{{host}}",
          },
        ],
      },
      {
        title: "Disk / used",
        description: "Root filesystem of each host; lines at the plan's marks.",
        unit: "percentunit",
        max: 1,
        marks: pct(marks.disk),
        queries: [
          {
            expr: '1 - node_filesystem_avail_bytes{mountpoint="/",fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes{mountpoint="/",fstype!~"tmpfs|overlay"}',
            legendFormat: "{{host}}",
          },
        ],
      },
      {
        title: "Swap used",
        description: "Swapping means the host is short of RAM.",
        unit: "bytes",
        queries: [
          {
            expr: "node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes",
            legendFormat: "{{host}}",
          },
        ],
      },
    ]),
    dashboard("tapbot-containers", "tapbot: Containers", [
      {
        title: "Memory against the limit",
        description:
          "Each container's working set as a share of its memory limit (the plan's); Docker kills it at 100 %.",
        unit: "percentunit",
        max: 1,
        marks: pct(marks.ram),
        queries: [
          {
            expr: 'container_memory_working_set_bytes{name=~"tapbot-.+"} / (container_spec_memory_limit_bytes{name=~"tapbot-.+"} > 0)',
            legendFormat: "{{name}}",
          },
        ],
      },
      {
        title: "Memory",
        description: "Each container's working set.",
        unit: "bytes",
        queries: [
          { expr: 'container_memory_working_set_bytes{name=~"tapbot-.+"}', legendFormat: "{{name}}" },
        ],
      },
      {
        title: "CPU",
        description: "Cores each container uses.",
        unit: "short",
        queries: [
          {
            expr: 'sum by (name) (rate(container_cpu_usage_seconds_total{name=~"tapbot-.+"}[5m]))',
            legendFormat: "{{name}}",
          },
        ],
      },
      {
        title: "App processes' resident memory",
        description: "RSS of the bot and each worker as the processes report it (what calibration reads).",
        unit: "bytes",
        queries: [{ expr: "tapbot_process_resident_memory_bytes", legendFormat: "{{instance}}" }],
      },
    ]),
    dashboard("tapbot-queue", "tapbot: Queue & fal", [
      {
        title: "Jobs in the queue",
        description: `Waiting for a worker (line at the plan's mark of ${marks.queueLength}); delayed ones are parked at fal.`,
        unit: "short",
        marks: { warn: marks.queueLength, crit: marks.queueLength },
        queries: [{ expr: "max by (state) (tapbot_queue_depth)", legendFormat: "{{state}}" }],
      },
      {
        title: "Wait for a fal slot (p95)",
        description: `Line at the plan's target, ${marks.falWaitTargetSeconds} s.`,
        unit: "s",
        marks: { warn: marks.falWaitTargetSeconds, crit: marks.falWaitTargetSeconds },
        queries: [
          {
            expr: "histogram_quantile(0.95, sum by (le) (rate(tapbot_fal_slot_wait_seconds_bucket[5m])))",
            legendFormat: "p95",
          },
        ],
      },
      {
        title: "fal slots",
        description:
          "Requests in flight at fal against the account's limit, and requests waiting for a slot.",
        unit: "short",
        queries: [
          { expr: "max(tapbot_fal_slots_in_use)", legendFormat: "in use" },
          { expr: "max(tapbot_fal_slots_limit)", legendFormat: "limit" },
          { expr: "max(tapbot_fal_slot_waiting)", legendFormat: "waiting" },
        ],
      },
      {
        title: "Telegram API errors per minute",
        description: "By error code; 429 means the bot is at Telegram's rate ceiling.",
        unit: "short",
        queries: [
          {
            expr: "sum by (code) (rate(tapbot_telegram_api_errors_total[5m])) * 60",
            legendFormat: "{{code}}",
          },
        ],
      },
    ]),
  ];
}
