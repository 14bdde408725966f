import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { localeFromLanguageCode, locales, translate } from "../../../app/i18n/index.js";

function keysOf(locale: string): string[] {
  const source = readFileSync(new URL(`../../../app/locales/${locale}.ftl`, import.meta.url), "utf8");
  return Array.from(source.matchAll(/^([a-zA-Z][\w-]*)[ \t]*=/gm), (match) => match[1] as string).sort();
}

describe("message files", () => {
  it("declare the same keys in every language, so no user ever sees the other language by accident", () => {
    const ru = keysOf("ru");
    expect(ru.length).toBeGreaterThan(20);
    for (const locale of locales) expect(keysOf(locale)).toEqual(ru);
  });

  it("format every message in both languages without leftover placeholders", () => {
    const vars = {
      name: "Ая",
      promptMax: 1000,
      imageMaxMb: 10,
      position: 3,
      seconds: 42,
      max: 1000,
      length: 5000,
      sizeMb: 12.5,
      maxMb: 10,
      type: "application/pdf",
      reason: "image too small",
      kind: "x",
      minutes: 2,
      date: "2026-11-20",
      prompt: "cat",
      limit: 50,
      hours: 3,
    };
    for (const key of keysOf("ru")) {
      const ru = translate("ru", key, vars);
      const en = translate("en", key, vars);
      expect(ru).not.toMatch(/[{}]/);
      expect(en).not.toMatch(/[{}]/);
      expect(en).not.toBe(ru);
    }
  });
});

describe("localeFromLanguageCode", () => {
  it("gives English to English-speaking Telegram users and Russian to everyone else", () => {
    expect(localeFromLanguageCode("en")).toBe("en");
    expect(localeFromLanguageCode("en-GB")).toBe("en");
    expect(localeFromLanguageCode("EN-us")).toBe("en");
    expect(localeFromLanguageCode("ru")).toBe("ru");
    expect(localeFromLanguageCode("kk")).toBe("ru");
    expect(localeFromLanguageCode("de")).toBe("ru");
    expect(localeFromLanguageCode(undefined)).toBe("ru");
  });
});

describe("translate", () => {
  it("interpolates variables in the user's language, with the locale's number format", () => {
    expect(translate("ru", "rate-limited", { seconds: 42 })).toBe(
      "Слишком много запросов. Попробуйте снова через 42 с.",
    );
    expect(translate("en", "rate-limited", { seconds: 42 })).toBe("Too many requests. Try again in 42 s.");
    expect(translate("ru", "image-too-big", { sizeMb: 12.5, maxMb: 10 })).toContain("12,5 МБ");
    expect(translate("en", "image-too-big", { sizeMb: 12.5, maxMb: 10 })).toContain("12.5 MB");
  });

  it("refuses an unknown key or a missing variable instead of showing a placeholder to a user", () => {
    expect(() => translate("en", "no-such-message")).toThrow(/unknown message key "no-such-message"/);
    expect(() => translate("ru", "rate-limited")).toThrow(/seconds/);
  });
});
