import pc from "picocolors";
import type { Colors } from "picocolors/types.js";

/** Colours only for a person at a terminal: none when NO_COLOR is set or stdout is not a TTY. */
export function stdoutColors(): Colors {
  const enabled = process.stdout.isTTY === true && (process.env.NO_COLOR ?? "") === "";
  return pc.createColors(enabled);
}

/** Width to wrap the report to: the terminal's, else 110. */
export function stdoutWidth(): number {
  return process.stdout.columns ?? 110;
}

/** Writes text to stdout as it is. */
export function print(text: string): void {
  process.stdout.write(text);
}
