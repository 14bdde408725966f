import { type AppConfig, loadConfig } from "./config.js";
import { captureConsole } from "./observability/console-capture.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { describeStartupFailure } from "./startup-failure.js";

/** A started process that can be stopped gracefully (its own deadline included). */
export interface StoppableProcess {
  stop(): Promise<void>;
}

/** What {@link runProcess} needs of a process's configuration. */
export type ProcessSettings = Pick<AppConfig, "logLevel" | "shutdownGraceSeconds">;

/**
 * The life of `npm run bot`, `npm run worker` and `npm run board`: configuration from the environment (`load`:
 * the app's {@link loadConfig}, or the board's), `start`, then the first SIGTERM/SIGINT stops it gracefully and
 * exits 0 (1 if stopping failed), a second one exits at once.
 * Everything a dependency prints on its own goes through the redacting logger (see captureConsole).
 * A process that cannot start prints one line saying why (see describeStartupFailure) and exits 2 for bad
 * configuration, 1 otherwise; it never leaves a half-started process running.
 */
export function runProcess<C extends ProcessSettings>(
  role: string,
  start: (config: C, logger: Logger) => Promise<StoppableProcess>,
  load: () => C,
): void {
  const main = async (): Promise<void> => {
    const config = load();
    const logger = createLogger(config.logLevel, role);
    captureConsole(logger);
    const running = await start(config, logger);
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, "second signal; exiting now");
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, "shutting down");
      running.stop().then(
        () => {
          logger.info(`${role} stopped`);
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, `${role} did not stop cleanly`);
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  };
  main().catch((error: unknown) => {
    const { text, exitCode } = describeStartupFailure(role, error);
    process.stderr.write(`${text}\n`);
    process.exit(exitCode);
  });
}
