import { GrammyError } from "grammy";
import type { BotContext } from "./context.js";

function badRequest(error: unknown): boolean {
  return error instanceof GrammyError && error.error_code === 400;
}

/**
 * Sends a delivered result again by its Telegram file_id (a cache hit, /history). The worker delivers an
 * image Telegram will not take as a photo (over 10 MB, or refused dimensions) as a file, and Telegram
 * refuses a file's id in sendPhoto with 400 ("can't use file of type Document as Photo"), so a refused
 * photo is sent as a document. Returns the file_id of what was sent, or null when Telegram takes the id
 * as neither (it no longer knows it).
 */
export async function resendImage(ctx: BotContext, fileId: string, caption: string): Promise<string | null> {
  try {
    const sent = await ctx.replyWithPhoto(fileId, { caption });
    return sent.photo.at(-1)?.file_id ?? fileId;
  } catch (error) {
    if (!badRequest(error)) throw error;
  }
  try {
    const sent = await ctx.replyWithDocument(fileId, { caption });
    return sent.document.file_id;
  } catch (error) {
    if (!badRequest(error)) throw error;
    return null;
  }
}
