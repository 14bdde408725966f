import { Composer } from "grammy";
import type { Message } from "grammy/types";
import type { Logger } from "../../observability/logger.js";
import { acceptRequest } from "../accept-request.js";
import type { BotContext } from "../context.js";
import {
  type Checked,
  checkImage,
  checkPrompt,
  type ImageRef,
  imageFromDocument,
  imageFromPhoto,
} from "../input-checks.js";
import type { BotPorts } from "../ports.js";

/** A caption that is itself the /upscale command: Telegram does not treat captions as commands. */
const upscaleCaption = /^\/upscale(@\w+)?(\s|$)/i;

/** The image a message carries, photo or document, by metadata; undefined when it carries neither. */
function imageOf(message: Message | undefined): ImageRef | undefined {
  if (message?.photo !== undefined) return imageFromPhoto(message.photo);
  if (message?.document !== undefined) return imageFromDocument(message.document);
  return undefined;
}

/** Sends the refusal of a failed check; returns the value when the check passed. */
async function passed<T>(ctx: BotContext, checked: Checked<T>): Promise<T | undefined> {
  if (checked.ok) return checked.value;
  await ctx.reply(ctx.t(checked.refusal.key, checked.refusal.vars));
  return undefined;
}

/**
 * The three ways to ask for an image: text (text-to-image), a photo or image file with a caption
 * (image-to-image) and /upscale in reply to an image (or as the caption of one). Every input is checked
 * from Telegram's metadata first, so a refused file is never downloaded.
 */
export function generateHandlers(ports: BotPorts, logger: Logger): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const { settings } = ports;

  composer.command("upscale", async (ctx) => {
    const source = imageOf(ctx.msg.reply_to_message);
    if (source === undefined) {
      await ctx.reply(ctx.t("upscale-needs-reply"));
      return;
    }
    const image = await passed(ctx, checkImage(source, settings));
    if (image === undefined) return;
    await acceptRequest(ctx, ports, logger, { kind: "upscale", prompt: "", source: image });
  });

  composer.on("message:text", async (ctx, next) => {
    if (ctx.msg.text.startsWith("/")) return next();
    const prompt = await passed(ctx, checkPrompt(ctx.msg.text, settings));
    if (prompt === undefined) return;
    await acceptRequest(ctx, ports, logger, { kind: "text-to-image", prompt });
  });

  composer.on(["message:photo", "message:document"], async (ctx) => {
    const image = await passed(ctx, checkImage(imageOf(ctx.msg) as ImageRef, settings));
    if (image === undefined) return;
    const caption = ctx.msg.caption ?? "";
    if (upscaleCaption.test(caption)) {
      await acceptRequest(ctx, ports, logger, { kind: "upscale", prompt: "", source: image });
      return;
    }
    if (caption.trim() === "") {
      await ctx.reply(ctx.t("photo-needs-caption"));
      return;
    }
    const prompt = await passed(ctx, checkPrompt(caption, settings));
    if (prompt === undefined) return;
    await acceptRequest(ctx, ports, logger, { kind: "image-to-image", prompt, source: image });
  });

  return composer;
}
