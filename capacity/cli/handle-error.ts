import { CommanderError } from "commander";
import { FindingsError, UsageError } from "./usage-error.js";

/** Exit codes of the capacity CLI. */
export const EXIT = { ok: 0, findings: 1, usage: 2, internal: 70 } as const;

/**
 * The one place that turns a failure into a message and an exit code: 2 for bad usage and invalid input (each
 * bad field on its own line, with its value and what is allowed), 1 when `check` found errors, 70 for a bug.
 * Never a stack trace: a person reads this.
 */
export function handleError(
  error: unknown,
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
) {
  if (error instanceof CommanderError) {
    // commander has printed its own message (unknown option, missing value) or the help.
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (error instanceof FindingsError) return EXIT.findings;
  if (error instanceof UsageError) {
    write(`capacity: ${error.message}`);
    for (const d of error.details) write(`  ${d}`);
    return EXIT.usage;
  }
  write(`capacity: internal error: ${error instanceof Error ? error.message : String(error)}`);
  return EXIT.internal;
}
