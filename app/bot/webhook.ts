import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Bot, BotError, type Context } from "grammy";
import type { Update } from "grammy/types";
import type { Logger } from "../observability/logger.js";
import { worthRedelivering } from "./update-log.js";

/** Options of {@link createWebhookEndpoint}. */
export interface WebhookOptions {
  /** The path Telegram posts to: the path of WEBHOOK_URL (behind the TLS proxy it is the same). */
  path: string;
  /** WEBHOOK_SECRET, registered with setWebhook as `secret_token`. */
  secret: string;
  logger: Logger;
  /** Largest body accepted; Telegram's updates are a few kilobytes. @defaultValue 1 MiB */
  maxBodyBytes?: number;
}

/** The bot's webhook, mounted on the ops server through its `handle` hook. */
export interface WebhookEndpoint {
  /**
   * A POST to the webhook path: 401 unless the `X-Telegram-Bot-Api-Secret-Token` header equals the
   * secret (nobody but Telegram injects updates), 415 for a body not sent as JSON, 413 over the size
   * limit, 400 for a body that is not an update, else the update is handled and answered 200 once its
   * handling ended (so Telegram keeps an update until it was handled), or 500 when a store outage stopped
   * it (Telegram delivers it again); one that failed for a reason no retry fixes is logged and answered
   * 200 (see worthRedelivering). Any other request falls through (resolves false).
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Resolves when the updates being handled are done, or after `graceMs`; false if some were not. */
  settle(graceMs: number): Promise<boolean>;
}

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/** Constant-time comparison of the header with the secret (hashing first makes the lengths equal). */
function secretMatches(header: string | string[] | undefined, secret: string): boolean {
  return typeof header === "string" && timingSafeEqual(digest(header), digest(secret));
}

/** Thrown by {@link readBody} beyond its limit. */
export class BodyTooLarge extends Error {}

/** A request's whole body, refused (BodyTooLarge) beyond `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The update in a body, or undefined when the body is not JSON or has no numeric `update_id`. */
function parseUpdate(body: Buffer): Update | undefined {
  try {
    const value = JSON.parse(body.toString("utf8")) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    return Number.isSafeInteger((value as { update_id?: unknown }).update_id) ? (value as Update) : undefined;
  } catch {
    return undefined;
  }
}

/** Telegram posts updates as `application/json` (a charset parameter allowed); anything else is not one. */
function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/json\s*(;|$)/i.test(contentType);
}

/** A short plain-text answer. */
export function answer(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain" }).end(`${text}\n`);
}

/**
 * The webhook Telegram posts updates to, behind the TLS proxy. It answers only after the update was
 * handled (its lease turned into "done", see RedisUpdateLog), never before: an update a replica could
 * not finish stays with Telegram, which delivers it again. Bad input gets a 4xx naming the problem and
 * is never handed to the bot; the process stays up whatever is posted.
 */
export function createWebhookEndpoint<C extends Context>(
  bot: Bot<C>,
  options: WebhookOptions,
): WebhookEndpoint {
  const limit = options.maxBodyBytes ?? 1024 * 1024;
  const inFlight = new Set<Promise<unknown>>();
  return {
    async handle(req, res) {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (req.method !== "POST" || path !== options.path) return false;
      if (!secretMatches(req.headers["x-telegram-bot-api-secret-token"], options.secret)) {
        req.resume();
        answer(res, 401, "unauthorized");
        return true;
      }
      if (!isJson(req.headers["content-type"])) {
        req.resume();
        answer(res, 415, "an update is sent as application/json");
        return true;
      }
      let update: Update | undefined;
      try {
        update = parseUpdate(await readBody(req, limit));
      } catch (error) {
        if (!(error instanceof BodyTooLarge)) throw error;
        answer(res, 413, `an update is at most ${limit} bytes`);
        req.destroy();
        return true;
      }
      if (update === undefined) {
        answer(res, 400, "not a Telegram update: expected a JSON object with a numeric update_id");
        return true;
      }
      const handling = bot.handleUpdate(update);
      inFlight.add(handling);
      try {
        await handling;
        answer(res, 200, "ok");
      } catch (error) {
        // Handler errors end in the bot's error boundary (an apology); what reaches here failed outside it.
        // A store outage: the user is told nothing and Telegram tries again. Anything else would fail at
        // every redelivery, so it is logged and acknowledged instead of retried forever.
        const cause = error instanceof BotError ? error.error : error;
        if (worthRedelivering(cause)) {
          options.logger.error(
            { err: cause, updateId: update.update_id },
            "update not handled; Telegram will deliver it again",
          );
          answer(res, 500, "not handled; deliver it again");
        } else {
          options.logger.error(
            { err: cause, updateId: update.update_id },
            "update failed outside the handlers; acknowledged so that Telegram does not retry it forever",
          );
          answer(res, 200, "failed; not to be retried");
        }
      } finally {
        inFlight.delete(handling);
      }
      return true;
    },
    async settle(graceMs) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      });
      const settled = Promise.allSettled([...inFlight]).then(() => true);
      const done = await Promise.race([settled, expired]);
      clearTimeout(timer);
      return done;
    },
  };
}
