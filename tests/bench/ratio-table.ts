/**
 * The load benchmark's side-by-side table: each figure the model predicts beside what was measured, with the
 * ratio measured / predicted and a mark on every ratio outside the band the issue holds the model to. A
 * Markdown table, so it goes into a closing note as printed.
 */

/** The band a measured figure must fall in, as a multiple of the prediction. */
export const RATIO_BAND = { low: 0.9, high: 1.1 } as const;

/** One figure of one load level. */
export interface RatioRow {
  figure: string;
  unit: string;
  /** null: the model predicts nothing for it (printed "—"). */
  predicted: number | null;
  /** null: not measured in this run (printed "—"), e.g. a metric the processes do not expose. */
  measured: number | null;
  /** Decimals printed. @defaultValue 2 */
  decimals?: number;
  /** Said after the ratio: where the prediction comes from when it is a target rather than the model's. */
  note?: string;
}

/**
 * measured / predicted, or null when there is nothing to divide: a figure missing, or a prediction of zero
 * (the ratio of anything to zero says nothing; the table prints both figures and the reader judges).
 */
export function ratio(measured: number | null, predicted: number | null): number | null {
  if (measured === null || predicted === null || predicted === 0) return null;
  return measured / predicted;
}

/** Whether a ratio is outside {@link RATIO_BAND} (a missing ratio is not). */
export function outsideBand(r: number | null): boolean {
  return r !== null && (r < RATIO_BAND.low || r > RATIO_BAND.high);
}

const figure = (value: number | null, decimals: number): string =>
  value === null ? "—" : value.toFixed(decimals);

/** The rows as a Markdown table, columns padded to line up in a terminal. */
export function formatRatioTable(rows: readonly RatioRow[]): string {
  const cells = rows.map((row) => {
    const decimals = row.decimals ?? 2;
    const r = ratio(row.measured, row.predicted);
    const mark = outsideBand(r) ? " ◀" : "";
    return [
      row.figure,
      row.unit,
      figure(row.predicted, decimals),
      figure(row.measured, decimals),
      `${r === null ? "—" : r.toFixed(2)}${mark}`,
      row.note ?? "",
    ];
  });
  const header = ["figure", "unit", "predicted", "measured", "measured/predicted", "note"];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const numeric = [false, false, true, true, true, false];
  const line = (c: readonly string[]): string =>
    `| ${c.map((text, i) => (numeric[i] ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  return [line(header), rule, ...cells.map(line)].join("\n");
}
