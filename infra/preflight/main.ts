/**
 * `npm run preflight -- --stack <name>`: read-only checks of the servers and the accounts before the first
 * `pulumi up`. Exit 0: nothing blocks; 1: a row says block; 2: bad usage or a stack that cannot be read.
 */
import { helpText, PreflightUsageError, parsePreflightArgs } from "./cli-options.js";
import { Redactor } from "./redact.js";
import { exitCodeOf } from "./row.js";
import { runPreflight } from "./run-preflight.js";
import { StackSettingsError } from "./stack-settings.js";
import { renderTable } from "./table.js";

async function main(): Promise<number> {
  // Every secret runPreflight reads is added here, so nothing printed below can carry one.
  const redactor = new Redactor();
  try {
    const options = parsePreflightArgs(process.argv.slice(2));
    if (options.help) {
      process.stdout.write(helpText());
      return 0;
    }
    const rows = await runPreflight(options, { env: process.env, redactor });
    // Redacted before the table is laid out, so a hidden value does not leave a hole in the columns.
    const shown = rows.map((r) => ({ ...r, found: redactor.redact(r.found), todo: redactor.redact(r.todo) }));
    process.stdout.write(redactor.redact(renderTable(shown)));
    return exitCodeOf(rows);
  } catch (error) {
    if (error instanceof PreflightUsageError) {
      process.stderr.write(`preflight: ${error.message}\n(npm run preflight -- --help lists every option)\n`);
      return 2;
    }
    if (error instanceof StackSettingsError) {
      process.stderr.write(
        redactor.redact(`preflight: ${error.message}\n${error.details.map((d) => `  - ${d}\n`).join("")}`),
      );
      return 2;
    }
    process.stderr.write(
      redactor.redact(
        `preflight: internal error: ${error instanceof Error ? error.message : String(error)}\n`,
      ),
    );
    return 70;
  }
}

process.exitCode = await main();
