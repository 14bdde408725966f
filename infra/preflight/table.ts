import type { PreflightRow } from "./row.js";

const HEADINGS = ["check", "host", "status", "found", "what to do"] as const;
/**
 * The widest the two prose columns get before they wrap: with the longest domain in the host column the
 * table stays within 160 columns.
 */
const PROSE_WIDTH = { found: 56, todo: 48 } as const;

/** Splits text into lines of at most `width` characters at spaces (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line === "") line = word;
      else if (line.length + 1 + word.length <= width) line += ` ${word}`;
      else {
        lines.push(line);
        line = word;
      }
    }
    lines.push(line);
  }
  return lines;
}

/**
 * The preflight table as plain text: one row per finding in the order the checks ran (host by host, then
 * the APIs), the prose columns wrapped, and a closing line with the counts and what the exit code means.
 */
export function renderTable(rows: readonly PreflightRow[]): string {
  const cells = rows.map((r) => [
    [r.check],
    [r.host],
    [r.status],
    wrap(r.found, PROSE_WIDTH.found),
    wrap(r.todo, PROSE_WIDTH.todo),
  ]);
  const widths = HEADINGS.map((heading, column) =>
    Math.max(heading.length, ...cells.flatMap((c) => (c[column] ?? []).map((line) => line.length))),
  );
  const line = (values: readonly string[]) =>
    values
      .map((value, column) => (column === values.length - 1 ? value : value.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd();
  const out = [line(HEADINGS), line(widths.map((w) => "-".repeat(w)))];
  for (const c of cells) {
    const height = Math.max(...c.map((lines) => lines.length));
    for (let i = 0; i < height; i += 1) out.push(line(c.map((lines) => lines[i] ?? "")));
  }
  const count = (status: string) => rows.filter((r) => r.status === status).length;
  const blocks = count("block");
  out.push(
    "",
    `${count("ok")} ok, ${count("warn")} warn, ${blocks} block: ${
      blocks > 0
        ? "fix every block before `pulumi up` (exit 1)"
        : "nothing blocks the first `pulumi up` (exit 0)"
    }`,
  );
  return `${out.join("\n")}\n`;
}
