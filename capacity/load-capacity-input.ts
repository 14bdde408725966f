import { resolve } from "node:path";
import { parseDocument } from "yaml";
import {
  applyCalibration,
  CALIBRATED_INPUTS,
  type Calibration,
  calibrationSchema,
  parseCalibration,
} from "./calibration.js";
import { PROFILES, type Profile } from "./default-calibration.js";
import { CapacityInputError } from "./input-error.js";
import { type PlanInput, parsePlanInput } from "./schema.js";
import { firstDuplicateKey } from "./yaml-duplicate-key.js";

/** A calibration file that cannot be used: which file, and each problem (`calibration.services.x: …`). */
export class CalibrationFileError extends CapacityInputError {
  override name = "CalibrationFileError";

  constructor(
    readonly file: string,
    cause: CapacityInputError,
  ) {
    super(cause.issues);
  }
}

/** Where the model's inputs come from; see {@link loadCapacityInput}. */
export interface CapacityInputSources {
  /**
   * The inputs as written: a config file's mapping or a stack's `tapbot:capacity` object. Its
   * `calibration` key is the path of a calibration file, relative to `baseDir` (or the calibration itself,
   * inline).
   */
  raw: Record<string, unknown>;
  /** The directory of the file `raw` came from. */
  baseDir: string;
  /** Reads a file's text: the only I/O, so the CLI and the Pulumi program each bring their own. */
  readFile: (path: string) => string;
  /** A calibration file that replaces `raw.calibration` (the CLI's `--calibration`), used as given. */
  calibrationFile?: string;
  /** Inputs over `raw` (the CLI's flags). A calibrated input given here wins over the calibration's. */
  overrides?: Record<string, unknown>;
  /**
   * The calibration used when none is named and the input keeps the default services list (DEFAULT_CALIBRATION_FILE
   * for the CLI and the stack). A file's own services list keeps its own figures unless it names a calibration.
   */
  defaultCalibrationFile?: string;
}

/** The profile of raw input (`profile:` in a file, `--profile` among the overrides); `calibrated` unless given. */
function profileOf(raw: Record<string, unknown>, overrides: Record<string, unknown>): Profile {
  const given = overrides.profile ?? raw.profile ?? "calibrated";
  if (typeof given === "string" && (PROFILES as readonly string[]).includes(given)) return given as Profile;
  throw new CapacityInputError([
    { path: "profile", message: `got ${JSON.stringify(given)}; expected one of ${PROFILES.join(", ")}` },
  ]);
}

/** What a calibration file is, said when a file is not one (instead of anything the file holds). */
const NOT_A_CALIBRATION =
  "not a calibration file: expected a JSON or YAML mapping of `source` and the measured figures, like capacity/calibration.json";

/** The most problems of one calibration file that are reported; the rest are counted. */
const MAX_CALIBRATION_ISSUES = 20;

/**
 * Reads a calibration file. Whatever the path points at, no line of a file that is not a calibration is
 * echoed: unparsable text, or a document that is not a mapping with at least one of a calibration's keys, is
 * "not a calibration file"
 * and nothing more (`--calibration /etc/shadow` must not print the shadow file). A file that is one gets
 * its problems field by field, at most {@link MAX_CALIBRATION_ISSUES} of them. Duplicate keys are found
 * with a set, linear in the number of keys (the parser's own check is quadratic).
 */
function readCalibration(path: string, readFile: (path: string) => string): Calibration {
  const doc = parseDocument(readFile(path), { uniqueKeys: false });
  try {
    const value: unknown = doc.errors.length === 0 ? doc.toJS() : undefined;
    if (
      value === null ||
      typeof value !== "object" ||
      Array.isArray(value) ||
      !Object.keys(value).some((key) => key in calibrationSchema.shape)
    ) {
      throw new CapacityInputError([{ path: "calibration", message: NOT_A_CALIBRATION }]);
    }
    const duplicate = firstDuplicateKey(doc.contents, "calibration");
    if (duplicate !== undefined) {
      throw new CapacityInputError([
        { path: duplicate, message: "given twice; a key may appear once in a mapping" },
      ]);
    }
    return parseCalibration(value);
  } catch (error) {
    if (error instanceof CapacityInputError) throw new CalibrationFileError(path, capped(error));
    throw error;
  }
}

/** At most {@link MAX_CALIBRATION_ISSUES} issues, and a line saying how many more there were. */
function capped(error: CapacityInputError): CapacityInputError {
  const { issues } = error;
  if (issues.length <= MAX_CALIBRATION_ISSUES) return error;
  return new CapacityInputError([
    ...issues.slice(0, MAX_CALIBRATION_ISSUES),
    { path: "calibration", message: `and ${issues.length - MAX_CALIBRATION_ISSUES} more problems` },
  ]);
}

/**
 * The model input from a config (or stack) object, its calibration file and overrides, under a profile
 * (`profile:` / `--profile`: `calibrated` by default, `legacy` for the notes' unmeasured budgets): the one way the
 * CLI and the Pulumi program turn `calibration: <path>` into calibrated budgets, so both size the same
 * containers. Throws CalibrationFileError for a bad calibration file and CapacityInputError for bad inputs;
 * a file `readFile` cannot read fails with the reader's own error.
 */
export function loadCapacityInput(sources: CapacityInputSources): PlanInput {
  const { calibration: named, profile: _fileProfile, ...raw } = sources.raw;
  const { profile: _flagProfile, ...overrides } = sources.overrides ?? {};
  const profile = profileOf(sources.raw, sources.overrides ?? {});
  const input = parsePlanInput({ ...raw, ...overrides });
  if (profile === "legacy") {
    if (sources.calibrationFile !== undefined || (named !== undefined && named !== null)) {
      throw new CapacityInputError([
        {
          path: "profile",
          message:
            "legacy uses the notes' unmeasured budgets, so it takes no calibration; drop the calibration or the profile",
        },
      ]);
    }
    return input;
  }
  let calibration: Calibration | undefined;
  if (sources.calibrationFile !== undefined) {
    calibration = readCalibration(sources.calibrationFile, sources.readFile);
  } else if (typeof named === "string") {
    calibration = readCalibration(resolve(sources.baseDir, named), sources.readFile);
  } else if (named !== undefined && named !== null) {
    calibration = parseCalibration(named);
  } else if (sources.defaultCalibrationFile !== undefined && raw.services === undefined) {
    calibration = readCalibration(sources.defaultCalibrationFile, sources.readFile);
  }
  if (calibration === undefined) return input;
  const measured: Calibration = { ...calibration };
  for (const key of CALIBRATED_INPUTS) if (overrides[key] !== undefined) measured[key] = undefined;
  return applyCalibration(input, measured);
}
