/** The image formats fal's models and Telegram both accept. */
export type ImageType = {
  mime: "image/jpeg" | "image/png" | "image/webp";
  extension: "jpg" | "png" | "webp";
};

/** Bytes needed to tell the formats apart. */
export const sniffLength = 12;

/**
 * Recognizes JPEG, PNG and WebP from their first bytes (magic numbers); anything else is undefined.
 * The user's declared mime type is not trusted: the bytes decide what goes to fal.
 */
export function sniffImageType(head: Uint8Array): ImageType | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) {
    return { mime: "image/jpeg", extension: "jpg" };
  }
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (head.length >= 8 && png.every((byte, i) => head[i] === byte))
    return { mime: "image/png", extension: "png" };
  const ascii = Buffer.from(head).toString("latin1");
  if (head.length >= 12 && ascii.startsWith("RIFF") && ascii.slice(8, 12) === "WEBP") {
    return { mime: "image/webp", extension: "webp" };
  }
  return undefined;
}
