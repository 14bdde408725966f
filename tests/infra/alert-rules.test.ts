import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { alertRulesInput } from "../../infra/monitoring-plan.js";
import { type AlertRule, PRODUCTION_TIMING, renderAlertRules } from "../../infra/render/alert-rules.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool } from "./helpers/run-tool.js";
import { stackPlan } from "./helpers/stack-config.js";

const plan = stackPlan(300);
const input = alertRulesInput(plan);
const rules = renderAlertRules(input);
const rendered = (parse(rules) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);
const th = input.thresholds;
const MiB = 1024 * 1024;

/** An alert the case expects: its labels and the summary the owner reads in Telegram. */
interface Expected {
  labels: Record<string, string>;
  summary: string;
}

/** One promtool unit test: input series, the time of evaluation, the alert and what must fire (maybe nothing). */
interface Case {
  title: string;
  alert: string;
  series: Record<string, string>;
  at: string;
  /** Step between the series' values. @defaultValue "1m" */
  interval?: string;
  fires: Expected[];
}

/** The description of the rendered rule that makes this alert (they hold no template, only plan figures). */
function descriptionOf(alert: string, labels: Record<string, string>): string {
  const rule = rendered.find(
    (r) => r.alert === alert && Object.entries(r.labels).every(([k, v]) => labels[k] === v),
  );
  if (rule === undefined) throw new Error(`no rendered rule ${alert} with labels ${JSON.stringify(labels)}`);
  return rule.annotations.description;
}

/** Prometheus's humanizePercentage / humanize: four significant digits. */
const sig = (v: number) => String(Number(v.toPrecision(4)));
const pct = (v: number) => `${sig(v * 100)}%`;
const mark = (v: number) => `${Math.round(v * 1000) / 10} %`;
/** Halfway between two marks, to whole percent: over the lower, under the upper. */
const between = (low: number, high: number) => Math.round(((low + high) / 2) * 100) / 100;

const node = (host: string) => `job="node",host="${host}",instance="node-${host}"`;

function hostCases(): Case[] {
  const memWarn = between(th.ram.warn, th.ram.crit);
  const memCrit = between(th.ram.crit, 1);
  const cpuWarn = between(th.cpu.warn, th.cpu.crit);
  const cpuCrit = between(th.cpu.crit, 1);
  const diskWarn = between(th.disk.warn, th.disk.crit);
  const diskCrit = between(th.disk.crit, 1);
  const swapHigh = between(th.swap, 1);
  const memory = (used: number) => ({
    [`node_memory_MemAvailable_bytes{${node("data")}}`]: `${Math.round((1 - used) * 1000)}x40`,
    [`node_memory_MemTotal_bytes{${node("data")}}`]: "1000x40",
  });
  const idle = (busy: number) => ({
    [`node_cpu_seconds_total{${node("automation")},cpu="0",mode="idle"}`]: `0+${Math.round((1 - busy) * 6000) / 100}x40`,
  });
  const fs = 'mountpoint="/",fstype="ext4",device="/dev/vda1"';
  const disk = (used: number) => ({
    [`node_filesystem_avail_bytes{${node("data")},${fs}}`]: `${Math.round((1 - used) * 1000)}x40`,
    [`node_filesystem_size_bytes{${node("data")},${fs}}`]: "1000x40",
  });
  const nodeLabels = { job: "node", host: "data", instance: "node-data" };
  const fsLabels = { ...nodeLabels, mountpoint: "/", fstype: "ext4", device: "/dev/vda1" };
  return [
    {
      title: "RAM between the warn and the critical mark",
      alert: "HostMemoryHigh",
      series: memory(memWarn),
      at: "30m",
      fires: [
        {
          labels: { ...nodeLabels, severity: "warning" },
          summary: `data: RAM ${pct(memWarn)} used (mark ${mark(th.ram.warn)})`,
        },
      ],
    },
    {
      title: "RAM over the critical mark",
      alert: "HostMemoryHigh",
      series: memory(memCrit),
      at: "30m",
      fires: [
        {
          labels: { ...nodeLabels, severity: "warning" },
          summary: `data: RAM ${pct(memCrit)} used (mark ${mark(th.ram.warn)})`,
        },
        {
          labels: { ...nodeLabels, severity: "critical" },
          summary: `data: RAM ${pct(memCrit)} used (mark ${mark(th.ram.crit)})`,
        },
      ],
    },
    {
      title: "RAM just under the warn mark",
      alert: "HostMemoryHigh",
      series: memory(th.ram.warn - 0.01),
      at: "30m",
      fires: [],
    },
    {
      title: "CPU between the marks for longer than the CPU delay",
      alert: "HostCpuHigh",
      series: idle(cpuWarn),
      at: "30m",
      fires: [
        {
          labels: { host: "automation", severity: "warning" },
          summary: `automation: CPU ${pct(cpuWarn)} busy for ${PRODUCTION_TIMING.cpu} (mark ${mark(th.cpu.warn)})`,
        },
      ],
    },
    {
      title: "CPU over the critical mark",
      alert: "HostCpuHigh",
      series: idle(cpuCrit),
      at: "30m",
      fires: ["warn", "crit"].map((level) => ({
        labels: { host: "automation", severity: level === "warn" ? "warning" : "critical" },
        summary: `automation: CPU ${pct(cpuCrit)} busy for ${PRODUCTION_TIMING.cpu} (mark ${mark(level === "warn" ? th.cpu.warn : th.cpu.crit)})`,
      })),
    },
    {
      title: "CPU over the critical mark, but not yet for the CPU delay",
      alert: "HostCpuHigh",
      series: idle(cpuCrit),
      at: "12m",
      fires: [],
    },
    {
      title: "disk between the marks",
      alert: "HostDiskFull",
      series: disk(diskWarn),
      at: "30m",
      fires: [
        {
          labels: { ...fsLabels, severity: "warning" },
          summary: `data: disk / ${pct(diskWarn)} full (mark ${mark(th.disk.warn)})`,
        },
      ],
    },
    {
      title: "disk over the critical mark",
      alert: "HostDiskFull",
      series: disk(diskCrit),
      at: "30m",
      fires: ["warn", "crit"].map((level) => ({
        labels: { ...fsLabels, severity: level === "warn" ? "warning" : "critical" },
        summary: `data: disk / ${pct(diskCrit)} full (mark ${mark(level === "warn" ? th.disk.warn : th.disk.crit)})`,
      })),
    },
    {
      title: "disk under the warn mark, a full tmpfs ignored",
      alert: "HostDiskFull",
      series: {
        ...disk(th.disk.warn - 0.01),
        [`node_filesystem_avail_bytes{${node("data")},mountpoint="/",fstype="tmpfs",device="tmpfs"}`]: "0x40",
        [`node_filesystem_size_bytes{${node("data")},mountpoint="/",fstype="tmpfs",device="tmpfs"}`]:
          "1000x40",
      },
      at: "30m",
      fires: [],
    },
    {
      title: "swap over its mark",
      alert: "HostSwapHigh",
      series: {
        [`node_memory_SwapFree_bytes{${node("data")}}`]: `${Math.round((1 - swapHigh) * 1000)}x40`,
        [`node_memory_SwapTotal_bytes{${node("data")}}`]: "1000x40",
      },
      at: "30m",
      fires: [
        {
          labels: { ...nodeLabels, severity: "warning" },
          summary: `data: swap ${pct(swapHigh)} used (mark ${mark(th.swap)})`,
        },
      ],
    },
    {
      title: "swap under its mark; a host without swap",
      alert: "HostSwapHigh",
      series: {
        [`node_memory_SwapFree_bytes{${node("data")}}`]: `${Math.round((1 - th.swap + 0.01) * 1000)}x40`,
        [`node_memory_SwapTotal_bytes{${node("data")}}`]: "1000x40",
        [`node_memory_SwapFree_bytes{${node("automation")}}`]: "0x40",
        [`node_memory_SwapTotal_bytes{${node("automation")}}`]: "0x40",
      },
      at: "30m",
      fires: [],
    },
  ];
}

function containerCases(): Case[] {
  const used = between(th.ram.warn, th.ram.crit);
  const name = (service: string) => (service === "worker" ? "tapbot-worker-3" : `tapbot-${service}`);
  const series = (share: number) =>
    Object.fromEntries(
      input.containers.map((c) => [
        `container_memory_working_set_bytes{job="cadvisor",host="automation",instance="cadvisor-automation",name="${name(c.service)}"}`,
        `${Math.round(share * c.limitMB) * MiB}x40`,
      ]),
    );
  return [
    {
      title: "every service's containers between the marks of their own limit",
      alert: "ContainerMemoryNearLimit",
      series: series(used),
      at: "30m",
      fires: input.containers.map((c) => ({
        labels: {
          job: "cadvisor",
          host: "automation",
          instance: "cadvisor-automation",
          name: name(c.service),
          service: c.service,
          severity: "warning",
        },
        summary: `${name(c.service)}: memory ${sig(Math.round(used * c.limitMB))}MiB, over ${mark(th.ram.warn)} of its ${c.limitMB} MB limit`,
      })),
    },
    {
      title: "every container under the warn mark of its limit; a foreign container ignored",
      alert: "ContainerMemoryNearLimit",
      series: {
        ...series(th.ram.warn - 0.02),
        'container_memory_working_set_bytes{job="cadvisor",host="data",instance="cadvisor-data",name="old-bot"}': `${4000 * MiB}x40`,
      },
      at: "30m",
      fires: [],
    },
  ];
}

function queueCases(): Case[] {
  const depth = (waiting: number, prioritized: number) =>
    Object.fromEntries(
      ["worker-1", "worker-2"].flatMap((instance) => [
        [
          `tapbot_queue_depth{job="worker",host="automation",instance="${instance}",state="waiting"}`,
          `${waiting}x40`,
        ],
        [
          `tapbot_queue_depth{job="worker",host="automation",instance="${instance}",state="prioritized"}`,
          `${prioritized}x40`,
        ],
        [
          `tapbot_queue_depth{job="worker",host="automation",instance="${instance}",state="delayed"}`,
          "500x40",
        ],
      ]),
    );
  const target = input.falWaitTargetSeconds;
  // All observations in one bucket (low, high]: histogram_quantile interpolates p95 at low + 0.95 (high − low).
  const waits = (low: number, high: number) => ({
    [`tapbot_fal_slot_wait_seconds_bucket{job="worker",host="automation",instance="worker-1",le="${low}"}`]:
      "0x40",
    [`tapbot_fal_slot_wait_seconds_bucket{job="worker",host="automation",instance="worker-1",le="${high}"}`]:
      "0+60x40",
    'tapbot_fal_slot_wait_seconds_bucket{job="worker",host="automation",instance="worker-1",le="+Inf"}':
      "0+60x40",
  });
  const slots = (inUse: number, waiting: number) => ({
    'tapbot_fal_slots_in_use{job="worker",host="automation",instance="worker-1"}': `${inUse}x40`,
    'tapbot_fal_slots_limit{job="worker",host="automation",instance="worker-1"}': "10x40",
    'tapbot_fal_slot_waiting{job="worker",host="automation",instance="worker-1"}': `${waiting}x40`,
  });
  const refused = (reason: string, values: string) => ({
    [`tapbot_quota_refused_total{job="bot",host="automation",instance="bot",reason="${reason}"}`]: values,
  });
  const tg = (code: string, values: string) => ({
    [`tapbot_telegram_api_errors_total{job="bot",host="automation",instance="bot",method="sendMessage",code="${code}"}`]:
      values,
  });
  return [
    {
      title: "more jobs waiting and prioritized than the mark (parked delayed jobs do not count)",
      alert: "QueueBacklog",
      series: depth(th.queueLength, 20),
      at: "30m",
      fires: [
        {
          labels: { severity: "warning" },
          summary: `${th.queueLength + 20} generation jobs waiting for a worker (mark ${th.queueLength})`,
        },
      ],
    },
    {
      title: "a queue at the mark",
      alert: "QueueBacklog",
      series: depth(th.queueLength, 0),
      at: "30m",
      fires: [],
    },
    {
      title: "p95 wait for a fal slot over the plan's target",
      alert: "FalSlotWaitOverTarget",
      series: waits(target / 2, target * 2),
      at: "30m",
      fires: [
        {
          labels: { severity: "warning" },
          summary: `p95 wait for a fal slot ${sig(target / 2 + 0.95 * (target * 2 - target / 2))}s (plan's target ${target} s)`,
        },
      ],
    },
    {
      title: "p95 wait for a fal slot under the target",
      alert: "FalSlotWaitOverTarget",
      series: waits(target / 4, target / 2),
      at: "30m",
      fires: [],
    },
    {
      title: "every slot in use and requests waiting",
      alert: "FalSlotsSaturated",
      series: slots(10, 3),
      at: "30m",
      fires: [
        {
          labels: { severity: "warning" },
          summary: "every fal slot of the account is in use and requests are waiting for one",
        },
      ],
    },
    {
      title: "every slot in use, nobody waiting",
      alert: "FalSlotsSaturated",
      series: slots(10, 0),
      at: "30m",
      fires: [],
    },
    { title: "a slot free", alert: "FalSlotsSaturated", series: slots(9, 0), at: "30m", fires: [] },
    {
      title: "the hourly budget refuses requests",
      alert: "GenerationBudgetSpent",
      series: refused("hourly_budget", "0+2x40"),
      at: "30m",
      fires: [
        {
          labels: { severity: "warning" },
          summary:
            "the hourly budget of paid generations is spent: 20 requests refused as paused in 10 minutes",
        },
      ],
    },
    {
      title: "only daily quotas refuse requests",
      alert: "GenerationBudgetSpent",
      series: { ...refused("daily_quota", "0+5x40"), ...refused("hourly_budget", "0x40") },
      at: "30m",
      fires: [],
    },
    {
      title: "Telegram answers 429 once a minute",
      alert: "TelegramRateLimited",
      series: tg("429", "0+1x40"),
      at: "30m",
      fires: [
        {
          labels: { severity: "warning" },
          summary: "Telegram answered 429 (Too Many Requests) 10 times in 10 minutes",
        },
      ],
    },
    {
      title: "old 429s only, and other errors",
      alert: "TelegramRateLimited",
      series: { ...tg("429", "0+1x5 5x35"), ...tg("400", "0+3x40") },
      at: "30m",
      fires: [],
    },
  ];
}

function storeCases(): Case[] {
  const redis = (share: number) => ({
    'redis_memory_used_bytes{job="redis",host="automation",instance="redis"}': `${Math.round(share * input.redisMaxmemoryMB) * MiB}x40`,
  });
  const redisLabels = { job: "redis", host: "automation", instance: "redis" };
  const redisWarn = between(th.ram.warn, th.ram.crit);
  const redisCrit = between(th.ram.crit, 1);
  const max = input.postgresMaxConnections;
  const pg = (app: number) => ({
    'pg_stat_database_numbackends{job="postgres",host="data",instance="postgres",datname="tapbot"}': `${app}x40`,
    'pg_stat_database_numbackends{job="postgres",host="data",instance="postgres",datname="postgres"}': "1x40",
  });
  const pgWarn = Math.floor(th.ram.warn * max) + 1;
  const pgCrit = Math.floor(th.ram.crit * max) + 1;
  const redisSummary = (share: number, m: number) =>
    `Redis uses ${sig(Math.round(share * input.redisMaxmemoryMB))}MiB, over ${mark(m)} of maxmemory ${input.redisMaxmemoryMB} MB`;
  const pgSummary = (n: number, m: number) =>
    `PostgreSQL has ${n} connections, over ${mark(m)} of max_connections ${max}`;
  return [
    {
      title: "Redis between the marks of maxmemory",
      alert: "RedisMemoryNearMaxmemory",
      series: redis(redisWarn),
      at: "30m",
      fires: [
        { labels: { ...redisLabels, severity: "warning" }, summary: redisSummary(redisWarn, th.ram.warn) },
      ],
    },
    {
      title: "Redis over the critical mark of maxmemory",
      alert: "RedisMemoryNearMaxmemory",
      series: redis(redisCrit),
      at: "30m",
      fires: [
        { labels: { ...redisLabels, severity: "warning" }, summary: redisSummary(redisCrit, th.ram.warn) },
        { labels: { ...redisLabels, severity: "critical" }, summary: redisSummary(redisCrit, th.ram.crit) },
      ],
    },
    {
      title: "Redis under the warn mark",
      alert: "RedisMemoryNearMaxmemory",
      series: redis(th.ram.warn - 0.05),
      at: "30m",
      fires: [],
    },
    {
      title: "PostgreSQL connections over the warn mark of max_connections",
      alert: "PostgresConnectionsNearMax",
      series: pg(pgWarn - 1),
      at: "30m",
      fires: [{ labels: { severity: "warning" }, summary: pgSummary(pgWarn, th.ram.warn) }],
    },
    {
      title: "PostgreSQL connections over the critical mark",
      alert: "PostgresConnectionsNearMax",
      series: pg(pgCrit - 1),
      at: "30m",
      fires: [
        { labels: { severity: "warning" }, summary: pgSummary(pgCrit, th.ram.warn) },
        { labels: { severity: "critical" }, summary: pgSummary(pgCrit, th.ram.crit) },
      ],
    },
    {
      title: "PostgreSQL connections at the warn mark",
      alert: "PostgresConnectionsNearMax",
      series: pg(pgWarn - 2),
      at: "30m",
      fires: [],
    },
    {
      title: "a worker finds the queue's Redis keeping nothing on disk",
      alert: "QueueRedisNotPersistent",
      series: {
        'tapbot_queue_redis_persistent{job="worker",host="automation",instance="worker-1"}': "1x10 0x30",
        'tapbot_queue_redis_persistent{job="worker",host="automation",instance="worker-2"}': "1x10 0x30",
      },
      at: "30m",
      fires: [
        {
          labels: { severity: "critical", host: "automation" },
          summary:
            "The queue's Redis on automation keeps nothing on disk: its next restart loses every queued request",
        },
      ],
    },
    {
      title: "the queue's Redis keeps its data (AOF)",
      alert: "QueueRedisNotPersistent",
      series: {
        'tapbot_queue_redis_persistent{job="worker",host="automation",instance="worker-1"}': "1x40",
      },
      at: "30m",
      fires: [],
    },
  ];
}

function availabilityCases(): Case[] {
  const up = (job: string, host: string, instance: string, values: string) => ({
    [`up{job="${job}",host="${host}",instance="${instance}"}`]: values,
  });
  return [
    {
      title: "a host's node-exporter stops answering",
      alert: "HostDown",
      series: {
        ...up("node", "data", "node-data", "1x5 0x35"),
        ...up("node", "automation", "node-automation", "1x40"),
      },
      at: "30m",
      fires: [
        {
          labels: { job: "node", host: "data", instance: "node-data", severity: "critical" },
          summary: "data does not answer (node-exporter down, or the host or the tunnel is down)",
        },
      ],
    },
    {
      title: "every host answers",
      alert: "HostDown",
      series: up("node", "data", "node-data", "1x40"),
      at: "30m",
      fires: [],
    },
    {
      title: "a worker killed",
      alert: "ProcessDown",
      series: {
        ...up("worker", "automation", "worker-1", "1x5 0x35"),
        ...up("worker", "automation", "worker-2", "1x40"),
      },
      at: "30m",
      fires: [
        {
          labels: { job: "worker", host: "automation", instance: "worker-1", severity: "critical" },
          summary: "worker worker-1 on automation is down",
        },
      ],
    },
    {
      title: "a worker down for less than the delay (a restart)",
      alert: "ProcessDown",
      series: up("worker", "automation", "worker-1", "1x29 0x11"),
      at: "30m",
      fires: [],
    },
  ];
}

function backupCases(): Case[] {
  const hours = input.backupMaxAgeHours ?? 26;
  const labels = (store: string) => ({ job: "node", host: "data", instance: "node-data", store });
  const lastSuccess = (store: string, seconds: number) => ({
    [`tapbot_backup_last_success_timestamp_seconds{job="node",host="data",instance="node-data",store="${store}"}`]: `${seconds}x40`,
  });
  const allPresent = Object.assign({}, ...input.backupStores.map((s) => lastSuccess(s, 100_800)));
  const missing = input.backupStores[input.backupStores.length - 1] as string;
  return [
    {
      title: `the last good backup is older than ${hours} h`,
      alert: "BackupStale",
      series: { ...allPresent, ...lastSuccess("postgres", 0) },
      interval: "1h",
      at: "30h",
      fires: [
        {
          labels: { ...labels("postgres"), severity: "critical" },
          summary: `the last good postgres backup is 1d 6h 0m 0s old (more than ${hours} h)`,
        },
      ],
    },
    {
      title: "every backup is 2 h old",
      alert: "BackupStale",
      series: allPresent,
      interval: "1h",
      at: "30h",
      fires: [],
    },
    {
      title: "the last run failed",
      alert: "BackupFailed",
      series: {
        'tapbot_backup_last_run_success{job="node",host="data",instance="node-data",store="n8n"}': "0x40",
        'tapbot_backup_last_run_success{job="node",host="data",instance="node-data",store="postgres"}':
          "1x40",
      },
      at: "30m",
      fires: [
        { labels: { ...labels("n8n"), severity: "critical" }, summary: "the last n8n backup run failed" },
      ],
    },
    {
      title: "every run succeeded",
      alert: "BackupFailed",
      series: {
        'tapbot_backup_last_run_success{job="node",host="data",instance="node-data",store="n8n"}': "1x40",
      },
      at: "30m",
      fires: [],
    },
    {
      title: `a store never backed up for ${hours} h`,
      alert: "BackupMissing",
      series: Object.assign(
        {},
        ...input.backupStores.filter((s) => s !== missing).map((s) => lastSuccess(s, 100_800)),
      ),
      interval: "1h",
      at: `${hours + 1}h`,
      fires: [
        {
          labels: { store: missing, severity: "critical" },
          summary: `no successful ${missing} backup recorded for ${hours} h`,
        },
      ],
    },
    {
      title: "every store backed up",
      alert: "BackupMissing",
      series: allPresent,
      interval: "1h",
      at: `${hours + 1}h`,
      fires: [],
    },
  ];
}

const cases = [
  ...hostCases(),
  ...containerCases(),
  ...queueCases(),
  ...storeCases(),
  ...availabilityCases(),
  ...backupCases(),
];

/**
 * The promtool unit-test files: one test group per case, so a failure names the case; one file per step, since
 * promtool evaluates every rule at each step up to the case's time (the 26-hour cases take hourly steps).
 */
function promtoolTests(ruleFile: string, only: readonly Case[] = cases): Map<string, string> {
  const files = new Map<string, string>();
  for (const step of new Set(only.map((c) => c.interval ?? "1m"))) {
    files.set(
      step,
      promtoolTestFile(
        ruleFile,
        step,
        only.filter((c) => (c.interval ?? "1m") === step),
      ),
    );
  }
  return files;
}

function promtoolTestFile(ruleFile: string, step: string, stepCases: readonly Case[]): string {
  return stringify({
    rule_files: [ruleFile],
    evaluation_interval: step,
    tests: stepCases.map((c) => ({
      name: c.title,
      interval: step,
      input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: [
        {
          eval_time: c.at,
          alertname: c.alert,
          exp_alerts: c.fires.map((f) => ({
            exp_labels: f.labels,
            exp_annotations: { summary: f.summary, description: descriptionOf(c.alert, f.labels) },
          })),
        },
      ],
    })),
  });
}

let dir: string;
let ruleFile: string;

async function writeTests(prefix: string, files: Map<string, string>): Promise<string[]> {
  return Promise.all(
    [...files].map(async ([step, text]) => {
      const file = join(dir, `${prefix}.${step}.test.yml`);
      await writeFile(file, text);
      return file;
    }),
  );
}
beforeAll(async () => {
  dir = await makeTempDir("alert-rules");
  ruleFile = join(dir, "tapbot.rules.yml");
  await writeFile(ruleFile, rules);
});
afterAll(async () => {
  await removeTempDir(dir);
});

describe("the alert rules rendered from the plan", () => {
  it("pass promtool check rules", async () => {
    const result = await runTool("promtool", ["check", "rules", ruleFile]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${rendered.length} rules found`);
  });

  it("fire and stay quiet as the plan's marks say, in promtool's unit tests (one firing and one quiet case per alert)", async () => {
    const alerts = new Set(rendered.map((r) => r.alert));
    const firing = new Set(cases.filter((c) => c.fires.length > 0).map((c) => c.alert));
    const quiet = new Set(cases.filter((c) => c.fires.length === 0).map((c) => c.alert));
    expect([...firing].sort()).toEqual([...alerts].sort());
    expect([...quiet].sort()).toEqual([...alerts].sort());
    const files = await writeTests("tapbot", promtoolTests(ruleFile));
    const result = await runTool("promtool", ["test", "rules", ...files], { timeoutMs: 60_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout.match(/SUCCESS/g)).toHaveLength(files.length);
  });

  it("promtool's unit tests fail when a mark is not the plan's, so the cases above mean something", async () => {
    const shifted = renderAlertRules({
      ...input,
      thresholds: { ...th, ram: { warn: th.ram.warn + 0.06, crit: th.ram.crit } },
    });
    const shiftedFile = join(dir, "shifted.rules.yml");
    await writeFile(shiftedFile, shifted);
    const files = await writeTests(
      "shifted",
      promtoolTests(
        shiftedFile,
        cases.filter((c) => c.alert === "HostMemoryHigh"),
      ),
    );
    const result = await runTool("promtool", ["test", "rules", ...files], { timeoutMs: 60_000 });
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain("HostMemoryHigh");
  });

  it("follow the plan: more users change the worker and bot limits in the rules, other marks change their thresholds", () => {
    const bigger = renderAlertRules(alertRulesInput(stackPlan(1000)));
    const limit = (p: ReturnType<typeof stackPlan>, service: string) =>
      p.hosts.flatMap((h) => h.services).find((s) => s.name === service)?.limitMB;
    expect(limit(stackPlan(1000), "bot")).not.toBe(limit(plan, "bot"));
    expect(bigger).toContain(`of its ${limit(stackPlan(1000), "bot")} MB limit`);
    expect(bigger).not.toBe(rules);
    const stricter = renderAlertRules(
      alertRulesInput({
        ...plan,
        thresholds: { ...plan.thresholds, queueLength: 40 },
        targetWaitP95Seconds: 3,
      }),
    );
    expect(stricter).toContain("> 40\n");
    expect(stricter).toContain("[10m]))) > 3\n");
  });
});
