import { z } from "zod";
import { CapacityInputError, issuesFromZod } from "./input-error.js";
import { type PlanInput, parsePlanInput } from "./schema.js";

/** Measured budget figures of one service; each one given replaces the service's own, the rest stay. */
const measuredBudgetSchema = z.strictObject({
  baseMB: z.number().positive().optional(),
  perUserMB: z.number().nonnegative().optional(),
  perJobMB: z.number().nonnegative().optional(),
  reservationMB: z.number().nonnegative().optional(),
});

/**
 * A calibration file, as `npx tsx tests/bench/calibrate.ts` writes it (capacity/calibration.json): budgets
 * measured on the project's own processes, keyed by service name, and the CPU a job costs. `measurement`
 * holds the provenance (raw figures, fits, machine, date, the headroom rule); the model does not read it.
 * Unknown keys are rejected at every level, as in the plan input.
 */
export const calibrationSchema = z.strictObject({
  /** Said in the report: "budgets calibrated from <source>". */
  source: z.string().min(1),
  services: z.record(z.string().min(1), measuredBudgetSchema).default({}),
  cpuSecondsPerJob: z.number().nonnegative().optional(),
  measurement: z.record(z.string(), z.unknown()).optional(),
});

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

/**
 * The input with the calibration merged over its service budgets by name (the default list or a file's
 * own list) and its cpuSecondsPerJob, and `calibration.source` recorded for the plan to echo. Pure.
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
  const services = input.services.map((service) => {
    const measured = Object.entries(calibration.services[service.name] ?? {}).filter(
      ([, value]) => value !== undefined,
    );
    return { ...service, ...Object.fromEntries(measured) };
  });
  try {
    return parsePlanInput({
      ...input,
      services,
      cpuSecondsPerJob: calibration.cpuSecondsPerJob ?? input.cpuSecondsPerJob,
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
