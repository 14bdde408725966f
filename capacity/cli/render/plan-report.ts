import { UNMEASURED_BOT_PER_USER_MB } from "../../defaults.js";
import type { Finding, Growth, Plan, PlanInput } from "../../index.js";
import { meetsTarget } from "../../queue.js";
import { slotHoldText } from "../../slot-hold.js";
import { overWarn } from "../../upgrades.js";
import { type Block, type Cell, cell, STATUS_TONE } from "./document.js";
import { num, percent, seconds } from "./format.js";

const SEVERITY_TONE = { error: "error", warn: "warn", info: "info" } as const;

function queueBlocks(plan: Plan, input: PlanInput): Block[] {
  const q = plan.queue;
  const pr = plan.provider;
  const p95Tone = meetsTarget(q, input.targetWaitP95Seconds) ? "ok" : "error";
  const limit =
    pr.concurrency === null
      ? [
          cell(`${q.servers} slots`, "strong"),
          cell(` (not given: the limit ${plan.users} users need)`, "warn"),
        ]
      : [cell(`${q.servers} slots`, "strong"), cell(" (providerConcurrency)")];
  const needed: Cell[] = [
    cell(`${pr.neededConcurrency}`, "strong"),
    cell(` (the smallest whose p95 wait meets ${num(input.targetWaitP95Seconds)} s at ${plan.users} users)`),
  ];
  const rows: [string, Cell[]][] = [
    ["fal account limit", limit],
    [
      "arrivals",
      [
        cell(
          `${num(q.arrivalPerSecondPeak, 3)} jobs/s × ${num(pr.slotSeconds)} s per slot (${slotHoldText(input)}; cv² ${num(pr.slotHoldCv2, 2)}) = ${num(q.offeredErlangs)} Erlangs`,
        ),
      ],
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
    ["limit to ask fal for", needed],
  ];
  if (pr.bindsAtUsers !== null) {
    rows.push([
      "the limit carries",
      [
        cell(`${pr.bindsAtUsers} users`, pr.bindsAtUsers < plan.users ? "error" : "ok"),
        cell(" within the target"),
      ],
    ]);
  }
  return [
    {
      kind: "heading",
      text: "Wait for a fal slot at peak (M/G/c: Erlang C, waits × (1 + cv²) / 2; c = fal's account limit)",
    },
    { kind: "pairs", rows },
    ...workerBlocks(plan, input),
  ];
}

function workerBlocks(plan: Plan, input: PlanInput): Block[] {
  const w = plan.workerSteps;
  const sq = w.queue;
  const rows: [string, Cell[]][] = [
    [
      "workers × slots",
      [
        cell(`${plan.workers} × ${plan.workerConcurrency} = ${sq.servers} slots`, "strong"),
        cell(` (rule: ceil(users / ${input.usersPerWorker}))`),
      ],
    ],
    [
      "steps",
      [
        cell(
          `${num(sq.arrivalPerSecondPeak, 3)} steps/s × ${num(input.stepSeconds)} s = ${num(sq.offeredErlangs)} Erlangs, p95 wait per step `,
        ),
        cell(seconds(sq.p95WaitSeconds), w.meetsTarget ? "ok" : "error"),
        cell(` (its share of the target: ${num(w.targetWaitP95Seconds)} s)`),
      ],
    ],
    ["CPU per worker", [cell(`${num(w.cpuCoresPerWorker, 3)} cores at peak`)]],
  ];
  const lean = plan.leanWorkers;
  if (lean !== null) {
    const binds = (n: number | null) => (n === null ? "never" : `at ${n} users`);
    rows.push([
      "leanest setting",
      [
        cell(`${lean.workers} × ${lean.workerConcurrency}`, "strong"),
        cell(
          `: ${lean.memoryMB} MB of workers instead of ${lean.ruleMemoryMB} MB (${lean.savedMB} MB less); ${lean.host}'s RAM then binds ${binds(lean.ramMaxUsers)} instead of ${binds(lean.ruleRamMaxUsers)}`,
        ),
      ],
    ]);
  }
  return [
    { kind: "heading", text: "Worker slots (held for a job's short steps, not while fal works)" },
    { kind: "pairs", rows },
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

function upgradeBlocks(plan: Plan, growth: Growth): Block[] {
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
  blocks.push(...growthBlocks(plan, growth));
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

/** When the hosts stop carrying the users, and growing up against growing out at that point. */
function growthBlocks(plan: Plan, g: Growth): Block[] {
  if (g.hostsCarryUsers === null || g.neededAtUsers === null) {
    return [{ kind: "line", cells: [cell("Growth: no user count exhausts the hosts' RAM, CPU or disk.")] }];
  }
  const at = Math.max(plan.users, g.neededAtUsers);
  const when =
    g.neededAtUsers <= plan.users
      ? `a step is needed now (from ${g.neededAtUsers} users)`
      : `from ${g.neededAtUsers} users a step is needed`;
  const blocks: Block[] = [
    {
      kind: "line",
      cells: [
        cell("Growth: "),
        cell(`the hosts carry ${g.hostsCarryUsers} users`, "strong"),
        cell(` under every warn mark; ${when}. Priced at ${at} users:`),
      ],
    },
  ];
  const carries = (n: number | null) => (n === null ? "unbounded" : `${n} users`);
  const rows = [];
  if (g.up !== null) {
    rows.push([
      cell("up", g.cheaper === "up" ? "strong" : undefined),
      cell(g.up.upgrades.map((u) => `${u.host} → ${u.to}`).join(", ")),
      cell(`+${g.up.addedRubPerMonth}`),
      cell(String(g.up.costRubPerMonth)),
      cell(carries(g.up.carriesUsers)),
      cell(g.cheaper === "up" ? "← cheaper" : "", "ok"),
    ]);
  }
  if (g.out !== null) {
    rows.push([
      cell("out", g.cheaper === "out" ? "strong" : undefined),
      cell(`+ ${g.out.host} (${g.out.offer}, role app: bot and worker replicas)`),
      cell(`+${g.out.addedRubPerMonth}`),
      cell(String(g.out.costRubPerMonth)),
      cell(carries(g.out.carriesUsers)),
      cell(g.cheaper === "out" ? "← cheaper" : "", "ok"),
    ]);
  }
  if (rows.length > 0) {
    blocks.push({
      kind: "table",
      header: ["grow", "change", "RUB/month added", "RUB/month in all", "then carries", ""],
      right: [false, false, true, true, true, false],
      rows,
    });
  }
  const none = [
    g.up === null ? "no catalog offer for the hosts over a mark carries them (grow up)" : "",
    g.out === null
      ? `no one more host of a catalog offer brings every host under its marks at ${at} users (grow out)`
      : "",
  ].filter((x) => x !== "");
  if (none.length > 0) blocks.push({ kind: "line", cells: [cell(`${none.join("; ")}.`, "warn")] });
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
          `Not calibrated (the legacy profile, or a file's own services): the bot's ${bot.perUserMB} MB per user is the old Python bot's figure, never measured on this bot. ` +
            "Without --profile legacy the plan uses the measured capacity/calibration.json (npx tsx tests/bench/calibrate.ts).",
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

/** The whole plan for a person: queue, hosts with RAM bars, services, settings, limits, upgrades and growth, findings. */
export function planReport(plan: Plan, input: PlanInput, growth: Growth): Block[] {
  return [
    { kind: "title", text: `Capacity plan for ${plan.users} users` },
    ...calibrationLine(input),
    ...queueBlocks(plan, input),
    ...hostBlocks(plan, input),
    ...settingsBlocks(plan),
    ...limitBlocks(plan),
    ...upgradeBlocks(plan, growth),
    ...findingBlocks(plan.findings),
  ];
}
