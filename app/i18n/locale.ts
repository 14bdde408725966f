/** The languages the bot speaks. Russian is the default; every message exists in both. */
export const locales = ["ru", "en"] as const;

/** One of {@link locales}. */
export type Locale = (typeof locales)[number];

/** The language used when a user's Telegram language is not English (or unknown). */
export const defaultLocale: Locale = "ru";

/**
 * Picks the user's language from Telegram's `language_code` (an IETF tag such as "en", "en-GB", "ru", "kk").
 * English only when the tag says English; everyone else, including users without a tag, gets Russian,
 * the language of most of tapbot.kz's users.
 */
export function localeFromLanguageCode(languageCode: string | undefined): Locale {
  return languageCode?.toLowerCase().startsWith("en") ? "en" : defaultLocale;
}
