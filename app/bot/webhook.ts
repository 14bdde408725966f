import type { IncomingMessage, ServerResponse } from "node:http";
import { type Bot, type Context, webhookCallback } from "grammy";

/** Options of {@link createWebhookEndpoint}. */
export interface WebhookOptions {
  /** The path Telegram posts to: the path of WEBHOOK_URL (behind the TLS proxy it is the same). */
  path: string;
  /** WEBHOOK_SECRET, registered with setWebhook as `secret_token`. */
  secret: string;
}

/** The bot's webhook, mounted on the ops server through its `handle` hook. */
export interface WebhookEndpoint {
  /**
   * A POST to the webhook path is handed to grammY, which answers 401 unless the
   * `X-Telegram-Bot-Api-Secret-Token` header equals the secret (so nobody but Telegram can inject
   * updates); any other request falls through (resolves false).
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * Stops taking updates (new deliveries get 503, so Telegram delivers them again later) and resolves
   * when the updates being handled are done, or after `graceMs`.
   */
  drain(graceMs: number): Promise<void>;
}

export function createWebhookEndpoint<C extends Context>(
  bot: Bot<C>,
  options: WebhookOptions,
): WebhookEndpoint {
  const callback = webhookCallback(bot, "http", { secretToken: options.secret });
  let inFlight = 0;
  let draining = false;
  return {
    async handle(req, res) {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (req.method !== "POST" || path !== options.path) return false;
      if (draining) {
        res.writeHead(503, { "retry-after": "5" }).end();
        return true;
      }
      inFlight += 1;
      try {
        await callback(req, res);
      } finally {
        inFlight -= 1;
      }
      return true;
    },
    async drain(graceMs) {
      draining = true;
      const deadline = Date.now() + graceMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    },
  };
}
