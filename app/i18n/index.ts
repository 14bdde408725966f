export { defaultLocale, type Locale, localeFromLanguageCode, locales } from "./locale.js";
export { getI18n, type MessageVariables, translate } from "./translate.js";
