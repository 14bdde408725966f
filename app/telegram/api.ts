import { autoRetry } from "@grammyjs/auto-retry";
import { Api, type RawApi, type Transformer } from "grammy";
import type { AppConfig } from "../config.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";

/**
 * How the shared client retries: 429s wait Telegram's `retry_after` (up to a minute; longer waits fail
 * the call so a job is retried by the queue instead of holding a slot), 5xx and network errors are
 * retried with the plugin's growing delay; at most five retries per call.
 */
const retryOptions = {
  maxRetryAttempts: 5,
  maxDelaySeconds: 60,
  rethrowInternalServerErrors: false,
  rethrowHttpErrors: false,
} as const;

/** Counts and logs every failed attempt (each 429 and 5xx too, before auto-retry repeats it). */
function errorCounter(logger: Logger): Transformer<RawApi> {
  return async (prev, method, payload, signal) => {
    try {
      const result = await prev(method, payload, signal);
      if (!result.ok) {
        metrics.telegramApiErrors.inc({ method, code: String(result.error_code) });
        logger.warn(
          {
            method,
            code: result.error_code,
            description: result.description,
            retryAfter: result.parameters?.retry_after,
          },
          "telegram api error",
        );
      }
      return result;
    } catch (error) {
      metrics.telegramApiErrors.inc({ method, code: "network" });
      logger.warn({ method, err: error }, "telegram api call failed");
      throw error;
    }
  };
}

/**
 * Installs the app's transformers on a grammY API client: the error counter first (innermost, so it sees
 * every attempt), then auto-retry around it. The bot calls this on `bot.api`; the worker gets it through
 * {@link createTelegramApi}.
 */
export function installTelegramTransformers(api: Api, logger: Logger): void {
  api.config.use(errorCounter(logger));
  api.config.use(autoRetry(retryOptions));
}

/**
 * The one Telegram Bot API client of a process (grammY keeps one keep-alive agent per API root), with
 * the shared transformers installed. `TELEGRAM_API_ROOT` lets tests point it at the loopback fake.
 */
export function createTelegramApi(
  config: Pick<AppConfig, "telegramBotToken" | "telegramApiRoot">,
  logger: Logger,
): Api {
  const api = new Api(config.telegramBotToken, { apiRoot: config.telegramApiRoot });
  installTelegramTransformers(api, logger);
  return api;
}
