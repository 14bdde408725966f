import { z } from "zod";
import {
  CATALOG_DEFAULTS,
  FAL_COMPLETION_DEFAULT,
  FAL_COMPLETIONS,
  HOST_DEFAULTS,
  REDIS_DATA_DEFAULTS,
  REDIS_POLICIES,
  REDIS_RETENTION_DEFAULTS,
  REQUIRED_SERVICES,
  SCALAR_DEFAULTS,
  SERVICE_DEFAULTS,
  SERVICE_FIELD_DEFAULTS,
  SPENDING_CAP_DEFAULTS,
  SYSTEM_RESERVE_MB_DEFAULT,
  THRESHOLD_DEFAULTS,
  USERS_MAX,
} from "./defaults.js";
import { CapacityInputError, issuesFromZod } from "./input-error.js";
import { APP_ROLE, hostAdmits, ROLE_SERVICES } from "./placement.js";
import { serviceLimitMB } from "./service-limit.js";

const positive = () => z.number().positive();
const nonNegative = () => z.number().nonnegative();
const fraction = () => z.number().gt(0).lte(1);

/**
 * A server: what it has and what it costs, and what the plan may place on it beyond the services pinned to it
 * (`roles`: "app" for the bot's and the workers' replicas, or service names; unset: only its pinned services).
 */
const hostSchema = z.strictObject({
  name: z.string().min(1),
  roles: z.array(z.string().min(1)).optional(),
  ramMB: z.int().positive(),
  cpus: positive(),
  diskGB: positive(),
  priceRubPerMonth: nonNegative().default(0),
  systemReserveMB: z.int().nonnegative().default(SYSTEM_RESERVE_MB_DEFAULT),
});

/**
 * A container with its memory budget, CPU share and disk footprint; pinned to `host`, or without one placed by
 * the plan on the hosts whose roles admit it (placement.ts).
 */
const serviceSchema = z.strictObject({
  name: z.string().min(1),
  host: z.string().min(1).optional(),
  baseMB: positive(),
  reservationMB: nonNegative().default(SERVICE_FIELD_DEFAULTS.reservationMB),
  perUserMB: nonNegative().default(SERVICE_FIELD_DEFAULTS.perUserMB),
  perJobMB: nonNegative().default(SERVICE_FIELD_DEFAULTS.perJobMB),
  /** Unset: 1, and for `worker` the plan's worker count. */
  replicas: z.int().min(1).optional(),
  cpuCores: nonNegative().default(SERVICE_FIELD_DEFAULTS.cpuCores),
  diskGB: nonNegative().default(SERVICE_FIELD_DEFAULTS.diskGB),
});

/** A priced server offer a host can be upgraded to. */
const offerSchema = z.strictObject({
  name: z.string().min(1),
  cpus: positive(),
  ramMB: z.int().positive(),
  diskGB: positive(),
  priceRubPerMonth: nonNegative(),
});

const markSchema = (marks: { warn: number; crit: number }) =>
  z
    .strictObject({ warn: fraction().default(marks.warn), crit: fraction().default(marks.crit) })
    .superRefine((m, ctx) => {
      if (m.warn >= m.crit) {
        ctx.addIssue({
          code: "custom",
          path: ["warn"],
          message: `got ${m.warn} with crit ${m.crit}; expected warn below crit`,
        });
      }
    });

const thresholdsSchema = z.strictObject({
  ram: markSchema(THRESHOLD_DEFAULTS.ram).prefault({}),
  cpu: markSchema(THRESHOLD_DEFAULTS.cpu).prefault({}),
  disk: markSchema(THRESHOLD_DEFAULTS.disk).prefault({}),
  swap: fraction().default(THRESHOLD_DEFAULTS.swap),
  queueLength: positive().default(THRESHOLD_DEFAULTS.queueLength),
});

/** Redis settings someone intends to deploy, so that `check` can judge them. */
const intendedRedisSchema = z.strictObject({
  maxmemoryMB: nonNegative().optional(),
  policy: z.enum(REDIS_POLICIES).optional(),
  /** `appendonly`: the queue's Redis must persist, or a restart loses every queued job. */
  appendonly: z.boolean().optional(),
});

const keyBytes = REDIS_DATA_DEFAULTS.bytesPerKey;

/**
 * Bytes per key of each kind of the app's Redis keys (see REDIS_DATA_DEFAULTS), and Redis's used_memory
 * with none of them. A calibration replaces kind by kind what it measured.
 */
export const redisDataSchema = z.strictObject({
  emptyMB: nonNegative().default(REDIS_DATA_DEFAULTS.emptyMB),
  bytesPerKey: z
    .strictObject({
      job: positive().default(keyBytes.job),
      finishedJob: positive().default(keyBytes.finishedJob),
      event: positive().default(keyBytes.event),
      resultCache: positive().default(keyBytes.resultCache),
      updateLog: positive().default(keyBytes.updateLog),
      rateLimit: positive().default(keyBytes.rateLimit),
      falSlot: positive().default(keyBytes.falSlot),
    })
    .prefault({}),
});

/**
 * The resident memory a process is expected to use (the measured fit), as opposed to its Docker limit (the
 * budget, the fit with headroom). Only predictions read it (predict.ts); the plan sizes with the budgets.
 */
export const rssSchema = z.strictObject({
  bot: z.strictObject({ baseMB: positive(), perUserMB: nonNegative().default(0) }),
  worker: z.strictObject({ baseMB: positive(), perJobMB: nonNegative().default(0) }),
});

const rr = REDIS_RETENTION_DEFAULTS;

/** How long the app keeps each kind of Redis key (see REDIS_RETENTION_DEFAULTS). */
export const redisRetentionSchema = z.strictObject({
  jobLifetimeSeconds: positive().default(rr.jobLifetimeSeconds),
  completedJobsKept: nonNegative().default(rr.completedJobsKept),
  completedJobsAgeSeconds: nonNegative().default(rr.completedJobsAgeSeconds),
  failedJobsKept: nonNegative().default(rr.failedJobsKept),
  failedJobsAgeSeconds: nonNegative().default(rr.failedJobsAgeSeconds),
  eventsKept: nonNegative().default(rr.eventsKept),
  resultCacheSeconds: nonNegative().default(rr.resultCacheSeconds),
  updateLogSeconds: nonNegative().default(rr.updateLogSeconds),
  updatesPerJob: nonNegative().default(rr.updatesPerJob),
  dataHeadroom: z.number().min(1).default(rr.dataHeadroom),
});

/** The image build on a host (peak MB during a deploy, GB of cache and images kept); null when built elsewhere. */
const imageBuildSchema = z.strictObject({
  host: z.string().min(1),
  peakMB: nonNegative(),
  diskGB: nonNegative().default(0),
});

/** The caps on paid generations the app enforces; see spending-caps.ts. */
const spendingCapsSchema = z.strictObject({
  freePerDay: z.int().min(0).default(SPENDING_CAP_DEFAULTS.freePerDay),
  vipPerDay: z.int().min(0).default(SPENDING_CAP_DEFAULTS.vipPerDay),
  /** Unset: the plan's peak demand per hour, rounded up. */
  perHour: z.int().min(1).optional(),
  /** fal's price of one generation in USD; unset: no money figures. */
  usdPerGeneration: nonNegative().optional(),
});

const d = SCALAR_DEFAULTS;

/** The names of a list, with an issue at each name that an earlier item already has. */
function uniqueNames(
  items: readonly { name: string }[],
  list: "hosts" | "services",
  what: string,
  ctx: z.RefinementCtx,
): string[] {
  const names = items.map((item) => item.name);
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) {
      ctx.addIssue({
        code: "custom",
        path: [list, i, "name"],
        message: `got "${name}" twice; ${what} names must be unique`,
      });
    }
  });
  return names;
}

/**
 * The raw input of the model (a config file, a stack's `tapbot:capacity` object, CLI flags). Unknown keys are
 * rejected at every level, so a misspelt field is an error rather than a silently ignored default. A `hosts`
 * or `services` list replaces the default list.
 */
export const planInputSchema = z
  .strictObject({
    users: z.int().min(1).max(USERS_MAX),
    usersPerWorker: z.int().min(1).default(d.usersPerWorker),
    requestsPerUserHour: positive().default(d.requestsPerUserHour),
    peakFactor: z.number().min(1).default(d.peakFactor),
    jobSeconds: positive().default(d.jobSeconds),
    pollInitialSeconds: positive().default(d.pollInitialSeconds),
    pollMaxSeconds: positive().default(d.pollMaxSeconds),
    falCompletion: z.enum(FAL_COMPLETIONS).default(FAL_COMPLETION_DEFAULT),
    webhookLagSeconds: nonNegative().default(d.webhookLagSeconds),
    targetWaitP95Seconds: positive().default(d.targetWaitP95Seconds),
    maxWorkerConcurrency: z.int().min(1).max(1000).default(d.maxWorkerConcurrency),
    providerConcurrency: z.int().min(1).optional(),
    messagesPerJob: positive().default(d.messagesPerJob),
    telegramMessagesPerSecond: positive().default(d.telegramMessagesPerSecond),
    stepsPerJob: positive().default(d.stepsPerJob),
    stepSeconds: positive().default(d.stepSeconds),
    cpuSecondsPerStep: nonNegative().default(d.cpuSecondsPerStep),
    systemDiskGB: nonNegative().default(d.systemDiskGB),
    containerLogGB: nonNegative().default(d.containerLogGB),
    /** Unset: enough for every pool and a margin (postgres-connections.ts), at least PostgreSQL's 100. */
    postgresMaxConnections: z.int().min(1).optional(),
    postgresPoolPerProcess: z.int().min(0).default(d.postgresPoolPerProcess),
    directusPoolMax: z.int().min(0).default(d.directusPoolMax),
    postgresConnectionMargin: z.int().min(0).default(d.postgresConnectionMargin),
    redisRetention: redisRetentionSchema.prefault({}),
    spendingCaps: spendingCapsSchema.prefault({}),
    /** Unset or null: the app image is built off the hosts (as the program does); an object: on that host. */
    imageBuild: imageBuildSchema.nullable().optional(),
    hosts: z
      .array(hostSchema)
      .min(1)
      .default(() => HOST_DEFAULTS.map((h) => ({ ...h }))),
    services: z
      .array(serviceSchema)
      .min(1)
      .default(() => SERVICE_DEFAULTS.map((s) => serviceSchema.parse(s))),
    thresholds: thresholdsSchema.prefault({}),
    catalog: z.array(offerSchema).default(() => CATALOG_DEFAULTS.map((o) => ({ ...o }))),
    redis: intendedRedisSchema.optional(),
    redisData: redisDataSchema.prefault({}),
    /** Predicted RSS lines per process (a calibration's fits); unset: the budgets / budgetHeadroom. */
    rss: rssSchema.optional(),
    /** How far the memory budgets sit over the expected RSS (calibrate.ts's rule: 1.5 × the fit). */
    budgetHeadroom: z.number().min(1).default(1.5),
    /**
     * Where the calibrated budgets came from, set by `applyCalibration` (calibration.ts) when it merges a
     * measured file over the services; null while every budget is a default or a config file's own figure.
     * A config file names a calibration *file* under the same key; `loadCapacityInput` reads it.
     */
    calibration: z
      .strictObject({ source: z.string().min(1) })
      .nullable()
      .default(null),
  })
  .superRefine((input, ctx) => {
    const hostNames = uniqueNames(input.hosts, "hosts", "host", ctx);
    const serviceNames = uniqueNames(input.services, "services", "service", ctx);
    input.hosts.forEach((h, i) => {
      (h.roles ?? []).forEach((role, j) => {
        if (role !== APP_ROLE && !serviceNames.includes(role)) {
          ctx.addIssue({
            code: "custom",
            path: ["hosts", i, "roles", j],
            message: `got "${role}"; expected "${APP_ROLE}" (${ROLE_SERVICES[APP_ROLE]?.join(" and ")}) or a service name: ${serviceNames.join(", ")}`,
          });
        }
      });
    });
    input.services.forEach((s, i) => {
      if (s.host !== undefined && !hostNames.includes(s.host)) {
        ctx.addIssue({
          code: "custom",
          path: ["services", i, "host"],
          message: `got "${s.host}"; expected one of the hosts: ${hostNames.join(", ")}`,
        });
      }
      if (s.host === undefined && !input.hosts.some((h) => hostAdmits(h, s.name))) {
        ctx.addIssue({
          code: "custom",
          path: ["services", i, "host"],
          message: `unset, and no host's roles admit "${s.name}"; expected a host (${hostNames.join(", ")}) or a host with "${s.name}"${ROLE_SERVICES[APP_ROLE]?.includes(s.name) ? ` or "${APP_ROLE}"` : ""} in its roles`,
        });
      }
      // The smallest limit this service gets at these users (concurrency is at least 1); only meaningful
      // once users itself is valid.
      const limit = serviceLimitMB(s, input.users, 1);
      if (Number.isInteger(input.users) && input.users >= 1 && s.reservationMB > limit) {
        ctx.addIssue({
          code: "custom",
          path: ["services", i, "reservationMB"],
          message: `got ${s.reservationMB}; expected at most the memory limit, ${limit} MB at ${input.users} users (Docker refuses a reservation above the limit)`,
        });
      }
    });
    if (input.imageBuild && !hostNames.includes(input.imageBuild.host)) {
      ctx.addIssue({
        code: "custom",
        path: ["imageBuild", "host"],
        message: `got "${input.imageBuild.host}"; expected one of the hosts: ${hostNames.join(", ")}`,
      });
    }
    for (const required of REQUIRED_SERVICES) {
      if (!serviceNames.includes(required)) {
        ctx.addIssue({
          code: "custom",
          path: ["services"],
          message: `got ${serviceNames.join(", ")}; expected a service named "${required}" among them (the queue needs it)`,
        });
      }
    }
  });

/** The validated input of `plan()`, every default applied. */
export type PlanInput = z.output<typeof planInputSchema>;
/** One host of the input. */
export type HostInput = PlanInput["hosts"][number];
/** One service of the input. */
export type ServiceInput = PlanInput["services"][number];
/** One offer of the catalog. */
export type Offer = PlanInput["catalog"][number];
/** Warn / critical marks. */
export type Thresholds = PlanInput["thresholds"];

/** Validates raw input and applies the defaults; throws CapacityInputError naming each bad field and value. */
export function parsePlanInput(raw: unknown): PlanInput {
  const result = planInputSchema.safeParse(raw);
  if (!result.success) throw new CapacityInputError(issuesFromZod(result.error, raw));
  return result.data;
}
