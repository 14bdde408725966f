import { dirname, resolve } from "node:path";
import {
  CalibrationFileError,
  CapacityInputError,
  DEFAULT_CALIBRATION_FILE,
  loadCapacityInput,
  type PlanInput,
} from "../index.js";
import { readConfigFile, readStackConfig, readText } from "./config-file.js";
import { inputsFromFlags } from "./input-options.js";
import { stackNameProblem } from "./stack-name.js";
import { UsageError } from "./usage-error.js";

/** The most problems of one input that are printed; the rest are counted. */
const MAX_REPORTED_PROBLEMS = 20;

/** Where the inputs come from, as commander hands over the options. */
export interface InputSources {
  config?: string;
  stack?: string;
  stackDir?: string;
  calibration?: string;
  profile?: string;
  [flag: string]: unknown;
}

/**
 * The model input from a config file or a stack, then the flags on top, then the schema, then the
 * calibration (`--calibration FILE`, else the file's `calibration:` path, relative to that file, else the
 * project's capacity/calibration.json when the services are the default ones), unless `--profile legacy`.
 * `overrides` are set last (the curve sets users per row). Errors name their source: the file, the
 * calibration file, or the flags.
 */
export function loadInput(sources: InputSources, overrides: Record<string, unknown> = {}): PlanInput {
  if (sources.config !== undefined && sources.stack !== undefined) {
    throw new UsageError("give --config or --stack, not both");
  }
  let origin = "flags";
  let raw: Record<string, unknown> = {};
  let baseDir = ".";
  if (sources.config !== undefined) {
    raw = readConfigFile(sources.config);
    baseDir = dirname(resolve(sources.config));
    origin = `${sources.config} and flags`;
  } else if (sources.stack !== undefined) {
    const problem = stackNameProblem(sources.stack);
    if (problem !== undefined) throw new UsageError(problem);
    const stack = readStackConfig(sources.stack, sources.stackDir ?? ".");
    raw = stack.raw;
    baseDir = dirname(stack.path);
    origin = `${stack.path} and flags`;
  }
  try {
    return loadCapacityInput({
      raw,
      baseDir,
      readFile: (path) => readText(path, "calibration file"),
      ...(sources.calibration === undefined ? {} : { calibrationFile: sources.calibration }),
      defaultCalibrationFile: DEFAULT_CALIBRATION_FILE,
      overrides: {
        ...inputsFromFlags(sources),
        ...(sources.profile === undefined ? {} : { profile: sources.profile }),
        ...overrides,
      },
    });
  } catch (error) {
    const details = (e: CapacityInputError) => e.issues.map((i) => `${i.path}: ${i.message}`);
    if (error instanceof CalibrationFileError) {
      throw new UsageError(`invalid calibration file ${error.file}`, details(error));
    }
    if (error instanceof CapacityInputError) {
      // At most 20 lines, then how many more: a config of 100 000 unknown keys is one mistake, not a page each.
      const lines = details(error);
      const shown =
        lines.length > MAX_REPORTED_PROBLEMS
          ? [
              ...lines.slice(0, MAX_REPORTED_PROBLEMS),
              `and ${lines.length - MAX_REPORTED_PROBLEMS} more problems`,
            ]
          : lines;
      throw new UsageError(`invalid input (from ${origin})`, shown);
    }
    throw error;
  }
}
