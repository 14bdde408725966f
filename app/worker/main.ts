import { ConfigError, loadConfig } from "../config.js";
import { createLogger, redactSecrets } from "../observability/logger.js";
import { EvictingRedisError } from "../queue/redis.js";
import { startWorkerApp } from "./worker-app.js";

/**
 * `npm run worker` (`node dist/app/worker/main.js` in the image): configuration from the environment,
 * then the worker; logs "worker ready" once it takes jobs. SIGTERM/SIGINT close it gracefully within
 * SHUTDOWN_GRACE_SECONDS; a second signal exits at once.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, "worker");
  const app = await startWorkerApp(config, logger);
  logger.info(
    { concurrency: config.workerConcurrency, queue: config.queueName, opsPort: app.opsPort },
    "worker ready",
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, "second signal; exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, "shutting down");
    app.close().then(
      () => {
        logger.info("worker stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error: unknown) => {
  // Refusals an operator acts on are printed as their message alone; anything else with its redacted stack.
  const refusal = error instanceof ConfigError || error instanceof EvictingRedisError;
  const text = refusal
    ? error.message
    : redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.stderr.write(`worker failed to start: ${text}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
