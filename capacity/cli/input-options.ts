import type { Command } from "commander";
import {
  CATALOG_DEFAULTS,
  FAL_COMPLETION_DEFAULT,
  FAL_COMPLETIONS,
  HOST_DEFAULTS,
  SCALAR_DEFAULTS,
  SERVICE_DEFAULTS,
  SERVICE_FIELD_DEFAULTS,
  SPENDING_CAP_DEFAULTS,
  SYSTEM_RESERVE_MB_DEFAULT,
  THRESHOLD_DEFAULTS,
} from "../defaults.js";
import { APP_ROLE } from "../placement.js";
import { percent } from "./render/format.js";
import { numeric } from "./verb-options.js";

type ScalarKey = keyof typeof SCALAR_DEFAULTS | "users" | "providerConcurrency" | "postgresMaxConnections";

/** A model input that has a flag: its key in the schema, its unit and what it means. */
interface ScalarOption {
  key: ScalarKey;
  flag: string;
  unit: string;
  meaning: string;
}

/** The model's scalar inputs as flags; `--help` prints each with its default (from defaults.ts) and unit. */
const SCALAR_OPTIONS: ScalarOption[] = [
  { key: "users", flag: "--users <n>", unit: "users", meaning: "active users to serve, a whole number ≥ 1" },
  {
    key: "usersPerWorker",
    flag: "--users-per-worker <n>",
    unit: "users",
    meaning: "sizing rule: workers = ceil(users / this)",
  },
  {
    key: "requestsPerUserHour",
    flag: "--requests-per-user-hour <n>",
    unit: "requests/h",
    meaning: "image requests per user per hour",
  },
  { key: "peakFactor", flag: "--peak-factor <x>", unit: "×", meaning: "peak arrival rate over the average" },
  {
    key: "jobSeconds",
    flag: "--job-seconds <s>",
    unit: "s",
    meaning: "mean time the image provider takes per job",
  },
  {
    key: "pollInitialSeconds",
    flag: "--poll-initial-seconds <s>",
    unit: "s",
    meaning: "the workers' first wait before asking fal for a job's status (the app's POLL_INITIAL_SECONDS)",
  },
  {
    key: "pollMaxSeconds",
    flag: "--poll-max-seconds <s>",
    unit: "s",
    meaning:
      "the longest wait between two status polls (POLL_MAX_SECONDS); a slot stays taken until a poll sees the job done",
  },
  {
    key: "webhookLagSeconds",
    flag: "--webhook-lag-seconds <s>",
    unit: "s",
    meaning: "with --fal-completion webhook: fal's completion → the worker freeing the slot",
  },
  {
    key: "targetWaitP95Seconds",
    flag: "--target-wait-p95-seconds <s>",
    unit: "s",
    meaning: "queue wait 95 % of jobs stay under at peak",
  },
  {
    key: "maxWorkerConcurrency",
    flag: "--max-worker-concurrency <n>",
    unit: "jobs",
    meaning: "most jobs one worker runs at once",
  },
  {
    key: "providerConcurrency",
    flag: "--provider-concurrency <n>",
    unit: "jobs",
    meaning:
      "fal's account limit of requests in progress at once: the servers of the queue users wait in (new accounts have 2; fal support raises it on request)",
  },
  {
    key: "messagesPerJob",
    flag: "--messages-per-job <n>",
    unit: "messages",
    meaning: "Telegram messages one job costs",
  },
  {
    key: "telegramMessagesPerSecond",
    flag: "--telegram-messages-per-second <n>",
    unit: "messages/s",
    meaning: "Bot API ceiling per bot token",
  },
  {
    key: "stepsPerJob",
    flag: "--steps-per-job <n>",
    unit: "steps",
    meaning: "worker steps per job (submit, status polls, deliver), each holding a worker slot",
  },
  {
    key: "stepSeconds",
    flag: "--step-seconds <s>",
    unit: "s",
    meaning: "mean time one step holds a worker slot",
  },
  {
    key: "cpuSecondsPerStep",
    flag: "--cpu-seconds-per-step <s>",
    unit: "CPU s",
    meaning: "CPU one worker step costs",
  },
  {
    key: "systemDiskGB",
    flag: "--system-disk-gb <n>",
    unit: "GB",
    meaning: "disk the system takes on every host",
  },
  { key: "containerLogGB", flag: "--container-log-gb <n>", unit: "GB", meaning: "capped logs per container" },
  {
    key: "postgresMaxConnections",
    flag: "--postgres-max-connections <n>",
    unit: "connections",
    meaning:
      "PostgreSQL max_connections (sizes work_mem); below the pools of every process + Directus + margin is an error",
  },
  {
    key: "postgresPoolPerProcess",
    flag: "--postgres-pool-per-process <n>",
    unit: "connections",
    meaning: "PostgreSQL pool of each bot and worker process",
  },
  {
    key: "directusPoolMax",
    flag: "--directus-pool-max <n>",
    unit: "connections",
    meaning: "Directus's PostgreSQL pool",
  },
  {
    key: "postgresConnectionMargin",
    flag: "--postgres-connection-margin <n>",
    unit: "connections",
    meaning: "connections beyond the pools (reserved, exporter, backups, psql)",
  },
];

function defaultText(key: ScalarKey): string {
  if (key === "users") return "required unless the config gives it";
  if (key === "postgresMaxConnections")
    return "default: the pools of every process + Directus + margin, at least 100";
  if (key === "providerConcurrency")
    return "default: unset; the plan then reports the limit the users need and gives the wait at that limit";
  return `default: ${SCALAR_DEFAULTS[key]}`;
}

/** Adds the input flags; `withUsers` false for `curve`, whose users come from its range. */
export function addInputOptions(command: Command, withUsers = true): Command {
  command
    .option("--config <file>", "read the inputs from a YAML or JSON file (flags override it)")
    .option("--stack <name>", 'read the inputs from the "tapbot:capacity" object of Pulumi.<name>.yaml')
    .option("--stack-dir <dir>", "where Pulumi.<name>.yaml is (default: the current directory)")
    .option(
      "--calibration <file>",
      "merge measured budgets over the services instead of the project's own capacity/calibration.json (from npx tsx tests/bench/calibrate.ts); replaces a file's calibration: path",
    )
    .option(
      "--profile <profile>",
      "calibrated (default: the measured budgets of capacity/calibration.json, or the calibration named) or legacy (the owner's notes: the old Python bot's unmeasured 18 MB per user, for comparison)",
    );
  for (const o of SCALAR_OPTIONS) {
    if (o.key === "users" && !withUsers) continue;
    command.option(o.flag, `${o.meaning}, ${o.unit} (${defaultText(o.key)})`);
  }
  command.option(
    "--fal-completion <how>",
    `how the workers learn fal finished a job, ${FAL_COMPLETIONS.join(" or ")}: fal's webhook (what the program deploys) or their status polls (the app without FAL_WEBHOOK_URL); a fal slot is held until then (default: ${FAL_COMPLETION_DEFAULT})`,
  );
  return command.addHelpText("after", fileOnlyHelp());
}

const pct = (f: number) => percent(f, 0);

/** The inputs only a config file sets, with their defaults. */
function fileOnlyHelp(): string {
  const t = THRESHOLD_DEFAULTS;
  const hosts = HOST_DEFAULTS.map(
    (h) =>
      `${h.name} (${h.cpus} CPU, ${h.ramMB} MB RAM, ${h.diskGB} GB disk, ${h.priceRubPerMonth} RUB/month, system ${h.systemReserveMB} MB)`,
  );
  const services = SERVICE_DEFAULTS.map(
    (s) =>
      `${s.name} on ${s.host}: ${s.baseMB} MB${"perUserMB" in s ? ` + ${s.perUserMB} MB/user` : ""}, reservation ${s.reservationMB} MB, ${s.cpuCores} cores, ${s.diskGB} GB`,
  );
  const f = SERVICE_FIELD_DEFAULTS;
  return [
    "",
    "Inputs only a config file (--config, --stack) sets; a hosts or services list replaces the default list:",
    `  hosts       name, ramMB (MB), cpus, diskGB (GB), priceRubPerMonth (RUB, default 0), systemReserveMB (MB, default ${SYSTEM_RESERVE_MB_DEFAULT}),`,
    `              roles (what the plan may place there beyond its pinned services: "${APP_ROLE}" for bot and worker, or service names; default: none)`,
    ...hosts.map((h) => `                default: ${h}`),
    `  services    name, host (unset: placed on the hosts whose roles admit it), baseMB (MB), reservationMB (MB, default ${f.reservationMB}), perUserMB (MB, default ${f.perUserMB}),`,
    `              perJobMB (MB per concurrent job, default ${f.perJobMB}), replicas (default 1; worker: the plan's workers),`,
    `              cpuCores (cores, default ${f.cpuCores}), diskGB (GB, default ${f.diskGB}); limit = baseMB + perUserMB × users + perJobMB × concurrency`,
    ...services.map((s) => `                default: ${s}`),
    `  thresholds  ram ${pct(t.ram.warn)}/${pct(t.ram.crit)}, cpu ${pct(t.cpu.warn)}/${pct(t.cpu.crit)}, disk ${pct(t.disk.warn)}/${pct(t.disk.crit)} (warn/crit, fractions in the file: { ram: { warn: 0.85, crit: 0.95 } }),`,
    `              swap ${pct(t.swap)}, queueLength ${t.queueLength} jobs`,
    `  catalog     name, cpus, ramMB, diskGB, priceRubPerMonth; default: ${CATALOG_DEFAULTS.map((o) => `${o.name} ${o.priceRubPerMonth} RUB`).join(", ")}`,
    "  redis       { maxmemoryMB, policy, appendonly }: settings someone intends to deploy, judged by the findings (default: unset)",
    `  spendingCaps { freePerDay (default ${SPENDING_CAP_DEFAULTS.freePerDay}), vipPerDay (default ${SPENDING_CAP_DEFAULTS.vipPerDay}), perHour (default: the plan's peak demand),`,
    "              usdPerGeneration (default: unset) }: the caps on paid generations the bot enforces, per user per UTC day",
    "              by tier and for everyone per UTC hour (infra passes them to the bot)",
    "  calibration the path of a calibration file, relative to the config or stack file (default: capacity/calibration.json",
    "              when the services are the default list, none when the file lists its own; --calibration overrides it)",
    "  profile     calibrated or legacy, as --profile (default: calibrated)",
  ].join("\n");
}

/** The inputs the flags set, under their schema names; flags not given are absent, so the file's values stay. */
export function inputsFromFlags(options: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of SCALAR_OPTIONS) {
    const value = options[o.key];
    if (typeof value === "string") out[o.key] = numeric(value);
  }
  if (typeof options.falCompletion === "string") out.falCompletion = options.falCompletion;
  return out;
}
