import { outsideBand, type RatioRow, ratio } from "./ratio-table.js";

/** The figures of the closing summary, by their row names in the level tables (load-results.ts). */
export const SUMMARY_FIGURES = [
  "p95 wait for a fal slot",
  "mean wait for a fal slot",
  "jobs at fal (mean)",
  "jobs in flight (mean)",
  "fal slot held per job (mean)",
  "freed slot unused (mean)",
  "RSS bot, peak",
  "RSS bot, after GC",
  "RSS worker, peak",
  "RSS worker, after GC",
  "Telegram calls per second",
  "worker CPU per job, less idle",
  "fal status polls per job",
  "ack p95 (real time)",
] as const;

const cell = (row: RatioRow | undefined): string => {
  if (row === undefined) return "—";
  const d = row.decimals ?? 2;
  const show = (v: number | null): string => (v === null ? "—" : v.toFixed(d));
  const r = ratio(row.measured, row.predicted);
  return `${show(row.predicted)} → ${show(row.measured)} (${r === null ? "—" : r.toFixed(2)}${outsideBand(r) ? " ◀" : ""})`;
};

/**
 * One Markdown table over every level: a row per figure of {@link SUMMARY_FIGURES}, a column per level,
 * each cell "predicted → measured (ratio)", marked ◀ outside 0.9–1.1. The level tables stay the full record.
 */
export function formatLevelSummary(levels: readonly { label: string; rows: readonly RatioRow[] }[]): string {
  const header = ["figure", ...levels.map((l) => l.label)];
  const body = SUMMARY_FIGURES.map((name) => [
    name,
    ...levels.map((l) => cell(l.rows.find((r) => r.figure === name))),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), rule, ...body.map(line)].join("\n");
}
