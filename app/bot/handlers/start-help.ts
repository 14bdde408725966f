import { Composer } from "grammy";
import type { BotContext } from "../context.js";
import type { BotSettings } from "../ports.js";

/** The help text, with the limits the bot actually enforces. */
function helpText(ctx: BotContext, settings: BotSettings): string {
  return ctx.t("help", {
    promptMax: settings.promptMaxLength,
    imageMaxMb: Math.floor((settings.imageMaxBytes / (1024 * 1024)) * 10) / 10,
  });
}

/** /start (the user is already registered by the time it runs), /help. */
export function startHelpHandlers(settings: BotSettings): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.command("start", async (ctx) => {
    const name = ctx.from?.first_name ?? "";
    await ctx.reply(`${ctx.t("start-welcome", { name })}\n\n${helpText(ctx, settings)}`);
  });
  composer.command("help", async (ctx) => {
    await ctx.reply(helpText(ctx, settings));
  });
  return composer;
}

/**
 * Everything no other handler took (unknown commands, stickers, voice, video, locations...): say so and
 * show what the bot does, instead of silence.
 */
export function fallbackHandler(settings: BotSettings): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.on("message", async (ctx) => {
    await ctx.reply(`${ctx.t("unsupported")}\n\n${helpText(ctx, settings)}`);
  });
  return composer;
}
