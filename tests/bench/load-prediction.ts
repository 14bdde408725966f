import { readFileSync } from "node:fs";
import { type LoadPrediction, loadCapacityInput, type PlanInput, predictLoad } from "../../capacity/index.js";
import { repoRoot } from "../support/app-stack.js";
import { CALIBRATION_FILE } from "./calibration-file.js";

/**
 * What the capacity model predicts at one user count (its predictLoad), with the few inputs the benchmark
 * also holds measurements to: Bot API calls per job, status polls per job, and where the budgets came from.
 */
export interface LevelPrediction extends LoadPrediction {
  messagesPerJob: number;
  /** Status polls per job: every worker step but the submit. */
  pollsPerJob: number;
  /** The poll schedule the model's slot time assumes, which the benchmark's workers run (compressed), s. */
  pollInitialSeconds: number;
  pollMaxSeconds: number;
  /** The calibration the input was merged with (its `source`), or null. */
  calibration: string | null;
}

/**
 * The model's input at `users`, calibrated from capacity/calibration.json as the CLI and the stack are,
 * with the fal account limit when one is given (otherwise the model takes the one the users need).
 */
export function levelInput(users: number, providerConcurrency?: number): PlanInput {
  return loadCapacityInput({
    // The benchmark's workers run without FAL_WEBHOOK_URL: they learn that fal finished by polling.
    raw: {
      users,
      falCompletion: "poll",
      ...(providerConcurrency === undefined ? {} : { providerConcurrency }),
    },
    baseDir: repoRoot,
    readFile: (path) => readFileSync(path, "utf8"),
    calibrationFile: CALIBRATION_FILE,
  });
}

/** The prediction at `users`, with the account limit given or the one the model says the users need. */
export function predictLevel(users: number, providerConcurrency?: number): LevelPrediction {
  const input = levelInput(users, providerConcurrency);
  return {
    ...predictLoad(input),
    messagesPerJob: input.messagesPerJob,
    pollsPerJob: input.stepsPerJob - 1,
    pollInitialSeconds: input.pollInitialSeconds,
    pollMaxSeconds: input.pollMaxSeconds,
    calibration: input.calibration?.source ?? null,
  };
}
