import type { BotError } from "grammy";
import { localeFromLanguageCode, translate } from "../i18n/index.js";
import type { Logger } from "../observability/logger.js";
import type { BotContext } from "./context.js";

/**
 * What happens when a handler throws: the error is logged (the logger redacts tokens and keys in its
 * message and stack) with the update it broke, and the user gets a plain apology in their language,
 * never the error itself. A failure to apologise (Telegram down) is logged, not rethrown, so one bad
 * update never stops the bot.
 */
export function apologiseOnError(logger: Logger): (error: BotError<BotContext>) => Promise<void> {
  return async ({ error, ctx }) => {
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
