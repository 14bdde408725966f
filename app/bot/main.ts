import { ConfigError, loadConfig } from "../config.js";
import { createLogger, redactSecrets } from "../observability/logger.js";
import { startBotProcess } from "./bot-process.js";

/**
 * `npm run bot`: the Telegram bot, configured from the environment alone. SIGTERM or SIGINT stops it
 * gracefully (see {@link startBotProcess}); a second signal exits at once.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, "bot");
  const bot = await startBotProcess(config, logger);
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, "signal received");
    bot.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "bot did not stop cleanly");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

main().catch((error: unknown) => {
  const message =
    error instanceof ConfigError
      ? error.message
      : `bot failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  process.stderr.write(`${redactSecrets(message)}\n`);
  process.exit(1);
});
