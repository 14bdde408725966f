import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The one Prometheus registry of the process, served at /metrics by the ops server. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "tapbot_process_" });

/** Returns the job counts by BullMQ state, or undefined while no queue is attached. */
type QueueDepthSource = () => Promise<Record<string, number>>;
let queueDepthSource: QueueDepthSource | undefined;

/**
 * Attaches the queue whose depth `tapbot_queue_depth` reports; collected at scrape time so the gauge is
 * never stale. Pass undefined to detach (at shutdown).
 */
export function setQueueDepthSource(source: QueueDepthSource | undefined): void {
  queueDepthSource = source;
}

/** The fal slots' state: in use, waiting for one, and the limit (see app/queue/fal-slots.ts). */
type FalSlotsState = { inUse: number; waiting: number; limit: number };
/** Reads the fal slots' state, or undefined while no process attached it. */
type FalSlotsSource = () => Promise<FalSlotsState>;
let falSlotsSource: FalSlotsSource | undefined;
/** One read of the slots per scrape, shared by the three gauges that report it. */
let falSlotsRead: { at: number; value: Promise<FalSlotsState> } | undefined;

/**
 * Attaches the fal slots whose use `tapbot_fal_slots_in_use`, `tapbot_fal_slots_limit` and
 * `tapbot_fal_slot_waiting` report, read from Redis at scrape time (every process reports the same
 * account-wide numbers; alerts take the max). Pass undefined to detach (at shutdown).
 */
export function setFalSlotsSource(source: FalSlotsSource | undefined): void {
  falSlotsSource = source;
  falSlotsRead = undefined;
}

function readFalSlots(): Promise<FalSlotsState> | undefined {
  if (falSlotsSource === undefined) return undefined;
  const now = Date.now();
  if (falSlotsRead === undefined || now - falSlotsRead.at > 500) {
    falSlotsRead = { at: now, value: falSlotsSource() };
  }
  return falSlotsRead.value;
}

const seconds = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];

/** Every metric of the app, the bot's and the worker's, registered once in {@link registry}. */
export const metrics = {
  updates: new Counter({
    name: "tapbot_updates_total",
    help: "Telegram updates handled, by kind",
    labelNames: ["kind"] as const,
    registers: [registry],
  }),
  rateLimited: new Counter({
    name: "tapbot_rate_limited_total",
    help: "Requests refused by the per-user rate limit",
    registers: [registry],
  }),
  quotaRefused: new Counter({
    name: "tapbot_quota_refused_total",
    help: "Requests refused by a spending cap: daily_quota (the user's day) or hourly_budget (new requests paused)",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  cacheHits: new Counter({
    name: "tapbot_cache_hits_total",
    help: "Requests answered from the result cache without a provider call",
    registers: [registry],
  }),
  jobsEnqueued: new Counter({
    name: "tapbot_jobs_enqueued_total",
    help: "Generation jobs added to the queue",
    labelNames: ["kind", "tier"] as const,
    registers: [registry],
  }),
  jobsCompleted: new Counter({
    name: "tapbot_jobs_completed_total",
    help: "Generation jobs delivered to the user",
    labelNames: ["kind"] as const,
    registers: [registry],
  }),
  jobsFailed: new Counter({
    name: "tapbot_jobs_failed_total",
    help: "Generation jobs that ended without an image, by reason",
    labelNames: ["kind", "reason"] as const,
    registers: [registry],
  }),
  jobsRetried: new Counter({
    name: "tapbot_jobs_retried_total",
    help: "Generation job attempts that failed and were scheduled again",
    labelNames: ["kind"] as const,
    registers: [registry],
  }),
  jobDuration: new Histogram({
    name: "tapbot_job_duration_seconds",
    help: "From acceptance to delivery",
    labelNames: ["kind"] as const,
    buckets: seconds,
    registers: [registry],
  }),
  providerLatency: new Histogram({
    name: "tapbot_provider_latency_seconds",
    help: "From submission at fal to the result being ready",
    labelNames: ["kind"] as const,
    buckets: seconds,
    registers: [registry],
  }),
  falWebhooks: new Counter({
    name: "tapbot_fal_webhooks_total",
    help: "fal webhooks received, by outcome: matched (its job was woken if it waited), unmatched (no job recorded for it yet, or an unknown request), refused (signature, 401), unavailable (fal's keys unreadable, 503)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  pollsPerJob: new Histogram({
    name: "tapbot_polls_per_job",
    help: "Status requests made to fal per job",
    labelNames: ["kind"] as const,
    buckets: [0, 1, 2, 3, 5, 8, 13, 21, 34, 55],
    registers: [registry],
  }),
  queueRedisPersistent: new Gauge({
    name: "tapbot_queue_redis_persistent",
    help: "1 when the queue's Redis keeps its data on disk (AOF or RDB save rules), 0 when a restart loses the queue; read at start-up",
    registers: [registry],
  }),
  queueDepth: new Gauge({
    name: "tapbot_queue_depth",
    help: "Jobs in the queue by BullMQ state",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      if (queueDepthSource === undefined) return;
      const counts = await queueDepthSource();
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  }),
  falSlotsInUse: new Gauge({
    name: "tapbot_fal_slots_in_use",
    help: "Requests in flight at fal (submitted, not yet completed, failed or cancelled), account-wide",
    registers: [registry],
    async collect() {
      const read = readFalSlots();
      if (read !== undefined) this.set((await read).inUse);
    },
  }),
  falSlotsLimit: new Gauge({
    name: "tapbot_fal_slots_limit",
    help: "The fal account's concurrent request limit the app enforces (FAL_CONCURRENCY)",
    registers: [registry],
    async collect() {
      const read = readFalSlots();
      if (read !== undefined) this.set((await read).limit);
    },
  }),
  falSlotWaiting: new Gauge({
    name: "tapbot_fal_slot_waiting",
    help: "Accepted requests waiting for a fal slot, account-wide",
    registers: [registry],
    async collect() {
      const read = readFalSlots();
      if (read !== undefined) this.set((await read).waiting);
    },
  }),
  falSlotWait: new Histogram({
    name: "tapbot_fal_slot_wait_seconds",
    help: "From the bot accepting a request to its job getting a fal slot (the queue wait of the capacity model)",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [registry],
  }),
  telegramApiErrors: new Counter({
    name: "tapbot_telegram_api_errors_total",
    help: "Failed Telegram Bot API calls (each attempt), by method and error code",
    labelNames: ["method", "code"] as const,
    registers: [registry],
  }),
  requestIdRecordSeconds: new Histogram({
    name: "tapbot_request_id_record_seconds",
    help: "From fal accepting a submission to the first store recording its request id: the window in which a worker's death means a second, billed submission",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  }),
  outcomeRecordSeconds: new Histogram({
    name: "tapbot_outcome_record_seconds",
    help: "From Telegram accepting a result or a final message to the first store recording it: the window in which a worker's death means sending it again",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  }),
  ackLatency: new Histogram({
    name: "tapbot_ack_latency_seconds",
    help: "From the user's message to the acknowledgement being sent",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [registry],
  }),
};
