/**
 * The model's defaults, taken from the owner's notes (../shared/seeds). They live in one place so that the
 * schema applies them and the CLI's `--help` prints them: a default shown to a person is the default used.
 */

/** The largest user count the model accepts; a resource that still fits here is reported as unbounded. */
export const USERS_MAX = 10_000_000;

/**
 * Bot API calls the app makes for one image request: the acknowledgement, its "generating" edit, the photo
 * and the "done" edit of the acknowledgement. The model's default `messagesPerJob`; the test that counts the
 * calls of a real job imports it, so the model and the app cannot drift apart.
 */
export const TELEGRAM_CALLS_PER_JOB = 4;

/**
 * How the workers learn that fal finished a job: "webhook" (fal POSTs it; the program always sets
 * FAL_WEBHOOK_URL) or "poll" (status polls on the POLL_* schedule; the app without FAL_WEBHOOK_URL, as in local
 * runs and the load benchmark). A slot is held until then (slot-hold.ts).
 */
export const FAL_COMPLETIONS = ["webhook", "poll"] as const;
export const FAL_COMPLETION_DEFAULT = "webhook";

/** Scalar inputs and their defaults (units in the names: per hour, seconds, MB, GB). */
export const SCALAR_DEFAULTS = {
  usersPerWorker: 30,
  requestsPerUserHour: 7.5,
  peakFactor: 2,
  jobSeconds: 25,
  /**
   * The app's status polls (POLL_INITIAL_SECONDS, POLL_MAX_SECONDS): a fal slot stays taken until a poll sees
   * the job finished, so they lengthen the time each request holds a slot (slot-hold.ts).
   */
  pollInitialSeconds: 2,
  pollMaxSeconds: 10,
  /**
   * With fal webhooks (falCompletion "webhook", what the program deploys): the mean time from fal finishing to
   * the worker freeing the slot. tests/bench/fal-webhooks.ts measured fal's completion → the photo at p50
   * 0.05 s and p95 0.15 s on loopback; 0.1 s leaves room for the internet between fal and Caddy.
   */
  webhookLagSeconds: 0.1,
  targetWaitP95Seconds: 5,
  maxWorkerConcurrency: 16,
  messagesPerJob: TELEGRAM_CALLS_PER_JOB,
  telegramMessagesPerSecond: 30,
  /**
   * Worker steps per job: submit, then one status poll per wake-up (2 s growing 1.6× to 10 s: five polls for
   * 25 s at fal), the last one also delivering. A step holds a worker slot; the wait at fal holds none.
   */
  stepsPerJob: 6,
  /**
   * Mean wall time one step holds a worker slot in production, s: a few ms of CPU, round trips to fal and
   * PostgreSQL, and for the deliver step the result's download and its upload to Telegram. An estimate: the
   * benchmark's fakes answer in microseconds, so it cannot measure the network part.
   */
  stepSeconds: 0.5,
  /** CPU one worker step costs (user + system), s; the notes' 0.5 s per job spread over its steps. */
  cpuSecondsPerStep: 0.08,
  systemDiskGB: 4,
  containerLogGB: 0.05,
  /** PostgreSQL connections each bot and worker process may hold (app/storage/pool.ts: max 5). */
  postgresPoolPerProcess: 5,
  /** Directus's pool (DB_POOL__MAX, 10 by default). */
  directusPoolMax: 10,
  /**
   * Connections beyond the pools: superuser_reserved_connections (3), the postgres exporter, the nightly
   * pg_dump, an operator's psql, a process restarting while its old connections time out.
   */
  postgresConnectionMargin: 10,
} as const;

/**
 * Paid generations one user may start per UTC day, by tier (the app's QUOTA_FREE_PER_DAY, QUOTA_VIP_PER_DAY).
 * The hourly budget has no fixed default: unset, it is the plan's own peak demand (spending-caps.ts).
 */
export const SPENDING_CAP_DEFAULTS = { freePerDay: 50, vipPerDay: 500 } as const;

/** PostgreSQL's own default max_connections; the plan never asks for fewer. */
export const POSTGRES_MAX_CONNECTIONS_FLOOR = 100;

/**
 * How long the app keeps each kind of Redis key, with the app's own defaults (app/queue/generation-queue.ts,
 * app/config.ts, app/bot/update-log.ts), so that Redis's maxmemory is sized for what the app stores.
 */
export const REDIS_RETENTION_DEFAULTS = {
  /** A job's keys live at most its longest deadline (DEADLINE_SECONDS_UPSCALE 300). */
  jobLifetimeSeconds: 300,
  /** BullMQ keeps completed jobs: removeOnComplete { age 3600, count 1000 }. */
  completedJobsKept: 1000,
  completedJobsAgeSeconds: 3600,
  /** …and failed ones: removeOnFail { age 86400, count 5000 }; counted as if every job could fail. */
  failedJobsKept: 5000,
  failedJobsAgeSeconds: 86_400,
  /** The events stream's maxLen (eventsStreamMaxLen). */
  eventsKept: 1000,
  /** The result cache's TTL (CACHE_TTL_SECONDS). */
  resultCacheSeconds: 86_400,
  /** The exactly-once log keeps a handled update id this long (UpdateLog doneSeconds). */
  updateLogSeconds: 86_400,
  /** Telegram updates per image request (the prompt, a /start or /status, a button). */
  updatesPerJob: 2,
  /** Over the data: fragmentation and allocator overhead (used_memory_rss over used_memory). */
  dataHeadroom: 1.25,
} as const;

/**
 * Redis memory of the app's keys, bytes per key of each kind (what `MEMORY USAGE` and used_memory say per
 * key, with the dictionary and expiry entries), and the used_memory of the app's Redis with nothing in it
 * (BullMQ's scripts, empty structures). Guesses on the high side until a calibration gives measured ones.
 */
export const REDIS_DATA_DEFAULTS = {
  emptyMB: 2,
  bytesPerKey: {
    /** A job from enqueue to its end: its hash (payload and step) and its place in the queue's sets. */
    job: 4000,
    /** A finished job BullMQ keeps (completed or failed, within the retention). */
    finishedJob: 4000,
    /** One entry of the queue's events stream. */
    event: 500,
    /** One cached result (the file_id of a delivered image). */
    resultCache: 250,
    /** One update id in the exactly-once log. */
    updateLog: 150,
    /** One user's sliding-window rate-limit log. */
    rateLimit: 300,
    /** One fal slot held (a lease of the account limit). */
    falSlot: 200,
  },
} as const;

/** Warn / critical marks as fractions of capacity; queueLength is in jobs. */
export const THRESHOLD_DEFAULTS = {
  ram: { warn: 0.85, crit: 0.95 },
  cpu: { warn: 0.8, crit: 0.9 },
  disk: { warn: 0.8, crit: 0.9 },
  swap: 0.5,
  queueLength: 100,
} as const;

/** Memory the operating system and Docker keep on every host, MB. */
export const SYSTEM_RESERVE_MB_DEFAULT = 500;

/** Per-service defaults for fields a config file may leave out. */
export const SERVICE_FIELD_DEFAULTS = {
  reservationMB: 0,
  perUserMB: 0,
  perJobMB: 0,
  cpuCores: 0.1,
  diskGB: 0.5,
} as const;

/** The owner's two servers at beget.com. */
export const HOST_DEFAULTS = [
  {
    name: "automation",
    ramMB: 4096,
    cpus: 2,
    diskGB: 10,
    priceRubPerMonth: 554,
    systemReserveMB: SYSTEM_RESERVE_MB_DEFAULT,
  },
  {
    name: "data",
    ramMB: 4096,
    cpus: 2,
    diskGB: 30,
    priceRubPerMonth: 714,
    systemReserveMB: SYSTEM_RESERVE_MB_DEFAULT,
  },
];

/**
 * The monitoring stack (infra/components/monitoring.ts): Prometheus, Alertmanager and Grafana on the data host,
 * which has the room; node-exporter and cAdvisor on every host (one service per host, as a service has one
 * host); the Redis and PostgreSQL exporters beside their stores. Budgets from the images' documented footprint
 * at this size (a few thousand series), to be replaced by `capacity calibrate --from-prometheus`. Prometheus's
 * diskGB is its image and WAL; the plan adds the retention it sizes to the disk (prometheus-retention.ts).
 */
const MONITORING_SERVICE_DEFAULTS = [
  { name: "prometheus", host: "data", baseMB: 384, reservationMB: 192, cpuCores: 0.1, diskGB: 0.5 },
  { name: "alertmanager", host: "data", baseMB: 64, reservationMB: 32, cpuCores: 0.02, diskGB: 0.1 },
  { name: "grafana", host: "data", baseMB: 192, reservationMB: 96, cpuCores: 0.05, diskGB: 0.6 },
  { name: "postgres-exporter", host: "data", baseMB: 32, reservationMB: 16, cpuCores: 0.02, diskGB: 0.05 },
  { name: "node-exporter-data", host: "data", baseMB: 32, reservationMB: 16, cpuCores: 0.02, diskGB: 0.05 },
  { name: "cadvisor-data", host: "data", baseMB: 64, reservationMB: 32, cpuCores: 0.05, diskGB: 0.1 },
  { name: "redis-exporter", host: "automation", baseMB: 32, reservationMB: 16, cpuCores: 0.02, diskGB: 0.05 },
  {
    name: "node-exporter-automation",
    host: "automation",
    baseMB: 32,
    reservationMB: 16,
    cpuCores: 0.02,
    diskGB: 0.05,
  },
  {
    name: "cadvisor-automation",
    host: "automation",
    baseMB: 64,
    reservationMB: 32,
    cpuCores: 0.05,
    diskGB: 0.1,
  },
];

/**
 * The per-host agents every host runs for Prometheus (infra/components/monitoring.ts), named `<agent>-<host>`
 * in the plan: a host growing out adds its own, and the program deploys them on an extra host.
 */
export const HOST_AGENTS = ["node-exporter", "cadvisor"] as const;

/**
 * The metrics relay the program runs once the plan has more than two hosts (infra/README, "Metrics of the
 * Swarm tasks"): a second Prometheus beside Caddy that scrapes the bot and worker tasks on the overlay for the
 * data host's Prometheus. Growing out from two hosts adds it, since the program refuses a larger plan
 * without it. Its figures are capacity/examples/three-hosts.yaml's (the pinned Prometheus image and an hour
 * of the tasks' series: an estimate, no image could be pulled to measure it).
 */
export const METRICS_RELAY_SERVICE = {
  name: "metrics-relay",
  baseMB: 96,
  reservationMB: 48,
  cpuCores: 0.05,
  diskGB: 0.4,
} as const;

/** The bot's memory per user in the notes: the old Python bot's figure, never measured on this bot. */
export const UNMEASURED_BOT_PER_USER_MB = 18;

/**
 * The memory budgets of the notes. The 18 MB per user of the bot comes from the old Python bot and was never
 * measured; it stays only until a calibration file replaces it. `worker` has no replicas here on purpose: its
 * replica count is the plan's worker count.
 */
export const SERVICE_DEFAULTS = [
  { name: "redis", host: "automation", baseMB: 256, reservationMB: 64, cpuCores: 0.1, diskGB: 0.5 },
  { name: "n8n", host: "automation", baseMB: 512, reservationMB: 320, cpuCores: 0.25, diskGB: 1.5 },
  /** The reverse proxy in front of the webhook, n8n, Directus and Grafana (TLS, a few hundred sites' worth). */
  { name: "caddy", host: "automation", baseMB: 128, reservationMB: 32, cpuCores: 0.05, diskGB: 0.1 },
  {
    name: "bot",
    host: "automation",
    /** The program runs two replicas, so one takes the webhook while the other is replaced. */
    replicas: 2,
    baseMB: 150,
    reservationMB: 100,
    perUserMB: UNMEASURED_BOT_PER_USER_MB,
    cpuCores: 0.1,
    diskGB: 0.5,
  },
  { name: "worker", host: "automation", baseMB: 250, reservationMB: 100, cpuCores: 0.05, diskGB: 0 },
  { name: "postgres", host: "data", baseMB: 1024, reservationMB: 512, cpuCores: 0.25, diskGB: 5 },
  { name: "directus", host: "data", baseMB: 512, reservationMB: 256, cpuCores: 0.1, diskGB: 1 },
  { name: "qdrant", host: "data", baseMB: 512, reservationMB: 256, cpuCores: 0.1, diskGB: 2 },
  ...MONITORING_SERVICE_DEFAULTS,
  /**
   * The queue dashboard (app/board/, Bull Board), beside Redis: the compiled process peaked at 114 MB resident
   * serving the page and its API; limit 1.5 × that (rounded up to 10 MB), reservation its RSS. No disk of its
   * own: it runs the app's image.
   */
  { name: "board", host: "automation", baseMB: 180, reservationMB: 120, cpuCores: 0.02, diskGB: 0 },
];

/** The priced offers of the notes: what a host can be upgraded to. */
export const CATALOG_DEFAULTS = [
  { name: "2cpu-4gb-10gb", cpus: 2, ramMB: 4096, diskGB: 10, priceRubPerMonth: 554 },
  { name: "2cpu-4gb-30gb", cpus: 2, ramMB: 4096, diskGB: 30, priceRubPerMonth: 714 },
  { name: "C1-M2-D20", cpus: 1, ramMB: 2048, diskGB: 20, priceRubPerMonth: 1100 },
  { name: "C4-M8-D120", cpus: 4, ramMB: 8192, diskGB: 120, priceRubPerMonth: 4880 },
];

/** Services the model needs by name: the queue lives in `redis`, the jobs run in `worker`. */
export const REQUIRED_SERVICES = ["redis", "worker"] as const;

/** The Redis eviction policies; only `noeviction` is safe for a queue. */
export const REDIS_POLICIES = [
  "noeviction",
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "volatile-lru",
  "volatile-lfu",
  "volatile-random",
  "volatile-ttl",
] as const;
