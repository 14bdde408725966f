import type { Context } from "grammy";
import type { Locale, MessageVariables } from "../i18n/index.js";
import type { User } from "../storage/user-store.js";

/** What the bot's own middleware adds to grammY's context before any handler runs. */
export interface BotFlavor {
  /** `performance.now()` when the update reached this process: the start of the ack latency. */
  receivedAt: number;
  /** The sender's language (English if their Telegram language is English, else Russian). */
  locale: Locale;
  /** Formats a message in {@link locale}. */
  t(key: string, vars?: MessageVariables): string;
  /** The sender, registered in PostgreSQL; set for every private-chat update before the handlers run. */
  user: User;
}

/** The context every handler of this bot receives. */
export type BotContext = Context & BotFlavor;
