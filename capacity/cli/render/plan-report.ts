import { UNMEASURED_BOT_PER_USER_MB } from "../../defaults.js";
import type { Finding, Plan, PlanInput } from "../../index.js";
import { meetsTarget } from "../../queue.js";
import { overWarn } from "../../upgrades.js";
import { type Block, type Cell, cell, STATUS_TONE } from "./document.js";
import { num, percent, seconds } from "./format.js";

const SEVERITY_TONE = { error: "error", warn: "warn", info: "info" } as const;

function queueBlocks(plan: Plan, input: PlanInput): Block[] {
  const q = plan.queue;
  const p95Tone = meetsTarget(q, input.targetWaitP95Seconds) ? "ok" : "error";
  return [
    { kind: "heading", text: "Queue at peak (M/M/c, Erlang C)" },
    {
      kind: "pairs",
      rows: [
        [
          "workers × jobs each",
          [cell(`${plan.workers} × ${plan.workerConcurrency} = ${q.servers} servers`, "strong")],
        ],
        [
          "arrivals",
          [cell(`${num(q.arrivalPerSecondPeak, 3)} jobs/s, offered load ${num(q.offeredErlangs)} Erlangs`)],
        ],
        [
          "utilization",
          [cell(percent(q.utilization), q.stable ? undefined : "error"), cell(q.stable ? "" : " unstable")],
        ],
        ["P(wait)", [cell(percent(q.probabilityOfWait))]],
        [
          "p95 wait",
          [cell(seconds(q.p95WaitSeconds), p95Tone), cell(` (target ${num(input.targetWaitP95Seconds)} s)`)],
        ],
        ["mean wait", [cell(seconds(q.meanWaitSeconds))]],
        [
          "mean queue length",
          [cell(q.meanQueueLength === null ? "unbounded" : `${num(q.meanQueueLength)} jobs`)],
        ],
      ],
    },
  ];
}

function hostBlocks(plan: Plan, input: PlanInput): Block[] {
  const t = input.thresholds;
  return [
    { kind: "heading", text: "Hosts" },
    {
      kind: "table",
      header: ["host", "RAM used", "RAM %", "status", "swap", "CPU used", "CPU %", "disk used", "disk %"],
      right: [false, true, true, false, true, true, true, true, true],
      rows: plan.hosts.map((h) => [
        cell(h.name, "strong"),
        cell(`${h.usedMB} / ${h.ramMB} MB`),
        cell(percent(h.utilization), STATUS_TONE[h.status]),
        cell(h.status, STATUS_TONE[h.status]),
        cell(`${h.swapMB} MB`),
        cell(`${num(h.cpu.usedCores)} / ${num(h.cpu.cpus)} cores`),
        cell(percent(h.cpu.utilization), STATUS_TONE[h.cpu.status]),
        cell(`${num(h.disk.usedGB, 1)} / ${num(h.disk.diskGB)} GB`),
        cell(percent(h.disk.utilization), STATUS_TONE[h.disk.status]),
      ]),
    },
    {
      kind: "bars",
      bars: plan.hosts.map((h) => ({
        label: h.name,
        utilization: h.utilization,
        warn: t.ram.warn,
        crit: t.ram.crit,
        tone: STATUS_TONE[h.status],
      })),
    },
    { kind: "heading", text: "Services (memory per replica)" },
    {
      kind: "table",
      header: ["host", "service", "replicas", "limit MB", "reservation MB", "CPU cores"],
      right: [false, false, true, true, true, true],
      rows: plan.hosts.flatMap((h) =>
        h.services.map((s) => [
          cell(h.name),
          cell(s.name, "strong"),
          cell(String(s.replicas)),
          cell(String(s.limitMB)),
          cell(String(s.reservationMB), s.reservationMB > s.limitMB ? "error" : undefined),
          cell(num(s.cpuCores)),
        ]),
      ),
    },
  ];
}

function settingsBlocks(plan: Plan): Block[] {
  const r = plan.redis;
  const rows: [string, Cell[]][] = [
    [
      "Redis",
      [cell(`maxmemory ${r.maxmemoryMB} MB, ${r.policy}, appendonly yes, appendfsync ${r.appendfsync}`)],
    ],
  ];
  const pg = plan.postgres;
  if (pg !== null) {
    rows.push([
      "PostgreSQL",
      [
        cell(
          `shared_buffers ${pg.sharedBuffersMB} MB, effective_cache_size ${pg.effectiveCacheSizeMB} MB, work_mem ${pg.workMemKB} kB, maintenance_work_mem ${pg.maintenanceWorkMemMB} MB, max_connections ${pg.maxConnections}, shm_size ${pg.shmSizeMB} MB`,
        ),
      ],
    ]);
  }
  if (plan.prometheus !== null) {
    rows.push([
      "Prometheus",
      [
        cell(
          `keeps ${plan.prometheus.retentionGB} GB of metrics on ${plan.prometheus.host} (half the disk left under its warn mark)`,
        ),
      ],
    ]);
  }
  return [
    { kind: "heading", text: "Settings" },
    { kind: "pairs", rows },
  ];
}

/** The sentence that says what binds first, at how many users. */
export function bindsFirstLine(plan: Plan): Cell[] {
  const b = plan.bottleneck;
  return [
    cell("Binds first: "),
    cell(`${b.resource} at ${b.maxUsers} users`, plan.headroom < 1 ? "error" : "ok"),
    cell(` (headroom ${num(plan.headroom)}× the ${plan.users} planned users)`),
  ];
}

function limitBlocks(plan: Plan): Block[] {
  const sorted = [...plan.limits].sort((x, y) => x.maxUsers - y.maxUsers);
  const blocks: Block[] = [
    { kind: "heading", text: "Limits (most users each resource carries)" },
    {
      kind: "table",
      header: ["resource", "max users", ""],
      right: [false, true, false],
      rows: sorted.map((l) => [
        cell(l.resource, l === plan.bottleneck ? "strong" : undefined),
        cell(String(l.maxUsers), l.maxUsers < plan.users ? "error" : undefined),
        cell(l === plan.bottleneck ? "← binds first" : ""),
      ]),
    },
  ];
  if (plan.unboundedResources.length > 0) {
    blocks.push({ kind: "line", cells: [cell(`Never bind: ${plan.unboundedResources.join(", ")}`, "dim")] });
  }
  blocks.push({ kind: "line", cells: bindsFirstLine(plan) });
  return blocks;
}

function upgradeBlocks(plan: Plan): Block[] {
  const blocks: Block[] = [{ kind: "heading", text: "Upgrades and cost" }];
  if (plan.upgrades.length > 0) {
    blocks.push({
      kind: "table",
      header: ["host", "from", "to", "RUB/month before", "RUB/month after"],
      right: [false, false, false, true, true],
      rows: plan.upgrades.map((u) => [
        cell(u.host, "strong"),
        cell(u.from ?? "(custom)"),
        cell(u.to, "strong"),
        cell(String(u.priceBeforeRubPerMonth)),
        cell(String(u.priceAfterRubPerMonth)),
      ]),
    });
  } else {
    const why = plan.hosts.some(overWarn)
      ? "no catalog offer brings the hosts over warn back under it"
      : "every host is under warn";
    blocks.push({ kind: "line", cells: [cell(`No upgrade proposed: ${why}.`)] });
  }
  blocks.push({
    kind: "line",
    cells: [
      cell("Cost: "),
      cell(`${plan.costRubPerMonth} RUB/month`, "strong"),
      cell(" now, "),
      cell(`${plan.costAfterUpgradesRubPerMonth} RUB/month`, "strong"),
      cell(" after the upgrades"),
    ],
  });
  return blocks;
}

/**
 * Where the memory budgets come from: the calibration merged over them, or, without one, a warning when
 * the bot still has the unmeasured per-user figure of the old Python bot (it decides the automation host).
 */
export function calibrationLine(input: PlanInput): Block[] {
  if (input.calibration !== null) {
    return [
      {
        kind: "line",
        cells: [cell("Budgets calibrated from "), cell(input.calibration.source, "strong")],
      },
    ];
  }
  const bot = input.services.find((s) => s.name === "bot");
  if (bot?.perUserMB !== UNMEASURED_BOT_PER_USER_MB) return [];
  return [
    {
      kind: "line",
      cells: [
        cell(
          `Not calibrated: the bot's ${bot.perUserMB} MB per user is the old Python bot's figure, never measured on this bot. ` +
            "Measure it (npx tsx tests/bench/calibrate.ts) and pass --calibration capacity/calibration.json.",
          "warn",
        ),
      ],
    },
  ];
}

/** The findings, by severity. */
export function findingBlocks(findings: Finding[]): Block[] {
  return [
    { kind: "heading", text: "Findings" },
    {
      kind: "table",
      header: ["severity", "code", "what to do"],
      right: [false, false, false],
      rows: findings.map((f) => [
        cell(f.severity.toUpperCase(), SEVERITY_TONE[f.severity]),
        cell(f.code, SEVERITY_TONE[f.severity]),
        cell(f.message),
      ]),
    },
  ];
}

/** The whole plan for a person: queue, hosts with RAM bars, services, settings, limits, upgrades, findings. */
export function planReport(plan: Plan, input: PlanInput): Block[] {
  return [
    { kind: "title", text: `Capacity plan for ${plan.users} users` },
    ...calibrationLine(input),
    ...queueBlocks(plan, input),
    ...hostBlocks(plan, input),
    ...settingsBlocks(plan),
    ...limitBlocks(plan),
    ...upgradeBlocks(plan),
    ...findingBlocks(plan.findings),
  ];
}
