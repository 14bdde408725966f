import type { Colors } from "picocolors/types.js";
import type { Bar, Block, Cell, Tone } from "./document.js";
import { percent } from "./format.js";

/** Cells of one RAM bar: 40 cells are 0–100 % of the host's RAM. */
const BAR_CELLS = 40;

function painter(colors: Colors): (tone: Tone | undefined, text: string) => string {
  const paint: Record<Tone, (s: string) => string> = {
    error: (s) => colors.bold(colors.red(s)),
    crit: (s) => colors.bold(colors.red(s)),
    warn: colors.yellow,
    info: colors.cyan,
    ok: colors.green,
    strong: colors.bold,
    dim: colors.dim,
  };
  return (tone, text) => (tone === undefined || text === "" ? text : paint[tone](text));
}

/** Splits text into lines of at most `width` characters at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

function table(
  block: Extract<Block, { kind: "table" }>,
  paint: ReturnType<typeof painter>,
  width: number,
): string[] {
  const rows = [block.header.map((text) => ({ text, tone: "dim" as Tone })), ...block.rows];
  const widths = block.header.map((_, c) => Math.max(...rows.map((r) => r[c]?.text.length ?? 0)));
  const last = widths.length - 1;
  // The last column wraps so that a row fits the terminal.
  const lead = widths.slice(0, last).reduce((sum, w) => sum + w + 2, 2);
  const lastWidth = Math.max(30, Math.min(widths[last] ?? 0, width - lead));
  widths[last] = Math.min(widths[last] ?? 0, lastWidth);
  const out: string[] = [];
  for (const row of rows) {
    const lastLines = wrap(row[last]?.text ?? "", lastWidth);
    const cells = row.map((c, i) => {
      const w = widths[i] ?? 0;
      if (i === last) {
        const first = lastLines[0] ?? "";
        return paint(c.tone, block.right[i] ? first.padStart(w) : first);
      }
      const padded = block.right[i] ? c.text.padStart(w) : c.text.padEnd(w);
      return paint(c.tone, padded);
    });
    out.push(`  ${cells.join("  ")}`.trimEnd());
    for (const more of lastLines.slice(1)) out.push(`${" ".repeat(lead)}${paint(row[last]?.tone, more)}`);
  }
  return out;
}

function bar(b: Bar, labelWidth: number, paint: ReturnType<typeof painter>): string {
  const filled = Math.round(Math.min(b.utilization, 1) * BAR_CELLS);
  const warnAt = Math.min(BAR_CELLS - 1, Math.floor(b.warn * BAR_CELLS));
  const critAt = Math.min(BAR_CELLS - 1, Math.floor(b.crit * BAR_CELLS));
  // Runs of cells with the same look, painted once each: the used part, the free part, the two marks.
  const runs: Cell[] = [];
  for (let i = 0; i < BAR_CELLS; i++) {
    const next: Cell =
      i === warnAt
        ? { text: "|", tone: "warn" }
        : i === critAt
          ? { text: "|", tone: "crit" }
          : i < filled
            ? { text: "█", tone: b.tone }
            : { text: "·", tone: "dim" };
    const last = runs.at(-1);
    if (last !== undefined && last.tone === next.tone && last.text.at(-1) === next.text)
      last.text += next.text;
    else runs.push(next);
  }
  const cells = runs.map((r) => paint(r.tone, r.text)).join("");
  const over = b.utilization > 1 ? paint("crit", "▶") : " ";
  return `  ${b.label.padEnd(labelWidth)}  [${cells}]${over} ${paint(b.tone, percent(b.utilization).padStart(7))}`;
}

function line(cells: Cell[], paint: ReturnType<typeof painter>): string {
  return `  ${cells.map((c) => paint(c.tone, c.text)).join("")}`;
}

/** Renders a report for a terminal: aligned tables, RAM bars, tones as colours when `colors` has them on. */
export function renderText(blocks: Block[], colors: Colors, width = 110): string {
  const paint = painter(colors);
  const out: string[] = [];
  let previous: Block | undefined;
  for (const block of blocks) {
    switch (block.kind) {
      case "title":
        out.push(paint("strong", block.text));
        break;
      case "heading":
        out.push("", paint("strong", block.text));
        break;
      case "pairs": {
        const w = Math.max(...block.rows.map(([label]) => label.length));
        for (const [label, cells] of block.rows)
          out.push(`  ${label.padEnd(w)}  ${line(cells, paint).trimStart()}`);
        break;
      }
      case "table":
        out.push(...table(block, paint, width));
        break;
      case "bars": {
        const w = Math.max(...block.bars.map((b) => b.label.length));
        out.push("", `  ${"RAM".padEnd(w)}  0 %${" ".repeat(BAR_CELLS - 6)}100 %`);
        for (const b of block.bars) out.push(bar(b, w, paint));
        const first = block.bars[0];
        if (first) {
          out.push(
            `  ${" ".repeat(w)}  ${paint("warn", "|")} warn ${percent(first.warn, 0)}  ${paint("crit", "|")} critical ${percent(first.crit, 0)}  ${paint("crit", "▶")} over 100 %`,
          );
        }
        break;
      }
      case "line":
        // A sentence stands apart from the block above it, unless that is its heading.
        if (previous?.kind !== "heading") out.push("");
        out.push(line(block.cells, paint));
        break;
    }
    previous = block;
  }
  return `${out.join("\n")}\n`;
}
