import type pg from "pg";
import { type Locale, localeFromLanguageCode } from "../i18n/index.js";

/** Service tiers; the owner sets a user's tier, and vip requests are queued ahead of free ones. */
export const tiers = ["free", "vip"] as const;
export type Tier = (typeof tiers)[number];

/** A Telegram user as the app knows them. */
export interface User {
  id: number;
  telegramId: number;
  tier: Tier;
  /** English when Telegram says the user's language is English, Russian otherwise. */
  locale: Locale;
}

/** What Telegram tells about a user on each message. */
export interface UserProfile {
  telegramId: number;
  username?: string | undefined;
  firstName?: string | undefined;
  languageCode?: string | undefined;
}

interface UserRow {
  id: string;
  telegram_id: string;
  tier: Tier;
  language_code: string | null;
}

function toUser(row: UserRow): User {
  return {
    id: Number(row.id),
    telegramId: Number(row.telegram_id),
    tier: row.tier,
    locale: localeFromLanguageCode(row.language_code ?? undefined),
  };
}

/**
 * PostgreSQL's text cannot hold U+0000 ("invalid byte sequence for encoding UTF8: 0x00"); a name carrying one
 * is stored without it rather than failing the user's every message.
 */
function withoutNul(text: string | undefined): string | null {
  return text === undefined ? null : text.replaceAll("\u0000", "");
}

/** The `users` table. The tier is only ever set by the owner (Directus); the bot never changes it. */
export class UserStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Registers the user on first contact and refreshes their profile later, in one statement. */
  async upsert(profile: UserProfile): Promise<User> {
    const { rows } = await this.pool.query<UserRow>(
      `INSERT INTO users (telegram_id, username, first_name, language_code)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (telegram_id) DO UPDATE
         SET username = EXCLUDED.username, first_name = EXCLUDED.first_name,
             language_code = EXCLUDED.language_code, updated_at = now()
       RETURNING id, telegram_id, tier, language_code`,
      [
        profile.telegramId,
        withoutNul(profile.username),
        withoutNul(profile.firstName),
        withoutNul(profile.languageCode),
      ],
    );
    return toUser(rows[0] as UserRow);
  }

  async get(telegramId: number): Promise<User | null> {
    const { rows } = await this.pool.query<UserRow>(
      "SELECT id, telegram_id, tier, language_code FROM users WHERE telegram_id = $1",
      [telegramId],
    );
    return rows[0] === undefined ? null : toUser(rows[0]);
  }
}
