import { requestJson } from "./http-get.js";
import type { BotApiCall } from "./telegram-bot.js";

/**
 * The Bot API adapter of the Telegram checks (preflight's rows, the deploy's old-bot check): a method is a
 * POST of JSON parameters to `<root>/bot<token>/<method>`, with a timeout long enough for the one held
 * getUpdates. Errors never carry the URL (it holds the token), see {@link requestJson}.
 */
export function botApiCall(token: string, apiRoot: string | undefined, timeoutMs: number): BotApiCall {
  const root = (apiRoot ?? "https://api.telegram.org").replace(/\/+$/, "");
  return (method, params) =>
    requestJson(`Telegram ${method}`, `${root}/bot${token}/${method}`, {
      ...(params === undefined ? {} : { body: params }),
      timeoutMs,
    });
}
