import type { Api } from "grammy";
import { defaultLocale, locales, translate } from "../i18n/index.js";

/** The commands shown in Telegram's menu, in this order; /start is implied by Telegram itself. */
const menuCommands = ["help", "status", "cancel", "history", "upscale"] as const;

/**
 * Registers the command menu: Russian for everyone by default, English for users whose Telegram is in
 * English, the same split the bot's answers follow.
 */
export async function registerCommandMenu(api: Api): Promise<void> {
  for (const locale of locales) {
    const commands = menuCommands.map((command) => ({
      command,
      description: translate(locale, `command-${command}`),
    }));
    await api.setMyCommands(commands, locale === defaultLocale ? {} : { language_code: locale });
  }
}
