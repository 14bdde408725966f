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
 * `retry` for every method but getUpdates: the polling loop retries that one itself with short waits
 * (three 5xx in a row must not stall updates for auto-retry's 3 + 6 + 12 s).
 */
function exceptGetUpdates(retry: Transformer<RawApi>): Transformer<RawApi> {
  return (prev, method, payload, signal) =>
    method === "getUpdates" ? prev(method, payload, signal) : retry(prev, method, payload, signal);
}

/** grammY types its signals with a shim of AbortSignal; Node's own is what it gets at run time. */
export type ApiSignal = Parameters<Transformer<RawApi>>[3];

/** Node's AbortSignal as grammY's parameter type (the same object at run time). */
export function apiSignal(signal: AbortSignal): ApiSignal {
  return signal as unknown as ApiSignal;
}

/** Every call also ends when `stop` aborts: a stopping worker gives up its calls within its grace. */
function abortOn(stop: AbortSignal): Transformer<RawApi> {
  return (prev, method, payload, signal) =>
    prev(
      method,
      payload,
      apiSignal(signal === undefined ? stop : AbortSignal.any([signal as unknown as AbortSignal, stop])),
    );
}

/**
 * Installs the app's transformers on a grammY API client: the error counter first (innermost, so it sees
 * every attempt), the bounded network retry around it, then auto-retry (429 and 5xx) outermost, both
 * except for getUpdates. With `stop`, every call is aborted when it fires. The bot calls this on
 * `bot.api`; the worker gets it through {@link createTelegramApi}.
 */
export function installTelegramTransformers(api: Api, logger: Logger, stop?: AbortSignal): void {
  api.config.use(errorCounter(logger));
  api.config.use(exceptGetUpdates(networkRetry()));
  api.config.use(exceptGetUpdates(autoRetry(retryOptions)));
  if (stop !== undefined) api.config.use(abortOn(stop));
}

/**
 * The one Telegram Bot API client of a process (grammY keeps one keep-alive agent per API root), with
 * the shared transformers installed and HTTP_TIMEOUT_SECONDS per call (a hung call becomes a network
 * error instead of holding a job for grammY's default 500 s). `TELEGRAM_API_ROOT` lets tests point it
 * at the loopback fake; `stop` aborts every call in flight (see {@link installTelegramTransformers}).
 */
export function createTelegramApi(
  config: Pick<AppConfig, "telegramBotToken" | "telegramApiRoot" | "httpTimeoutSeconds">,
  logger: Logger,
  stop?: AbortSignal,
): Api {
  const api = new Api(config.telegramBotToken, {
    apiRoot: config.telegramApiRoot,
    timeoutSeconds: config.httpTimeoutSeconds,
  });
  installTelegramTransformers(api, logger, stop);
  return api;
}
