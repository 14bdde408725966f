import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { I18n } from "@grammyjs/i18n";
import { defaultLocale, type Locale, locales } from "./locale.js";

/** Values a message may interpolate (Fluent variables). */
export type MessageVariables = Record<string, string | number>;

/**
 * Where the Fluent files live: `app/locales/` beside this module's folder. A build to `dist/` must copy
 * `app/locales/*.ftl` to `dist/app/locales/` for the same relative path to hold.
 */
const localesDirectory = fileURLToPath(new URL("../locales/", import.meta.url));

interface Catalog {
  i18n: I18n;
  /** Message ids of the default locale: every key a caller may ask for. */
  keys: ReadonlySet<string>;
}

let catalog: Catalog | undefined;

/** Message ids declared at the start of a line (`key = ...`); attributes and comments are not ids. */
function messageIds(source: string): Set<string> {
  return new Set(Array.from(source.matchAll(/^([a-zA-Z][\w-]*)[ \t]*=/gm), (match) => match[1] as string));
}

function loadCatalog(): Catalog {
  const i18n = new I18n({
    defaultLocale,
    // No Unicode isolation marks around variables: Telegram shows them as stray characters in some clients.
    fluentBundleOptions: { useIsolating: false },
  });
  let keys = new Set<string>();
  for (const locale of locales) {
    const filePath = `${localesDirectory}${locale}.ftl`;
    if (!existsSync(filePath)) {
      throw new Error(`message file for locale "${locale}" not found at ${filePath}`);
    }
    const source = readFileSync(filePath, "utf8");
    i18n.loadLocaleSync(locale, { source });
    if (locale === defaultLocale) keys = messageIds(source);
  }
  return { i18n, keys };
}

/**
 * Formats message `key` in `locale`, usable outside a grammY context (the worker's status edits and failures).
 * A key missing in English falls back to Russian. An unknown key or a missing variable throws: both are
 * programming errors that must never reach a user as `{key}`.
 */
export function translate(locale: Locale, key: string, vars: MessageVariables = {}): string {
  catalog ??= loadCatalog();
  if (!catalog.keys.has(key)) {
    throw new Error(`unknown message key "${key}"; keys are declared in app/locales/${defaultLocale}.ftl`);
  }
  return catalog.i18n.translate(locale, key, vars);
}
