import { CapacityInputError, type PlanInput, parsePlanInput } from "../index.js";
import { readConfigFile, readStackConfig } from "./config-file.js";
import { inputsFromFlags } from "./input-options.js";
import { UsageError } from "./usage-error.js";

/** Where the inputs come from, as commander hands over the options. */
export interface InputSources {
  config?: string;
  stack?: string;
  stackDir?: string;
  [flag: string]: unknown;
}

/**
 * The model input from a config file or a stack, then the flags on top, then the schema. `overrides` are set
 * last (the curve sets users per row). Errors name their source: the file, or the flags.
 */
export function loadInput(sources: InputSources, overrides: Record<string, unknown> = {}): PlanInput {
  if (sources.config !== undefined && sources.stack !== undefined) {
    throw new UsageError("give --config or --stack, not both");
  }
  let origin = "flags";
  let file: Record<string, unknown> = {};
  if (sources.config !== undefined) {
    file = readConfigFile(sources.config);
    origin = `${sources.config} and flags`;
  } else if (sources.stack !== undefined) {
    const stack = readStackConfig(sources.stack, sources.stackDir ?? ".");
    file = stack.raw;
    origin = `${stack.path} and flags`;
  }
  try {
    return parsePlanInput({ ...file, ...inputsFromFlags(sources), ...overrides });
  } catch (error) {
    if (error instanceof CapacityInputError) {
      throw new UsageError(
        `invalid input (from ${origin})`,
        error.issues.map((i) => `${i.path}: ${i.message}`),
      );
    }
    throw error;
  }
}
