import { Bot, type BotConfig, type Context } from "grammy";
import { localeFromLanguageCode, translate } from "../i18n/index.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import type { BotContext } from "./context.js";
import { apologiseOnError } from "./error-handler.js";
import { generateHandlers } from "./handlers/generate.js";
import { jobHandlers } from "./handlers/jobs.js";
import { fallbackHandler, startHelpHandlers } from "./handlers/start-help.js";
import type { BotPorts } from "./ports.js";

/** Options of {@link createBot}. */
export interface CreateBotOptions {
  /** The bot token (TELEGRAM_BOT_TOKEN). */
  token: string;
  /** grammY's client options; `apiRoot` = TELEGRAM_API_ROOT, so tests and the demo use the fake. */
  client?: BotConfig<BotContext>["client"];
  /** getMe's answer, when known, so that building the bot makes no network call. */
  botInfo?: BotConfig<BotContext>["botInfo"];
  ports: BotPorts;
  logger: Logger;
}

/** The update's kind for `tapbot_updates_total`: what the user sent, or the update type otherwise. */
function updateKind(ctx: Context): string {
  const message = ctx.message;
  if (message === undefined) return Object.keys(ctx.update).find((key) => key !== "update_id") ?? "unknown";
  if (typeof message.text === "string") return message.text.startsWith("/") ? "command" : "text";
  if (message.photo !== undefined) return "photo";
  if (message.document !== undefined) return "document";
  return "other";
}

/**
 * Builds the bot from its ports; it neither polls nor listens (see `main.ts`). Order of the middleware:
 * count the update → lease it, or skip it if any replica handled it already → private chats only → the
 * user's language and registration → commands and requests → a clear answer to anything else.
 * Everything after the lease runs inside an error boundary, so a failure becomes a logged error and an
 * apology; the update is marked handled only after that (see RedisUpdateLog), so an update whose
 * process died mid-way is handled again when Telegram redelivers it.
 */
export function createBot(options: CreateBotOptions): Bot<BotContext> {
  const { ports, logger } = options;
  const bot = new Bot<BotContext>(options.token, {
    ...(options.client === undefined ? {} : { client: options.client }),
    ...(options.botInfo === undefined ? {} : { botInfo: options.botInfo }),
  });
  const onError = apologiseOnError(logger);
  bot.catch(onError);

  bot.use(async (ctx, next) => {
    ctx.receivedAt = performance.now();
    metrics.updates.inc({ kind: updateKind(ctx) });
    await next();
  });

  bot.use(async (ctx, next) => {
    const lease = await ports.updateLog.claim(ctx.me.id, ctx.update.update_id);
    if (lease === null) {
      logger.info({ updateId: ctx.update.update_id }, "skipping an update that was handled already");
      return;
    }
    try {
      await next();
    } catch (error) {
      await lease.release();
      throw error;
    }
    await lease.done();
  });

  const guarded = bot.errorBoundary(onError);

  const chat = guarded.chatType("private");
  chat.use(async (ctx, next) => {
    // Telegram names the sender of every private message; one without (forged, or a future API change)
    // cannot be charged, rate-limited or answered as anyone's request.
    if (ctx.from === undefined) {
      logger.warn({ updateId: ctx.update.update_id }, "a private message without a sender; ignored");
      return;
    }
    ctx.locale = localeFromLanguageCode(ctx.from.language_code);
    ctx.t = (key, vars) => translate(ctx.locale, key, vars);
    ctx.user = await ports.users.upsert({
      telegramId: ctx.from.id,
      username: ctx.from.username,
      firstName: ctx.from.first_name,
      languageCode: ctx.from.language_code,
    });
    await next();
  });
  chat.use(startHelpHandlers(ports.settings));
  chat.use(jobHandlers(ports));
  chat.use(generateHandlers(ports, logger));
  chat.use(fallbackHandler(ports.settings));

  return bot;
}
