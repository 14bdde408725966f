import { describe, expect, it } from "vitest";
import { checkImage, checkPrompt, imageFromDocument, imageFromPhoto } from "../../../app/bot/input-checks.js";

const limits = { promptMaxLength: 1000, imageMaxBytes: 10 * 1024 * 1024 };

describe("checkPrompt", () => {
  it("refuses an empty or blank prompt, naming the allowed length", () => {
    for (const text of [undefined, "", "   \n\t ", "\u200b\u200d"]) {
      expect(checkPrompt(text, limits)).toEqual({
        ok: false,
        refusal: { key: "prompt-empty", vars: { max: 1000 } },
      });
    }
  });

  it("refuses a 5 000-character prompt, saying how long it was and what is allowed", () => {
    expect(checkPrompt("a".repeat(5000), limits)).toEqual({
      ok: false,
      refusal: { key: "prompt-too-long", vars: { length: 5000, max: 1000 } },
    });
  });

  it("counts characters as a user does: 1 000 emoji are 1 000 characters, not 2 000 UTF-16 units", () => {
    expect(checkPrompt("🐱".repeat(1000), limits)).toEqual({ ok: true, value: "🐱".repeat(1000) });
    expect(checkPrompt("🐱".repeat(1001), limits).ok).toBe(false);
  });

  it("drops control characters (a NUL would fail the row), and a prompt of nothing else is empty", () => {
    expect(checkPrompt("a robot\u0000 with\u0007 a\u009f lamp", limits)).toEqual({
      ok: true,
      value: "a robot with a lamp",
    });
    expect(checkPrompt("\u0000\u0001\u001b", limits)).toMatchObject({
      ok: false,
      refusal: { key: "prompt-empty" },
    });
  });

  it("collapses whitespace so the same words make the same request", () => {
    expect(checkPrompt("  рыжий   кот\n\nв космосе ", limits)).toEqual({
      ok: true,
      value: "рыжий кот в космосе",
    });
  });
});

describe("checkImage", () => {
  const image = { fileId: "f", fileUniqueId: "u", mimeType: "image/png", fileSize: 1000 };

  it("accepts jpeg, png and webp up to the limit", () => {
    for (const mimeType of ["image/jpeg", "image/png", "image/webp", "IMAGE/PNG"]) {
      expect(checkImage({ ...image, mimeType }, limits).ok).toBe(true);
    }
    expect(checkImage({ ...image, fileSize: limits.imageMaxBytes }, limits).ok).toBe(true);
  });

  it("refuses a PDF or any other type, naming the type", () => {
    expect(checkImage({ ...image, mimeType: "application/pdf" }, limits)).toEqual({
      ok: false,
      refusal: { key: "file-wrong-type", vars: { type: "application/pdf" } },
    });
    expect(checkImage({ ...image, mimeType: "image/gif" }, limits).ok).toBe(false);
    expect(checkImage({ ...image, mimeType: undefined }, limits)).toEqual({
      ok: false,
      refusal: { key: "file-wrong-type", vars: { type: "?" } },
    });
  });

  it("refuses an image one byte over the limit, never showing the limit as the size", () => {
    expect(checkImage({ ...image, fileSize: limits.imageMaxBytes + 1 }, limits)).toEqual({
      ok: false,
      refusal: { key: "image-too-big", vars: { sizeMb: 10.1, maxMb: 10 } },
    });
  });
});

describe("Telegram metadata", () => {
  it("takes the largest photo size as a JPEG", () => {
    const sizes = [
      { file_id: "small", file_unique_id: "s", file_size: 10 },
      { file_id: "large", file_unique_id: "l", file_size: 900 },
    ];
    expect(imageFromPhoto(sizes)).toEqual({
      fileId: "large",
      fileUniqueId: "l",
      mimeType: "image/jpeg",
      fileSize: 900,
    });
    expect(imageFromPhoto([])).toBeUndefined();
  });

  it("keeps a document's declared type and size", () => {
    expect(
      imageFromDocument({ file_id: "d", file_unique_id: "du", mime_type: "application/pdf", file_size: 5 }),
    ).toEqual({ fileId: "d", fileUniqueId: "du", mimeType: "application/pdf", fileSize: 5 });
  });
});
