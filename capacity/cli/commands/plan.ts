import { Command } from "commander";
import { z } from "zod";
import { plan } from "../../index.js";
import { addInputOptions } from "../input-options.js";
import { loadInput } from "../load-input.js";
import { print, stdoutColors, stdoutWidth } from "../output.js";
import { renderMarkdown } from "../render/markdown.js";
import { planReport } from "../render/plan-report.js";
import { renderText } from "../render/text.js";
import { parseVerbOptions } from "../verb-options.js";

/** How a report is printed: for a terminal, or as Markdown. */
export const formatSchema = z.enum(["text", "md"]).default("text");

const planOptions = z.object({ json: z.boolean().default(false), format: formatSchema });

/** `capacity plan`: the plan for the inputs, as a report, Markdown or the JSON contract. */
export function planCommand(): Command {
  const command = new Command("plan")
    .description(
      "size the deployment for a number of users: workers, concurrency, memory per host, what binds first",
    )
    .option("--json", "print the plan as JSON (the contract scripts read)")
    .option("--format <format>", "report format: text (default) or md");
  return addInputOptions(command).action((options: Record<string, unknown>) => {
    const { json, format } = parseVerbOptions(planOptions, { json: options.json, format: options.format });
    const input = loadInput(options);
    const result = plan(input);
    if (json) print(`${JSON.stringify(result, null, 2)}\n`);
    else if (format === "md") print(renderMarkdown(planReport(result, input)));
    else print(renderText(planReport(result, input), stdoutColors(), stdoutWidth()));
  });
}
