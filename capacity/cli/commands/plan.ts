import { Command } from "commander";
import { adviseGrowth, plan } from "../../index.js";
import { addInputOptions } from "../input-options.js";
import { loadInput } from "../load-input.js";
import { print, printReport } from "../output.js";
import { planReport } from "../render/plan-report.js";
import { parseVerbOptions, reportOptions } from "../verb-options.js";

/** `capacity plan`: the plan for the inputs, as a report, Markdown or the JSON contract. */
export function planCommand(): Command {
  const command = new Command("plan")
    .description(
      "size the deployment for a number of users: workers, concurrency, memory per host, what binds first",
    )
    .option("--json", "print the plan as JSON (the contract scripts read)")
    .option("--format <format>", "report format: text (default) or md");
  return addInputOptions(command).action((options: Record<string, unknown>) => {
    const { json, format } = parseVerbOptions(reportOptions, { json: options.json, format: options.format });
    const input = loadInput(options);
    const result = plan(input);
    const growth = adviseGrowth(input, result);
    if (json) print(`${JSON.stringify({ ...result, growth }, null, 2)}\n`);
    else printReport(planReport(result, input, growth), format);
  });
}
