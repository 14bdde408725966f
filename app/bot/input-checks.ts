import type { MessageVariables } from "../i18n/index.js";

/** Image types fal's models accept and the worker can sniff; anything else is refused up front. */
export const acceptedImageTypes = ["image/jpeg", "image/png", "image/webp"] as const;

/** The limits the checks enforce (PROMPT_MAX_LENGTH, IMAGE_MAX_BYTES). */
export interface InputLimits {
  /** Longest prompt, in characters (Unicode code points, as a user counts them). */
  promptMaxLength: number;
  /** Largest image, in bytes, judged from Telegram's `file_size`. */
  imageMaxBytes: number;
}

/** Why a request was refused: a message key and its variables, so it is told in the user's language. */
export interface Refusal {
  key: string;
  vars: MessageVariables;
}

/** The outcome of one check: the cleaned value, or the refusal to send. */
export type Checked<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

/** An image a user sent, described only by Telegram's metadata: nothing has been downloaded. */
export interface ImageRef {
  /** Telegram file_id: what the worker downloads through getFile. */
  fileId: string;
  /** Stable across bots and re-uploads of the same file: what the result cache keys on. */
  fileUniqueId: string;
  /** As Telegram reports it; photos are always JPEG. */
  mimeType: string | undefined;
  /** As Telegram reports it; may be absent for documents (the worker's streamed size check then holds). */
  fileSize: number | undefined;
}

/**
 * Cleans a prompt (Unicode NFC, surrounding and repeated whitespace and control characters collapsed)
 * and checks its length, so the same words always make the same request (and the same cache key).
 */
export function checkPrompt(
  text: string | undefined,
  limits: Pick<InputLimits, "promptMaxLength">,
): Checked<string> {
  // Control characters (NUL above all, which PostgreSQL's text refuses) separate words at most.
  const prompt = (text ?? "")
    .normalize("NFC")
    .replace(/[\s\p{Cc}]+/gu, " ")
    .trim();
  const length = Array.from(prompt).length;
  // Only invisible format characters (zero-width spaces and joiners) count as empty too.
  if (prompt.replace(/\p{Cf}/gu, "") === "")
    return { ok: false, refusal: { key: "prompt-empty", vars: { max: limits.promptMaxLength } } };
  if (length > limits.promptMaxLength) {
    return { ok: false, refusal: { key: "prompt-too-long", vars: { length, max: limits.promptMaxLength } } };
  }
  return { ok: true, value: prompt };
}

/** Megabytes with one decimal, rounded up so that "too big" never shows the limit itself. */
function megabytes(bytes: number): number {
  return Math.ceil((bytes / (1024 * 1024)) * 10) / 10;
}

/**
 * Checks an image from its metadata alone: an accepted type and at most `imageMaxBytes`. Refusing here
 * means an oversize or wrong file never costs a download, a queue slot or a provider call.
 */
export function checkImage(image: ImageRef, limits: Pick<InputLimits, "imageMaxBytes">): Checked<ImageRef> {
  const type = image.mimeType?.toLowerCase();
  if (type === undefined || !(acceptedImageTypes as readonly string[]).includes(type)) {
    return { ok: false, refusal: { key: "file-wrong-type", vars: { type: image.mimeType ?? "?" } } };
  }
  if (image.fileSize !== undefined && image.fileSize > limits.imageMaxBytes) {
    return {
      ok: false,
      refusal: {
        key: "image-too-big",
        vars: { sizeMb: megabytes(image.fileSize), maxMb: megabytes(limits.imageMaxBytes) },
      },
    };
  }
  return { ok: true, value: image };
}

/** The largest size Telegram offers of a photo (the last one); photos Telegram re-encodes are JPEG. */
export function imageFromPhoto(
  sizes: readonly { file_id: string; file_unique_id: string; file_size?: number }[],
): ImageRef | undefined {
  const largest = sizes.at(-1);
  if (largest === undefined) return undefined;
  return {
    fileId: largest.file_id,
    fileUniqueId: largest.file_unique_id,
    mimeType: "image/jpeg",
    fileSize: largest.file_size,
  };
}

/** A file sent "as a document": its declared type decides whether it is an image at all. */
export function imageFromDocument(document: {
  file_id: string;
  file_unique_id: string;
  mime_type?: string;
  file_size?: number;
}): ImageRef {
  return {
    fileId: document.file_id,
    fileUniqueId: document.file_unique_id,
    mimeType: document.mime_type,
    fileSize: document.file_size,
  };
}
