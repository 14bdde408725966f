import { Command } from "commander";
import { calibrateCommand } from "./commands/calibrate.js";
import { checkCommand } from "./commands/check.js";
import { curveCommand } from "./commands/curve.js";
import { planCommand } from "./commands/plan.js";
import { handleError } from "./handle-error.js";

/**
 * The capacity CLI: `npm run capacity -- <plan|curve|check|calibrate> [options]`. The verbs are thin: they load the
 * inputs, call the pure model and print; handleError owns every exit code.
 */
const program = new Command("capacity")
  .description("Size tapbot's servers: workers, concurrency, memory per host, what binds first, upgrades")
  .showSuggestionAfterError()
  .exitOverride();
for (const verb of [planCommand(), curveCommand(), checkCommand(), calibrateCommand()])
  program.addCommand(verb.exitOverride());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = handleError(error);
}
