import { z } from "zod";
import { CapacityInputError, issuesFromZod } from "./input-error.js";
import { type PlanInput, parsePlanInput, rssSchema } from "./schema.js";

/** Measured budget figures of one service; each one given replaces the service's own, the rest stay. */
const measuredBudgetSchema = z.strictObject({
  baseMB: z.number().positive().optional(),
  perUserMB: z.number().nonnegative().optional(),
  perJobMB: z.number().nonnegative().optional(),
  reservationMB: z.number().nonnegative().optional(),
});

/** Measured bytes per Redis key kind; each one given replaces the input's, the rest stay. */
const measuredRedisDataSchema = z.strictObject({
  emptyMB: z.number().nonnegative().optional(),
  bytesPerKey: z
    .strictObject({
      job: z.number().positive().optional(),
      finishedJob: z.number().positive().optional(),
      event: z.number().positive().optional(),
      resultCache: z.number().positive().optional(),
      updateLog: z.number().positive().optional(),
      rateLimit: z.number().positive().optional(),
      falSlot: z.number().positive().optional(),
    })
    .optional(),
});

/**
 * A calibration file (capacity/calibration.json): figures measured on the project's own processes. The
 * benchmarks write it (tests/bench: the load benchmark the budgets and the step figures, the Redis
 * measurement the bytes per key), each its own part. Every field but `source` and `measurement` is a model
 * input under the same name, and replaces that input when given:
 *
 * - `services`: memory budgets by service name (limit = baseMB + perUserMB × users + perJobMB × concurrency).
 * - `cpuSecondsPerStep`, `stepsPerJob`: what a worker step costs in CPU, and how many steps a job takes.
 * - `messagesPerJob`: Bot API calls per job, as counted.
 * - `redisData`: used_memory of the app's Redis empty, and bytes per key of each kind.
 * - `rss`, `budgetHeadroom`: the fitted RSS lines per process and the factor of the budgets over them (for
 *   predictions beside a load benchmark's measurements).
 *
 * `measurement` holds the provenance (raw figures, fits, machine, date, the headroom rule); the model does
 * not read it. Unknown keys are rejected at every level, as in the plan input.
 */
export const calibrationSchema = z.strictObject({
  /** Said in the report: "budgets calibrated from <source>". */
  source: z.string().min(1),
  services: z.record(z.string().min(1), measuredBudgetSchema).default({}),
  cpuSecondsPerStep: z.number().nonnegative().optional(),
  stepsPerJob: z.number().positive().optional(),
  messagesPerJob: z.number().positive().optional(),
  redisData: measuredRedisDataSchema.optional(),
  /** The fitted RSS lines (what a process uses), which predictions read; the budgets are these × headroom. */
  rss: rssSchema.optional(),
  /** The factor of the budgets over the fits (calibrate.ts: 1.5). */
  budgetHeadroom: z.number().min(1).optional(),
  measurement: z.record(z.string(), z.unknown()).optional(),
});

/** The model inputs a calibration may give besides the service budgets, under the inputs' own names. */
export const CALIBRATED_INPUTS = [
  "cpuSecondsPerStep",
  "stepsPerJob",
  "messagesPerJob",
  "redisData",
  "rss",
  "budgetHeadroom",
] as const;

/** A validated calibration. */
export type Calibration = z.output<typeof calibrationSchema>;

/** The calibration as the input of the model holds it under `calibration`, so issues read `calibration.…`. */
const wrapped = z.strictObject({ calibration: calibrationSchema });

/** Validates a calibration; throws CapacityInputError naming each bad field (`calibration.services.bot.baseMB`). */
export function parseCalibration(raw: unknown): Calibration {
  const result = wrapped.safeParse({ calibration: raw });
  if (!result.success) throw new CapacityInputError(issuesFromZod(result.error, { calibration: raw }));
  return result.data.calibration;
}

/** The defined entries of a measured object: what a calibration gives, without the keys it leaves out. */
function given<T extends object>(measured: T | undefined): Partial<T> {
  return Object.fromEntries(
    Object.entries(measured ?? {}).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/**
 * The input with the calibration merged over its service budgets by name (the default list or a file's
 * own list) and over the inputs it measured (CALIBRATED_INPUTS; redisData kind by kind), and
 * `calibration.source` recorded for the plan to echo. Pure.
 * Holds afterwards what parsePlanInput holds (the result is validated again, so a measured limit below a
 * service's reservation is an error, not a plan). A calibrated service missing from the list is an error:
 * a budget silently dropped would leave the unmeasured default in place.
 */
export function applyCalibration(input: PlanInput, calibration: Calibration): PlanInput {
  const names = input.services.map((s) => s.name);
  const missing = Object.keys(calibration.services).filter((name) => !names.includes(name));
  if (missing.length > 0) {
    throw new CapacityInputError(
      missing.map((name) => ({
        path: `calibration.services.${name}`,
        message: `no service named "${name}" in the services list; expected one of ${names.join(", ")}`,
      })),
    );
  }
  const services = input.services.map((service) => ({
    ...service,
    ...given(calibration.services[service.name]),
  }));
  const { redisData, ...scalars } = given({
    cpuSecondsPerStep: calibration.cpuSecondsPerStep,
    stepsPerJob: calibration.stepsPerJob,
    messagesPerJob: calibration.messagesPerJob,
    redisData: calibration.redisData,
    rss: calibration.rss,
    budgetHeadroom: calibration.budgetHeadroom,
  } satisfies Record<(typeof CALIBRATED_INPUTS)[number], unknown>);
  try {
    return parsePlanInput({
      ...input,
      ...scalars,
      services,
      redisData: {
        emptyMB: redisData?.emptyMB ?? input.redisData.emptyMB,
        bytesPerKey: { ...input.redisData.bytesPerKey, ...given(redisData?.bytesPerKey) },
      },
      calibration: { source: calibration.source },
    });
  } catch (error) {
    if (!(error instanceof CapacityInputError)) throw error;
    throw new CapacityInputError(
      error.issues.map((i) => ({
        ...i,
        message: `${i.message} (with the budgets calibrated from ${calibration.source})`,
      })),
    );
  }
}
