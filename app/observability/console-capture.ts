import { format } from "node:util";
import type { Logger } from "./logger.js";

/** The console methods dependencies print with, and the log level each becomes. */
const consoleLevels = {
  log: "info",
  info: "info",
  debug: "debug",
  trace: "debug",
  warn: "warn",
  error: "error",
} as const;

/**
 * Sends everything that would otherwise reach stdout or stderr behind the logger's back through it:
 * `console.*` (grammY's runner, BullMQ and ioredis print warnings and errors that way, and an error they
 * print may carry `…/bot<TOKEN>/…` in its URL), Node's process warnings, and errors nobody caught (logged,
 * then the process exits 1 as Node would). The logger redacts every string it writes, so whatever a
 * dependency prints on its own, no token, key or URL password reaches the container's log, and that log
 * stays one JSON record per line. Installed once per process, before anything starts.
 */
export function captureConsole(logger: Logger): void {
  for (const [method, level] of Object.entries(consoleLevels)) {
    console[method as keyof typeof consoleLevels] = (...args: unknown[]) => {
      logger[level]({ source: "console" }, format(...args));
    };
  }
  // Node's default listener prints each warning to stderr; the logger writes them instead.
  process.removeAllListeners("warning");
  process.on("warning", (warning) => logger.warn({ err: warning }, "node warning"));
  process.on("uncaughtException", (error) => {
    logger.fatal({ err: error }, "uncaught exception; exiting");
    process.exit(1);
  });
  process.on("unhandledRejection", (reason) => {
    logger.fatal({ err: reason }, "unhandled promise rejection; exiting");
    process.exit(1);
  });
}
