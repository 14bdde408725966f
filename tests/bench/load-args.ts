import { parseArgs } from "node:util";
import { z } from "zod";

/** How `npm run bench:load` is run; see {@link LOAD_USAGE}. */
export interface LoadArgs {
  users: number[];
  minutes: number;
  /** A number, or "auto": per level, the largest whole factor up to 10 that keeps the real rate ≤ maxRate. */
  timeFactor: number | "auto";
  maxRate: number;
  maxWorkers: number;
  providerConcurrency: number | undefined;
  seed: number;
  out: string | undefined;
}

export const LOAD_USAGE = `Usage: npm run bench:load -- --users N [--users M ...] [options]

Runs the compiled bot and workers as the capacity plan deploys them for N users (workers × concurrency,
FAL_CONCURRENCY = the plan's fal account limit) against throwaway Redis and PostgreSQL, a fake Telegram and
a fake fal that enforces that limit, with users arriving as a Poisson process at the plan's peak rate and
exponential fal job times (mean: the plan's jobSeconds). Prints, per level, the model's prediction beside
the measurement and their ratio.

Options:
  --users <n>                 users of one load level, a whole number ≥ 1; repeat for more levels (required)
  --minutes <m>               real minutes users arrive per level (default 2)
  --time-factor <f|auto>      time compression ≥ 1: job times, poll intervals and the deadline ÷ f, arrival
                              rates × f, so utilisation is unchanged; waits are printed × f. auto (default):
                              per level, the largest whole f up to 10 that keeps the real arrival rate
                              ≤ --max-rate, and 1 where the plan's rate is above it (300 users → 4,
                              1 200 and 2 400 → 1 at the defaults)
  --max-rate <r>              requests per real second the machine is asked to carry with auto (default 5)
  --max-workers <n>           most worker processes started on this machine (default 10); when the plan
                              deploys more, the benchmark runs this many with the plan's concurrency and says so
  --provider-concurrency <n>  the fal account limit instead of the one the plan needs at each level
  --seed <n>                  seed of arrivals, users and job times (default 1)
  --out <file>                also write the figures as JSON (tests/bench/calibrate.ts --from-load reads it)
  -h, --help                  this text`;

const whole = (name: string, min: number) =>
  z.coerce
    .number({ error: `--${name} must be a whole number ≥ ${min}` })
    .refine((n) => Number.isInteger(n) && n >= min, `--${name} must be a whole number ≥ ${min}`);
const positive = (name: string, min: number, inclusive: boolean) =>
  z.coerce
    .number({ error: `--${name} must be a number ${inclusive ? "≥" : ">"} ${min}` })
    .refine(
      (n) => Number.isFinite(n) && (inclusive ? n >= min : n > min),
      `--${name} must be a number ${inclusive ? "≥" : ">"} ${min}`,
    );

const schema = z.object({
  users: z
    .array(whole("users", 1))
    .min(1, "--users is required: the user count of a load level, e.g. --users 300"),
  minutes: positive("minutes", 0, false).default(2),
  "time-factor": z
    .string()
    .default("auto")
    .transform((text, ctx): number | "auto" => {
      if (text === "auto") return "auto";
      const n = Number(text);
      if (text.trim() !== "" && Number.isFinite(n) && n >= 1) return n;
      ctx.addIssue({ code: "custom", message: "--time-factor must be auto or a number ≥ 1" });
      return z.NEVER;
    }),
  "max-rate": positive("max-rate", 0, false).default(5),
  "max-workers": whole("max-workers", 1).default(10),
  "provider-concurrency": whole("provider-concurrency", 1).optional(),
  seed: whole("seed", 0).default(1),
  out: z.string().min(1).optional(),
});

/** Thrown for bad arguments: every problem, one line each, naming the option and what it allows. */
export class LoadArgsError extends Error {
  override readonly name = "LoadArgsError";
}

/** Parses the command line; `null` when --help was asked. Throws {@link LoadArgsError} naming each bad option. */
export function parseLoadArgs(argv: readonly string[]): LoadArgs | null {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        users: { type: "string", multiple: true },
        minutes: { type: "string" },
        "time-factor": { type: "string" },
        "max-rate": { type: "string" },
        "max-workers": { type: "string" },
        "provider-concurrency": { type: "string" },
        seed: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new LoadArgsError(`${(error as Error).message}\n\n${LOAD_USAGE}`);
  }
  if (values.help === true) return null;
  const { help: _help, ...given } = values;
  const parsed = schema.safeParse({ ...given, users: values.users ?? [] });
  if (!parsed.success) throw new LoadArgsError(parsed.error.issues.map((i) => i.message).join("\n"));
  const a = parsed.data;
  return {
    users: a.users,
    minutes: a.minutes,
    timeFactor: a["time-factor"],
    maxRate: a["max-rate"],
    maxWorkers: a["max-workers"],
    providerConcurrency: a["provider-concurrency"],
    seed: a.seed,
    out: a.out,
  };
}

/** The largest factor from 1 to 10 that keeps λ × f ≤ maxRate: as much compression as the machine carries. */
export function autoTimeFactor(arrivalPerSecond: number, maxRate: number): number {
  return Math.max(1, Math.min(10, Math.floor(maxRate / arrivalPerSecond)));
}
