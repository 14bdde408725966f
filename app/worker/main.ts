import { loadConfig } from "../config.js";
import { runProcess } from "../run-process.js";
import { startWorkerApp } from "./worker-app.js";

/**
 * `npm run worker` (`node dist/app/worker/main.js` in the image): configuration from the environment,
 * then the worker; logs "worker ready" once it takes jobs. SIGTERM/SIGINT close it gracefully within
 * SHUTDOWN_GRACE_SECONDS; a second signal exits at once.
 */
runProcess(
  "worker",
  async (config, logger) => {
    const app = await startWorkerApp(config, logger);
    logger.info(
      {
        concurrency: config.workerConcurrency,
        falConcurrency: config.falConcurrency,
        queue: config.queueName,
        opsPort: app.opsPort,
      },
      "worker ready",
    );
    return { stop: () => app.close() };
  },
  loadConfig,
);
