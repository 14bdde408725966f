import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { z } from "zod";
import { curve } from "../../index.js";
import { addInputOptions } from "../input-options.js";
import { loadInput } from "../load-input.js";
import { print, printReport } from "../output.js";
import { curveChartSvg } from "../render/curve-chart.js";
import { curveReport } from "../render/curve-report.js";
import { calibrationLine } from "../render/plan-report.js";
import { UsageError } from "../usage-error.js";
import { formatSchema, numeric, parseVerbOptions } from "../verb-options.js";

/** The most points one curve computes. */
const MAX_POINTS = 100_000;

const curveOptions = z
  .object({
    from: z.int().min(1).default(10),
    to: z.int().min(1).default(300),
    step: z.int().min(1).default(10),
    out: z.string().min(1).default("capacity-curve.svg"),
    json: z.boolean().default(false),
    format: formatSchema,
  })
  .superRefine((o, ctx) => {
    if (o.to < o.from)
      ctx.addIssue({
        code: "custom",
        path: ["to"],
        message: `got ${o.to}; expected at least --from ${o.from}`,
      });
    if (Math.floor((o.to - o.from) / o.step) + 1 > MAX_POINTS) {
      ctx.addIssue({
        code: "custom",
        path: ["step"],
        message: `got ${o.step}; expected a step that gives at most ${MAX_POINTS} points`,
      });
    }
  });

/** `capacity curve`: the plan over a range of users, as a table and an SVG chart. */
export function curveCommand(): Command {
  const command = new Command("curve")
    .description("the plan over a range of users: a table, and an SVG chart of RAM per host and p95 wait")
    .option("--from <n>", "first user count, users (default: 10)")
    .option("--to <n>", "last user count, users (default: 300)")
    .option("--step <n>", "step between user counts, users (default: 10)")
    .option("--out <file>", "where to write the SVG chart (default: capacity-curve.svg)")
    .option("--json", "print the points as JSON instead of a table (the chart is still written)")
    .option("--format <format>", "table format: text (default) or md");
  return addInputOptions(command, false).action(async (options: Record<string, unknown>) => {
    const o = parseVerbOptions(curveOptions, {
      from: numeric(options.from),
      to: numeric(options.to),
      step: numeric(options.step),
      out: options.out,
      json: options.json,
      format: options.format,
    });
    const input = loadInput(options, { users: o.from });
    const result = curve(input, o);
    const svg = await curveChartSvg(result, input);
    try {
      writeFileSync(o.out, svg);
    } catch (error) {
      throw new UsageError(
        `cannot write the chart to ${o.out}: ${(error as NodeJS.ErrnoException).code ?? "failed"}`,
      );
    }
    const [title, ...rest] = curveReport(result, o.out);
    const blocks = [...(title === undefined ? [] : [title]), ...calibrationLine(input), ...rest];
    if (o.json) print(`${JSON.stringify(result, null, 2)}\n`);
    else printReport(blocks, o.format);
  });
}
