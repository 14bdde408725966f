import pc from "picocolors";
import type { Colors } from "picocolors/types.js";
import type { Block } from "./render/document.js";
import { renderMarkdown } from "./render/markdown.js";
import { renderText } from "./render/text.js";
import type { ReportFormat } from "./verb-options.js";

/** Colours only for a person at a terminal: none when NO_COLOR is set or stdout is not a TTY. */
function stdoutColors(): Colors {
  const enabled = process.stdout.isTTY === true && (process.env.NO_COLOR ?? "") === "";
  return pc.createColors(enabled);
}

/** Width to wrap the report to: the terminal's, else 110. */
function stdoutWidth(): number {
  return process.stdout.columns ?? 110;
}

/** Writes text to stdout as it is. */
export function print(text: string): void {
  process.stdout.write(text);
}

/** Prints a report in the format asked for: Markdown, or for the terminal (its width, colours if a person sees them). */
export function printReport(blocks: Block[], format: ReportFormat): void {
  print(format === "md" ? renderMarkdown(blocks) : renderText(blocks, stdoutColors(), stdoutWidth()));
}
