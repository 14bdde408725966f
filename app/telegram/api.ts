import { autoRetry } from "@grammyjs/auto-retry";
import { Api, HttpError, type RawApi, type Transformer } from "grammy";
import type { AppConfig } from "../config.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";

/**
 * How the shared client retries Bot API errors: 429s wait Telegram's `retry_after` (up to a minute;
 * a longer wait fails the call, so a job goes back to the queue instead of holding a slot), 5xx answers
 * are retried after 3, 6 and 12 s. Network errors are left to {@link networkRetry}: the plugin would
 * retry them without a bound.
 */
const retryOptions = {
  maxRetryAttempts: 3,
  maxDelaySeconds: 60,
  rethrowInternalServerErrors: false,
  rethrowHttpErrors: true,
} as const;

/** Network failures (no HTTP answer): two more tries after 1 and 2 s, then the error goes to the caller. */
function networkRetry(): Transformer<RawApi> {
  return async (prev, method, payload, signal) => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await prev(method, payload, signal);
      } catch (error) {
        if (!(error instanceof HttpError) || attempt >= 2 || signal?.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt));
      }
    }
  };
}

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
 * every attempt), the bounded network retry around it, then auto-retry (429 and 5xx) outermost. The bot calls this on `bot.api`; the worker gets it through
 * {@link createTelegramApi}.
 */
export function installTelegramTransformers(api: Api, logger: Logger): void {
  api.config.use(errorCounter(logger));
  api.config.use(networkRetry());
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
