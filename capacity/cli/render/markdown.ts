import type { Block, Cell } from "./document.js";
import { percent } from "./format.js";

/** Markdown emphasis for what a terminal would colour: errors and critical bold, the rest plain. */
function md(c: Cell): string {
  const text = c.text.replaceAll("|", "\\|");
  const emphasised = c.tone === "error" || c.tone === "crit" || c.tone === "strong";
  if (!emphasised || text.trim() === "") return text;
  // Markdown ignores ** next to a space, so the spaces stay outside the emphasis.
  const [, lead = "", core = "", trail = ""] = /^(\s*)(.*?)(\s*)$/.exec(text) ?? [];
  return `${lead}**${core}**${trail}`;
}

/** Renders a report as Markdown: headings, pipe tables, RAM shares as a table column instead of bars. */
export function renderMarkdown(blocks: Block[]): string {
  const out: string[] = [];
  // One blank line between blocks, never two.
  const blank = () => {
    if (out.at(-1) !== "") out.push("");
  };
  let previous: Block["kind"] | undefined;
  for (const block of blocks) {
    const after = previous;
    previous = block.kind;
    switch (block.kind) {
      case "title":
        out.push(`# ${block.text}`);
        break;
      case "heading":
        blank();
        out.push(`## ${block.text}`, "");
        break;
      case "pairs":
        for (const [label, cells] of block.rows) out.push(`- ${label}: ${cells.map(md).join("")}`);
        break;
      case "table":
        // A pipe table right under a paragraph's line would be read as part of that paragraph.
        if (after === "line") blank();
        out.push(
          `| ${block.header.join(" | ")} |`,
          `| ${block.right.map((r) => (r ? "---:" : "---")).join(" | ")} |`,
          ...block.rows.map((row) => `| ${row.map(md).join(" | ")} |`),
        );
        break;
      case "bars":
        blank();
        out.push(
          `RAM against warn ${percent(block.bars[0]?.warn ?? 0, 0)} / critical ${percent(block.bars[0]?.crit ?? 0, 0)}: ${block.bars.map((b) => `${b.label} ${percent(b.utilization)} (${b.tone})`).join(", ")}.`,
        );
        break;
      case "line":
        blank();
        out.push(block.cells.map(md).join(""));
        break;
    }
  }
  return `${out.join("\n")}\n`;
}
