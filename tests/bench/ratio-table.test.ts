import { describe, expect, it } from "vitest";
import { formatLevelSummary } from "./level-summary.js";
import { formatRatioTable, outsideBand, ratio } from "./ratio-table.js";

describe("the predicted / measured table", () => {
  const table = formatRatioTable([
    { figure: "p95 wait for a fal slot", unit: "s", predicted: 4.8, measured: 5.1 },
    { figure: "RSS bot, peak", unit: "MB", predicted: 140, measured: 168, decimals: 0 },
    { figure: "ack p95", unit: "s", predicted: 0.3, measured: 0.04, decimals: 3, note: "target" },
    { figure: "p95 wait (no wait predicted)", unit: "s", predicted: 0, measured: 0.2 },
    { figure: "bot CPU per job", unit: "CPU s", predicted: null, measured: 0.01, decimals: 3 },
  ]);
  const lines = table.split("\n");

  it("puts each figure's prediction, measurement and ratio side by side, marking ratios outside 0.9–1.1", () => {
    expect(lines[0]).toMatch(
      /\| figure +\| unit +\| +predicted \| +measured \| measured\/predicted \| note +\|/,
    );
    expect(lines[2]).toMatch(/p95 wait for a fal slot .*\| +4\.80 \| +5\.10 \| +1\.06 \|/);
    expect(lines[3]).toMatch(/RSS bot, peak .*\| +140 \| +168 \| +1\.20 ◀ \|/);
    expect(lines[4]).toMatch(/ack p95 .*\| +0\.300 \| +0\.040 \| +0\.13 ◀ \| target/);
  });

  it("prints no ratio where there is nothing to divide by, instead of Infinity or NaN", () => {
    expect(lines[5]).toMatch(/\| +0\.00 \| +0\.20 \| +— \|/);
    expect(lines[6]).toMatch(/\| +— \| +0\.010 \| +— \|/);
    expect(table).not.toMatch(/Infinity|NaN/);
  });

  it("lines the columns up: every row as wide as the header", () => {
    for (const line of lines) expect(line.length).toBe(lines[0]?.length);
  });

  it("marks exactly the ratios outside the band", () => {
    expect(ratio(1.1, 1)).toBeCloseTo(1.1, 10);
    expect(outsideBand(0.9)).toBe(false);
    expect(outsideBand(1.1)).toBe(false);
    expect(outsideBand(0.89)).toBe(true);
    expect(outsideBand(1.11)).toBe(true);
    expect(outsideBand(ratio(1, 0))).toBe(false);
    expect(ratio(null, 3)).toBeNull();
  });
});

describe("the summary over load levels", () => {
  it("puts each level's prediction → measurement (ratio) in its column, marking ratios outside the band", () => {
    const rows = (p95: number) => [
      { figure: "p95 wait for a fal slot", unit: "s", predicted: 4, measured: p95 },
      { figure: "RSS bot, after GC", unit: "MB", predicted: 130, measured: 126, decimals: 0 },
    ];
    const table = formatLevelSummary([
      { label: "300 users (f 4)", rows: rows(4.2) },
      { label: "2400 users (f 1)", rows: rows(58) },
    ]).split("\n");
    expect(table[0]).toMatch(/\| figure +\| +300 users \(f 4\) \| +2400 users \(f 1\) \|/);
    expect(table[2]).toMatch(
      /p95 wait for a fal slot +\| +4\.00 → 4\.20 \(1\.05\) \| +4\.00 → 58\.00 \(14\.50 ◀\) \|/,
    );
    expect(table.find((l) => l.startsWith("| RSS bot, after GC"))).toMatch(/130 → 126 \(0\.97\)/);
    // A figure no level has is shown as missing, not dropped: the summary's rows are the same every run.
    expect(table.find((l) => l.startsWith("| freed slot unused"))).toMatch(/\| +— \| +— \|/);
  });
});
