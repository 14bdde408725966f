import { createHash } from "node:crypto";
import type { GenerationKind } from "../config.js";

/**
 * The fal input fields of each kind besides the prompt and the uploaded image's URL (which the worker
 * adds as `prompt` and `image_url`). Fixed per kind so that equal prompts make equal requests (and hit
 * the result cache); one image per request, which is what the user is sent.
 */
export const defaultParams: Record<GenerationKind, Record<string, unknown>> = {
  "text-to-image": { image_size: "square_hd", num_images: 1 },
  "image-to-image": { strength: 0.85, num_images: 1 },
  upscale: { upscale_factor: 2 },
};

/**
 * Minutes until a job at `place` in line for a fal slot (1 = next) is likely done, when the account runs
 * `limit` requests at once, `inUse` of them are taken and a request holds a slot `slotSeconds` on average
 * (FAL_SLOT_SECONDS: fal's time plus the poll that sees it done, the capacity plan's figure): a job that finds a
 * free slot takes one slot time; otherwise each of the `place - free` jobs to get a slot before it waits for one
 * of `limit` slots to free up, one every slotSeconds / `limit` on average (the capacity model's queue), then its
 * own slot time. At least one minute, so it never says "0"; the messages say "about".
 */
export function estimateMinutes(place: number, limit: number, inUse: number, slotSeconds: number): number {
  const slots = Math.max(1, limit);
  const free = Math.max(0, slots - inUse);
  const waitingSeconds = (Math.max(0, place - free) / slots) * slotSeconds;
  return Math.max(1, Math.ceil((waitingSeconds + slotSeconds) / 60));
}

/**
 * The generation id of the request a message makes: a UUID derived from the chat and the message id
 * (unique per chat forever), so a message handled twice (Telegram redelivered it after a crash) names
 * the same row and the same job instead of making a second request.
 */
export function generationIdFor(chatId: number, messageId: number): string {
  const hex = createHash("sha256").update(`tapbot-generation:${chatId}:${messageId}`).digest("hex");
  // RFC 9562 layout: version 8 (custom) and the 10xx variant, so it is a valid UUID everywhere.
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
