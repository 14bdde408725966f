import { stringify } from "yaml";

/** A warn / critical pair of marks, as fractions (0.85 = 85 %). */
export interface Marks {
  warn: number;
  crit: number;
}

/** A service whose containers are watched against the plan's memory limit for one of its replicas. */
export interface WatchedContainer {
  /** The plan's service name (`worker`); its containers are `tapbot-worker` or `tapbot-worker-<n>`. */
  service: string;
  /** The plan's memory limit of one replica, MB. */
  limitMB: number;
  /**
   * With a Swarm: the host of this placement of the bot or the workers, whose task containers Swarm names
   * `tapbot_<service>-<host>.<slot>.<task id>` instead of `tapbot-<service>-<n>`.
   */
  swarmHost?: string;
}

/**
 * What the alerts watch, every number taken from the capacity plan (see monitoring-plan.ts): a changed
 * threshold, user count or limit changes the rendered rules, and so the deploy.
 */
export interface AlertRulesInput {
  thresholds: { ram: Marks; cpu: Marks; disk: Marks; swap: number; queueLength: number };
  containers: WatchedContainer[];
  /** Redis `maxmemory` of the plan, MB: the queue's Redis refuses writes (noeviction) once it is reached. */
  redisMaxmemoryMB: number;
  /** The host the queue's Redis runs on, which QueueRedisNotPersistent names. @defaultValue "automation" */
  redisHost?: string;
  /** PostgreSQL `max_connections` of the plan. */
  postgresMaxConnections: number;
  /** The plan's target for the p95 wait for a fal slot, seconds. */
  falWaitTargetSeconds: number;
  /** The stores whose backups write `tapbot_backup_last_success_timestamp_seconds{store}`. */
  backupStores: string[];
  /** A backup older than this is an alert. @defaultValue 26 (a daily job plus two hours of slack) */
  backupMaxAgeHours?: number;
  /** How long each condition must hold before it fires; see {@link PRODUCTION_TIMING}. */
  timing?: Partial<AlertTiming>;
  /**
   * With more than two hosts: each Swarm placement of the bot and the workers and its replicas. A task that
   * dies is replaced by a new one at a new address and the old one leaves DNS, so its `up` vanishes instead of
   * turning 0: these count the tasks that answer instead (SwarmTasksMissing).
   */
  swarmPlacements?: { job: "bot" | "worker"; host: string; replicas: number }[];
}

/** The `for:` durations, by kind of condition. */
export interface AlertTiming {
  /** A scrape target (process, exporter, host) not answering. */
  down: string;
  /** Memory or connections over the warn mark. */
  warn: string;
  /** Memory or connections over the critical mark. */
  crit: string;
  /** CPU over a mark: short bursts are normal, so longer. */
  cpu: string;
  /** Disk over a mark: slow to change. */
  disk: string;
  /** Queue backlog, fal-slot wait and saturation. */
  queue: string;
}

/**
 * The durations deployed: long enough that a restart or a burst does not page the owner, short enough that
 * an outage is known within minutes. The live test renders the same rules with seconds instead.
 */
export const PRODUCTION_TIMING: AlertTiming = {
  down: "2m",
  warn: "5m",
  crit: "2m",
  cpu: "15m",
  disk: "10m",
  queue: "10m",
};

/** One Prometheus alerting rule. */
export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string };
}

/** A rule group as Prometheus's rule file holds it. */
export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

const MB = 1024 * 1024;

function fraction(value: number, what: string): number {
  if (!(value > 0 && value <= 1)) throw new Error(`${what} must be a fraction in (0, 1]; got ${value}`);
  return value;
}

function percent(value: number): string {
  return `${Math.round(value * 1000) / 10} %`;
}

/**
 * The container-name regex of a service: `tapbot-<service>` with an optional replica number; of a Swarm
 * placement (`swarmHost`), its tasks' `tapbot_<service>-<host>.<slot>.<task id>`.
 */
export function containerNamePattern(service: string, swarmHost?: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(service)) throw new Error(`service name must be kebab-case; got ${service}`);
  if (swarmHost === undefined) return `tapbot-${service}(-[0-9]+)?`;
  if (!/^[a-z][a-z0-9-]*$/.test(swarmHost)) throw new Error(`host name must be kebab-case; got ${swarmHost}`);
  // `[.]`, not `\\.`: the pattern sits in a PromQL string, where a backslash is an escape of its own.
  return `tapbot_${service}-${swarmHost}[.][0-9]+[.][a-z0-9]+`;
}

/** The same condition at the warn and the critical mark, as two rules of one alert name. */
function atMarks(
  alert: string,
  marks: Marks,
  timing: AlertTiming,
  rule: (
    mark: number,
    level: "warn" | "crit",
  ) => Omit<AlertRule, "alert" | "labels" | "for"> & {
    labels?: Record<string, string>;
    for?: string;
  },
): AlertRule[] {
  fraction(marks.warn, `${alert} warn mark`);
  fraction(marks.crit, `${alert} critical mark`);
  return (["warn", "crit"] as const).map((level) => {
    const { labels, for: forDuration, expr, annotations } = rule(marks[level], level);
    return {
      alert,
      expr,
      for: forDuration ?? timing[level],
      labels: { severity: level === "warn" ? "warning" : "critical", ...labels },
      annotations,
    };
  });
}

/**
 * The alert rules of the plan, in groups: hosts (RAM, CPU, disk at the warn and critical marks, swap),
 * containers (each service's memory against its own limit), the queue and fal (backlog, wait for a fal slot
 * over the target, slots saturated, Telegram 429s), the stores (Redis near maxmemory, PostgreSQL near
 * max_connections), availability (a host or a process down) and backups (older than 26 h, failed, missing).
 * Every alert carries `severity` (warning | critical), which Alertmanager routes on, and a summary that says
 * what to do. Pure.
 */
export function alertRules(input: AlertRulesInput): RuleGroup[] {
  const t = { ...PRODUCTION_TIMING, ...input.timing };
  const th = input.thresholds;
  fraction(th.swap, "swap mark");
  const backupMaxAgeHours = input.backupMaxAgeHours ?? 26;
  if (!(input.redisMaxmemoryMB > 0))
    throw new Error(`redisMaxmemoryMB must be > 0; got ${input.redisMaxmemoryMB}`);
  if (!Number.isInteger(input.postgresMaxConnections) || input.postgresMaxConnections < 1) {
    throw new Error(`postgresMaxConnections must be an integer ≥ 1; got ${input.postgresMaxConnections}`);
  }
  const ramUsed = "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)";
  const cpuUsed = '(1 - avg by (host) (rate(node_cpu_seconds_total{mode="idle"}[5m])))';
  const rootFs = 'mountpoint="/",fstype!~"tmpfs|overlay"';
  const diskUsed = `(1 - node_filesystem_avail_bytes{${rootFs}} / node_filesystem_size_bytes{${rootFs}})`;
  const queued = 'sum(max by (state) (tapbot_queue_depth{state=~"waiting|prioritized"}))';

  const hosts: AlertRule[] = [
    ...atMarks("HostMemoryHigh", th.ram, t, (mark) => ({
      expr: `${ramUsed} > ${mark}`,
      annotations: {
        summary: `{{ $labels.host }}: RAM {{ $value | humanizePercentage }} used (mark ${percent(mark)})`,
        description:
          "The capacity plan keeps this host under the mark. Find the container that grew (Grafana: Containers), or run `npm run capacity -- plan --stack prod` for the upgrade it advises.",
      },
    })),
    ...atMarks("HostCpuHigh", th.cpu, t, (mark) => ({
      expr: `${cpuUsed} > ${mark}`,
      for: t.cpu,
      annotations: {
        summary: `{{ $labels.host }}: CPU {{ $value | humanizePercentage }} busy for ${t.cpu} (mark ${percent(mark)})`,
        description:
          "Sustained CPU over the plan's mark; see Grafana's Hosts dashboard for the busiest container.",
      },
    })),
    ...atMarks("HostDiskFull", th.disk, t, (mark) => ({
      expr: `${diskUsed} > ${mark}`,
      for: t.disk,
      annotations: {
        summary: `{{ $labels.host }}: disk / {{ $value | humanizePercentage }} full (mark ${percent(mark)})`,
        description:
          "Free space on the root filesystem: old images (`docker image prune`), backups past retention, Prometheus's data (its retention is sized by the plan).",
      },
    })),
    {
      alert: "HostSwapHigh",
      expr: `(1 - node_memory_SwapFree_bytes / node_memory_SwapTotal_bytes) > ${th.swap} and node_memory_SwapTotal_bytes > 0`,
      for: t.warn,
      labels: { severity: "warning" },
      annotations: {
        summary: `{{ $labels.host }}: swap {{ $value | humanizePercentage }} used (mark ${percent(th.swap)})`,
        description: "The host is short of RAM and pages out: expect slow answers. See HostMemoryHigh.",
      },
    },
  ];

  const containers: AlertRule[] = input.containers.flatMap((c) => {
    if (!(c.limitMB > 0)) throw new Error(`${c.service}: limitMB must be > 0; got ${c.limitMB}`);
    const bytes = c.limitMB * MB;
    return atMarks("ContainerMemoryNearLimit", th.ram, t, (mark) => ({
      expr: `container_memory_working_set_bytes{name=~"${containerNamePattern(c.service, c.swarmHost)}"} > ${Math.round(mark * bytes)}`,
      labels: { service: c.service },
      annotations: {
        summary: `{{ $labels.name }}: memory {{ $value | humanize1024 }}B, over ${percent(mark)} of its ${c.limitMB} MB limit`,
        description: `Docker kills ${c.service} at ${c.limitMB} MB (the plan's limit). If it keeps growing, recalibrate: \`npm run capacity -- calibrate --from-prometheus <url>\`.`,
      },
    }));
  });

  const queue: AlertRule[] = [
    {
      alert: "QueueBacklog",
      expr: `${queued} > ${th.queueLength}`,
      for: t.queue,
      labels: { severity: "warning" },
      annotations: {
        summary: `{{ $value }} generation jobs waiting for a worker (mark ${th.queueLength})`,
        description:
          "Workers are not keeping up: are they all up (ProcessDown)? Is fal slow (Grafana: Queue)?",
      },
    },
    {
      alert: "FalSlotWaitOverTarget",
      expr: `histogram_quantile(0.95, sum by (le) (rate(tapbot_fal_slot_wait_seconds_bucket[10m]))) > ${input.falWaitTargetSeconds}`,
      for: t.queue,
      labels: { severity: "warning" },
      annotations: {
        summary: `p95 wait for a fal slot {{ $value | humanizeDuration }} (plan's target ${input.falWaitTargetSeconds} s)`,
        description:
          "Requests wait longer than the plan assumes: more users than planned, or slower fal jobs. `npm run capacity -- plan --stack prod` says which account limit the users need.",
      },
    },
    {
      alert: "FalSlotsSaturated",
      expr: "max(tapbot_fal_slots_in_use) >= max(tapbot_fal_slots_limit) and max(tapbot_fal_slot_waiting) > 0",
      for: t.queue,
      labels: { severity: "warning" },
      annotations: {
        summary: "every fal slot of the account is in use and requests are waiting for one",
        description:
          "fal's per-account concurrency binds: ask fal to raise the limit, then set tapbot:capacity.providerConcurrency and run pulumi up.",
      },
    },
    {
      alert: "GenerationBudgetSpent",
      expr: 'sum(increase(tapbot_quota_refused_total{reason="hourly_budget"}[10m])) > 0',
      labels: { severity: "warning" },
      annotations: {
        summary:
          "the hourly budget of paid generations is spent: {{ $value | humanize }} requests refused as paused in 10 minutes",
        description:
          "New requests wait for the next UTC hour (GENERATION_BUDGET_PER_HOUR). More demand than the plan's peak, or someone abusing the bot: check the bot's log (one warn line per hour) and raise tapbot:capacity.spendingCaps.perHour if the demand is real.",
      },
    },
    {
      alert: "TelegramRateLimited",
      expr: 'sum(increase(tapbot_telegram_api_errors_total{code="429"}[10m])) > 0',
      labels: { severity: "warning" },
      annotations: {
        summary: "Telegram answered 429 (Too Many Requests) {{ $value | humanize }} times in 10 minutes",
        description:
          "The bot is at Telegram's message ceiling: answers are delayed by retry_after. The plan's telegram limit says at how many users this binds.",
      },
    },
  ];

  const redisBytes = input.redisMaxmemoryMB * MB;
  const redisHost = input.redisHost ?? "automation";
  if (!/^[a-z][a-z0-9-]*$/.test(redisHost))
    throw new Error(`redisHost must be a host name; got ${redisHost}`);
  const pgMax = input.postgresMaxConnections;
  const stores: AlertRule[] = [
    ...atMarks("RedisMemoryNearMaxmemory", th.ram, t, (mark) => ({
      expr: `redis_memory_used_bytes > ${Math.round(mark * redisBytes)}`,
      annotations: {
        summary: `Redis uses {{ $value | humanize1024 }}B, over ${percent(mark)} of maxmemory ${input.redisMaxmemoryMB} MB`,
        description:
          "At maxmemory Redis refuses writes (noeviction, as the queue needs): new requests fail. Raise the Redis budget in the plan or clear old keys.",
      },
    })),
    {
      // Each worker reads its Redis's persistence at start-up (app/worker): 0 is a queue a restart empties.
      // Every worker reads the one Redis, wherever the worker runs (with a Swarm, on several hosts): one alert
      // naming Redis's host, not one per worker host naming the worker's.
      alert: "QueueRedisNotPersistent",
      expr: "max(tapbot_queue_redis_persistent) == 0",
      labels: { severity: "critical", host: redisHost },
      annotations: {
        summary: `The queue's Redis on ${redisHost} keeps nothing on disk: its next restart loses every queued request`,
        description:
          "The program starts tapbot-redis with AOF (appendonly yes, everysec); someone or something turned it off. `docker exec tapbot-redis redis-cli CONFIG SET appendonly yes` keeps the queue now; the next `pulumi up` restores the setting.",
      },
    },
    ...atMarks("PostgresConnectionsNearMax", th.ram, t, (mark) => ({
      expr: `sum(pg_stat_database_numbackends) > ${Math.floor(mark * pgMax)}`,
      annotations: {
        summary: `PostgreSQL has {{ $value }} connections, over ${percent(mark)} of max_connections ${pgMax}`,
        description:
          "At max_connections new connections are refused: the bot and workers cannot store requests. The plan sizes max_connections from the pools; check for a leak.",
      },
    })),
  ];

  const availability: AlertRule[] = [
    {
      alert: "HostDown",
      expr: 'up{job="node"} == 0',
      for: t.down,
      labels: { severity: "critical" },
      annotations: {
        summary: "{{ $labels.host }} does not answer (node-exporter down, or the host or the tunnel is down)",
        description: "Every service on that host is unreachable from Prometheus; check the host over SSH.",
      },
    },
    {
      alert: "ProcessDown",
      expr: 'up{job!="node"} == 0',
      for: t.down,
      labels: { severity: "critical" },
      annotations: {
        summary: "{{ $labels.job }} {{ $labels.instance }} on {{ $labels.host }} is down",
        description:
          "Its /metrics did not answer: `docker ps -a` and `docker logs` of that container on the host.",
      },
    },
    ...(input.swarmPlacements ?? []).map((p): AlertRule => {
      if (!Number.isInteger(p.replicas) || p.replicas < 1) {
        throw new Error(`${p.job} on ${p.host}: replicas must be an integer ≥ 1; got ${p.replicas}`);
      }
      return {
        alert: "SwarmTasksMissing",
        // `or vector(0)`: no task at all (or the relay down, its series stale) is 0, not an empty result.
        expr: `(count(up{job="${p.job}",host="${p.host}"} == 1) or vector(0)) < ${p.replicas}`,
        // Longer than `down`: a worker update (stop-first, in batches) keeps a placement one batch short for
        // a grace period per batch, and that is the plan working, not an outage.
        for: t.warn,
        labels: { severity: "critical", job: p.job, host: p.host },
        annotations: {
          summary: `${p.job} on ${p.host}: {{ $value }} of its ${p.replicas} Swarm tasks answer`,
          description: `On the automation host: \`docker service ps tapbot_${p.job}-${p.host} --no-trunc\` says why tasks are not running (no node labelled ${p.host}, not enough memory, a crash loop); if none is missing, see ProcessDown for the metrics relay.`,
        },
      };
    }),
  ];

  const ageSeconds = backupMaxAgeHours * 3600;
  const backups: AlertRule[] = [
    {
      alert: "BackupStale",
      expr: `time() - tapbot_backup_last_success_timestamp_seconds > ${ageSeconds}`,
      labels: { severity: "critical" },
      annotations: {
        summary: `the last good {{ $labels.store }} backup is {{ $value | humanizeDuration }} old (more than ${backupMaxAgeHours} h)`,
        description: "The daily backup has not succeeded since; see the backup timer's journal on the host.",
      },
    },
    {
      alert: "BackupFailed",
      expr: "tapbot_backup_last_run_success == 0",
      labels: { severity: "critical" },
      annotations: {
        summary: "the last {{ $labels.store }} backup run failed",
        description: "See the backup timer's journal on the host; the previous good copy is still offsite.",
      },
    },
    ...input.backupStores.map(
      (store): AlertRule => ({
        alert: "BackupMissing",
        expr: `absent(tapbot_backup_last_success_timestamp_seconds{store="${store}"})`,
        for: `${backupMaxAgeHours}h`,
        labels: { severity: "critical", store },
        annotations: {
          summary: `no successful ${store} backup recorded for ${backupMaxAgeHours} h`,
          description: "The backup never ran, or node-exporter does not read its textfile directory.",
        },
      }),
    ),
  ];

  return [
    { name: "tapbot-hosts", rules: hosts },
    { name: "tapbot-containers", rules: containers },
    { name: "tapbot-queue", rules: queue },
    { name: "tapbot-stores", rules: stores },
    { name: "tapbot-availability", rules: availability },
    { name: "tapbot-backups", rules: backups },
  ];
}

/** The rule file Prometheus loads (`rule_files`), with a header saying where it comes from. */
export function renderAlertRules(input: AlertRulesInput): string {
  return `# Managed by tapbot infra (Pulumi): generated from the capacity plan; edit the plan, not this file.\n${stringify(
    { groups: alertRules(input) },
    { lineWidth: 0 },
  )}`;
}
