import type { IncomingMessage, ServerResponse } from "node:http";
import { type Bot, type Context, webhookCallback } from "grammy";

/** Options of {@link webhookHandler}. */
export interface WebhookOptions {
  /** The path Telegram posts to: the path of WEBHOOK_URL (behind the TLS proxy it is the same). */
  path: string;
  /** WEBHOOK_SECRET, registered with setWebhook as `secret_token`. */
  secret: string;
}

/**
 * The ops server's `handle` hook in webhook mode: a POST to the webhook path is handed to grammY, which
 * answers 401 unless the `X-Telegram-Bot-Api-Secret-Token` header equals the secret (so nobody but
 * Telegram can inject updates); any other request falls through (resolves false).
 */
export function webhookHandler<C extends Context>(
  bot: Bot<C>,
  options: WebhookOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const callback = webhookCallback(bot, "http", { secretToken: options.secret });
  return async (req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method !== "POST" || path !== options.path) return false;
    await callback(req, res);
    return true;
  };
}
