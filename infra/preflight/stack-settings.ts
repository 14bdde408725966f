import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { readText } from "../../capacity/cli/config-file.js";
import { UsageError } from "../../capacity/cli/usage-error.js";
import {
  DEFAULT_CALIBRATION_FILE,
  loadCapacityInput,
  type Plan,
  type PlanInput,
  plan,
} from "../../capacity/index.js";
import { firstDuplicateKey } from "../../capacity/yaml-duplicate-key.js";
import { CONFIG_NAMESPACE, type PlainConfig, parsePlainConfig } from "../config.js";

/** A stack file that cannot be read or parsed; the message names the file and what is wrong. */
export class StackSettingsError extends Error {
  override name = "StackSettingsError";
  constructor(
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

/** The stack as the program would see it: its plain settings, the capacity plan it deploys and that plan's input. */
export interface StackSettings {
  file: string;
  config: PlainConfig;
  input: PlanInput;
  plan: Plan;
  /** The keys (without the namespace) the stack holds as `secure:` values; their ciphertext is not read. */
  secretKeys: string[];
}

/**
 * The plain values of `config:` as Pulumi hands them to the program: namespace stripped, scalars as text,
 * lists as JSON text, `tapbot:capacity` as an object (the program reads it with getObject); `secure:`
 * values (ciphertext) are left out, preflight reads secrets separately.
 */
export function programView(config: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!key.startsWith(`${CONFIG_NAMESPACE}:`)) continue;
    const name = key.slice(CONFIG_NAMESPACE.length + 1);
    if (value !== null && typeof value === "object" && "secure" in value) continue;
    // Objects the program reads with getObject stay objects.
    if (name === "capacity" || name === "offsiteBackup") raw[name] = value;
    else if (value !== null && typeof value === "object") raw[name] = JSON.stringify(value);
    else if (value !== null && value !== undefined) raw[name] = String(value);
  }
  return raw;
}

/**
 * Reads Pulumi.<stack>.yaml with the program's own schema (parsePlainConfig) and computes the plan with the
 * capacity model's own loader, so preflight checks the servers against exactly what `pulumi up` deploys. A
 * missing key fails here, naming the key, as it would fail the deploy.
 */
export function readStackSettings(stack: string, stackDir: string): StackSettings {
  const file = join(resolve(stackDir), `Pulumi.${stack}.yaml`);
  let text: string;
  try {
    // Bounded and regular files only, as the capacity CLI reads its inputs.
    text = readText(file, "the stack file");
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const hint = error.message.endsWith("no such file") ? " (is --stack right, and --stack-dir?)" : "";
    throw new StackSettingsError(`${error.message}${hint}`);
  }
  const parsed = parseDocument(text, { uniqueKeys: false });
  const [syntax] = parsed.errors;
  if (syntax !== undefined) {
    throw new StackSettingsError(`${file}: YAML syntax error: ${syntax.message.split("\n")[0]}`);
  }
  // Linear, where the parser's own uniqueKeys check is quadratic in the number of keys.
  const duplicate = firstDuplicateKey(parsed.contents, "");
  if (duplicate !== undefined) {
    throw new StackSettingsError(`${file}: ${duplicate} is given twice; a key may appear once in a mapping`);
  }
  const doc: unknown = parsed.toJS();
  const config = (doc as { config?: unknown } | null)?.config;
  if (config === null || typeof config !== "object") {
    throw new StackSettingsError(`${file}: no "config:" mapping`);
  }
  let plain: PlainConfig;
  try {
    plain = parsePlainConfig(programView(config as Record<string, unknown>));
  } catch (error) {
    const problems = (error as { problems?: string[] }).problems;
    if (problems === undefined) throw error;
    throw new StackSettingsError(`${file}: the stack is not ready for \`pulumi up\``, problems);
  }
  let input: PlanInput;
  try {
    input = loadCapacityInput({
      raw: plain.capacity,
      baseDir: dirname(file),
      readFile: (path) => readFileSync(path, "utf8"),
      // The same budgets the program deploys (infra/program.ts): the project's calibration unless told otherwise.
      defaultCalibrationFile: DEFAULT_CALIBRATION_FILE,
    });
  } catch (error) {
    const issues = (error as { issues?: { path: string; message: string }[] }).issues;
    if (issues === undefined) throw error;
    throw new StackSettingsError(
      `${file}: ${CONFIG_NAMESPACE}:capacity is invalid`,
      issues.map((i) => `${CONFIG_NAMESPACE}:capacity.${i.path}: ${i.message}`),
    );
  }
  const secretKeys = Object.entries(config as Record<string, unknown>)
    .filter(
      ([key, value]) =>
        key.startsWith(`${CONFIG_NAMESPACE}:`) &&
        value !== null &&
        typeof value === "object" &&
        "secure" in value,
    )
    .map(([key]) => key.slice(CONFIG_NAMESPACE.length + 1));
  return { file, config: plain, input, plan: plan(input), secretKeys };
}
