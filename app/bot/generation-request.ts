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
 * Typical time of one job, from the owner's load notes (20–30 s per job); the /status estimate is only
 * as good as this, and says "about".
 */
export const typicalJobSeconds = 25;

/**
 * Minutes until a job at `place` in line for a fal slot (1 = next) is likely done, when the account runs
 * `limit` requests at once and `inUse` of them are taken: a job that finds a free slot takes one typical
 * job time; otherwise each of the `place - free` jobs to get a slot before it waits for one of `limit`
 * slots to free up, one every typical job time / `limit` on average (the capacity model's M/M/c queue),
 * then its own job time. At least one minute, so it never says "0".
 */
export function estimateMinutes(place: number, limit: number, inUse: number): number {
  const slots = Math.max(1, limit);
  const free = Math.max(0, slots - inUse);
  const waitingSeconds = (Math.max(0, place - free) / slots) * typicalJobSeconds;
  return Math.max(1, Math.ceil((waitingSeconds + typicalJobSeconds) / 60));
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
