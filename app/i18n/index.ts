export { defaultLocale, type Locale, localeFromLanguageCode, locales } from "./locale.js";
export { type MessageVariables, translate } from "./translate.js";
