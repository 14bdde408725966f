/**
 * capacity/calibration.json has more than one writer: the load benchmark measures the budgets and the
 * step figures, the Redis measurement the bytes per key. Each writes only its own part and its own entry
 * of `measurement` (keyed by what it measured), keeps the rest of the file, and `source` names every
 * measurement the file now holds, so the plan's "calibrated from …" line stays true after any one re-run.
 */
import { readFile, writeFile } from "node:fs/promises";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { type Calibration, parseCalibration } from "../../capacity/index.js";
import { repoRoot } from "../support/app-stack.js";
import { startChild } from "../support/child-process.js";

/** The committed calibration file. */
export const CALIBRATION_FILE = join(repoRoot, "capacity/calibration.json");

/** What one benchmark measured: the calibration fields it owns (never `source` or `measurement`). */
export type CalibrationPart = Omit<Partial<Calibration>, "source" | "measurement">;

/** Provenance of one measurement, as stored under `measurement.<key>`. */
export interface MeasurementRecord {
  /** The command that makes the figures again. */
  command: string;
  [detail: string]: unknown;
}

/** The machine a figure was measured on, for the provenance. */
export function machine(): Record<string, unknown> {
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cpus: cpus().length,
    ramMB: Math.round(totalmem() / 2 ** 20),
    kernel: release(),
  };
}

async function readExisting(path: string): Promise<Calibration | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  return parseCalibration(JSON.parse(text));
}

/** "<command> on <date>" for every measurement in the file, in the order they were first written. */
function sourceOf(measurement: Record<string, unknown>): string {
  const runs = Object.values(measurement)
    .filter(
      (m): m is { command: string; date?: string } => typeof (m as MeasurementRecord)?.command === "string",
    )
    .map((m) => `${m.command}${typeof m.date === "string" ? ` on ${m.date.slice(0, 10)}` : ""}`);
  return `measured on this project's processes with fake Telegram and fal: ${runs.join("; ")}`;
}

/**
 * Writes `part` over the calibration at `path` (created when missing) and its provenance under
 * `measurement[key]` (with the date added), keeps every other part, validates the result with the model's
 * own schema and lets the repository's formatter lay it out (a re-run leaves a clean diff and lint).
 * Returns what it wrote.
 */
export async function writeCalibrationPart(
  path: string,
  key: string,
  part: CalibrationPart,
  record: MeasurementRecord,
): Promise<Calibration> {
  const existing = await readExisting(path);
  const measurement = { ...existing?.measurement, [key]: { ...record, date: new Date().toISOString() } };
  const calibration = parseCalibration({
    ...existing,
    ...part,
    services: { ...existing?.services, ...part.services },
    source: sourceOf(measurement),
    measurement,
  });
  await writeFile(path, `${JSON.stringify(calibration, null, 2)}\n`);
  await startChild(join(repoRoot, "node_modules/.bin/biome"), ["format", "--write", path], {
    cwd: repoRoot,
  }).exited;
  return calibration;
}
