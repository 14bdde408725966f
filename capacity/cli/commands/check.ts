import { Command } from "commander";
import { plan } from "../../index.js";
import { addInputOptions } from "../input-options.js";
import { loadInput } from "../load-input.js";
import { print, printReport } from "../output.js";
import { cell } from "../render/document.js";
import { bindsFirstLine, calibrationLine, findingBlocks } from "../render/plan-report.js";
import { FindingsError } from "../usage-error.js";
import { parseVerbOptions, reportOptions } from "../verb-options.js";

/** `capacity check`: judge a config; print its findings; exit 1 when any has severity error. */
export function checkCommand(): Command {
  const command = new Command("check")
    .description(
      "judge a config (usually --config FILE or --stack NAME): print its findings, exit 1 on any error",
    )
    .option("--json", "print { errors, warnings, findings } as JSON")
    .option("--format <format>", "report format: text (default) or md");
  return addInputOptions(command).action((options: Record<string, unknown>) => {
    const { json, format } = parseVerbOptions(reportOptions, { json: options.json, format: options.format });
    const input = loadInput(options);
    const result = plan(input);
    const errors = result.findings.filter((f) => f.severity === "error").length;
    const warnings = result.findings.filter((f) => f.severity === "warn").length;
    if (json) print(`${JSON.stringify({ errors, warnings, findings: result.findings }, null, 2)}\n`);
    else {
      const blocks = [
        { kind: "title" as const, text: `Capacity check for ${result.users} users` },
        ...calibrationLine(input),
        ...findingBlocks(result.findings),
        { kind: "line" as const, cells: bindsFirstLine(result) },
        {
          kind: "line" as const,
          cells: [
            cell(
              `${errors} error(s), ${warnings} warning(s)`,
              errors > 0 ? "error" : warnings > 0 ? "warn" : "ok",
            ),
          ],
        },
      ];
      printReport(blocks, format);
    }
    if (errors > 0) throw new FindingsError(errors);
  });
}
