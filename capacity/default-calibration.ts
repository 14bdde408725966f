import { fileURLToPath } from "node:url";

/**
 * The project's own measured calibration (written by tests/bench/calibrate.ts): what the CLI and the stack
 * use unless told otherwise. A path only; the caller brings the reader, so the model stays free of I/O.
 */
export const DEFAULT_CALIBRATION_FILE = fileURLToPath(new URL("./calibration.json", import.meta.url));

/**
 * Where the budgets come from: `calibrated` (the default: capacity/calibration.json, or the calibration a
 * file or flag names) or `legacy` (the owner's notes, with the old Python bot's unmeasured 18 MB per user,
 * kept for comparison).
 */
export const PROFILES = ["calibrated", "legacy"] as const;
export type Profile = (typeof PROFILES)[number];
