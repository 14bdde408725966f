import type { MigrationBuilder } from "node-pg-migrate";

/**
 * The first schema: who uses the bot and every generation they asked for. Plain SQL so that the owner
 * reads in Directus exactly what is written here; the status and kind checks keep the worker and the
 * bot from writing values the other side does not know.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    CREATE TABLE users (
      id bigserial PRIMARY KEY,
      telegram_id bigint NOT NULL UNIQUE,
      username text,
      first_name text,
      language_code text,
      tier text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'vip')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE generations (
      id uuid PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users (id),
      chat_id bigint NOT NULL,
      kind text NOT NULL CHECK (kind IN ('text-to-image', 'image-to-image', 'upscale')),
      model text NOT NULL,
      prompt text NOT NULL,
      params jsonb NOT NULL DEFAULT '{}'::jsonb,
      source_file_id text,
      cache_key text NOT NULL,
      status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'delivered', 'failed', 'cancelled', 'expired')),
      fal_request_id text,
      ack_message_id bigint,
      result_file_id text,
      cached boolean NOT NULL DEFAULT false,
      error text,
      attempts integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz,
      delivered_at timestamptz
    );

    CREATE INDEX generations_user_created_idx ON generations (user_id, created_at DESC);
    CREATE INDEX generations_active_idx ON generations (user_id) WHERE status IN ('queued', 'running');
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql("DROP TABLE generations; DROP TABLE users;");
}
