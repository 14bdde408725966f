import type { BotError } from "grammy";
import { localeFromLanguageCode, translate } from "../i18n/index.js";
import type { Logger } from "../observability/logger.js";
import type { BotContext } from "./context.js";
import { isStoreOutage } from "./store-outage.js";

/**
 * How long after the user sent a message a store outage still means "handle it again later" rather than
 * an apology: Telegram keeps redelivering an update for up to a day, and an answer that late is worse than
 * being told to try again.
 */
export const redeliverForMs = 10 * 60_000;

/**
 * What happens when a handler throws: the error is logged (the logger redacts tokens and keys in its
 * message and stack) with the update it broke, and the user gets a plain apology in their language,
 * never the error itself. A failure to apologise (Telegram down) is logged, not rethrown, so one bad
 * update never stops the bot.
 *
 * Except when Redis or PostgreSQL was unreachable for a moment (a restart): nothing was wrong with the
 * request, so the error is rethrown instead, the update is left unhandled (its lease released) and
 * Telegram delivers it again (a webhook answered 500, a polling batch fetched again); the request path
 * resumes where it stopped (see acceptRequest). Only a message older than {@link redeliverForMs} gets
 * the apology, so an outage that lasts never turns into answers hours late.
 */
export function apologiseOnError(
  logger: Logger,
  now: () => number = Date.now,
): (error: BotError<BotContext>) => Promise<void> {
  return async ({ error, ctx }) => {
    const sentAt = (ctx.msg?.date ?? 0) * 1000;
    if (isStoreOutage(error) && now() - sentAt < redeliverForMs) {
      logger.warn(
        { err: error, updateId: ctx.update.update_id },
        "a store is unreachable; leaving the update for Telegram to deliver again",
      );
      throw error;
    }
    // `error` is what the handler threw (BotError keeps it there); its own stack says where.
    logger.error({ err: error, updateId: ctx.update.update_id }, "update handler failed");
    if (ctx.chat === undefined) return;
    const locale = ctx.locale ?? localeFromLanguageCode(ctx.from?.language_code);
    try {
      await ctx.reply(translate(locale, "error-generic"));
    } catch (replyError) {
      logger.warn({ err: replyError, updateId: ctx.update.update_id }, "could not send the apology");
    }
  };
}
