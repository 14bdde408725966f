import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GenerationStore } from "../../../app/storage/generation-store.js";
import { runMigrations } from "../../../app/storage/migrate.js";
import { createPool } from "../../../app/storage/pool.js";
import { UserStore } from "../../../app/storage/user-store.js";
import { type PostgresServer, startPostgres } from "../../support/postgres-server.js";

let postgres: PostgresServer;
let pool: pg.Pool;

beforeAll(async () => {
  postgres = await startPostgres();
  pool = createPool(postgres.url);
});

afterAll(async () => {
  await pool?.end();
  await postgres?.stop();
});

describe("migrations", () => {
  it("create the tables once and change nothing when run again, also concurrently", async () => {
    const first = await runMigrations(postgres.url);
    expect(first).toEqual(["1763680000000_users-and-generations"]);
    const again = await Promise.all([runMigrations(postgres.url), runMigrations(postgres.url)]);
    expect(again).toEqual([[], []]);
    const { rows } = await pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(rows.map((r) => r.table_name)).toEqual(["generations", "pgmigrations", "users"]);
  });
});

describe("stores", () => {
  beforeAll(async () => {
    await runMigrations(postgres.url);
  });

  it("registers a user once, refreshes the profile and picks the locale from the language", async () => {
    const users = new UserStore(pool);
    const first = await users.upsert({ telegramId: 7_000_000_001, username: "ann", languageCode: "ru" });
    const second = await users.upsert({ telegramId: 7_000_000_001, username: "ann2", languageCode: "en-GB" });
    expect(second.id).toBe(first.id);
    expect(first).toMatchObject({ telegramId: 7_000_000_001, tier: "free", locale: "ru" });
    expect(second.locale).toBe("en");
    expect(await users.get(7_000_000_001)).toEqual(second);
    expect(await users.get(42)).toBeNull();
    const unknownLanguage = await users.upsert({ telegramId: 7_000_000_002 });
    expect(unknownLanguage.locale).toBe("ru");
  });

  it("stores a name with a NUL character without it (PostgreSQL's text refuses U+0000)", async () => {
    const users = new UserStore(pool);
    const user = await users.upsert({ telegramId: 7_000_000_003, username: "a\u0000b", firstName: "\u0000" });
    const { rows } = await pool.query("SELECT username, first_name FROM users WHERE id = $1", [user.id]);
    expect(rows).toEqual([{ username: "ab", first_name: "" }]);
  });

  it("moves a generation queued → running → delivered and never out of a final status", async () => {
    const users = new UserStore(pool);
    const generations = new GenerationStore(pool);
    const user = await users.upsert({ telegramId: 7_000_000_010, languageCode: "en" });
    const id = randomUUID();
    const created = await generations.create({
      id,
      userId: user.id,
      chatId: 7_000_000_010,
      kind: "text-to-image",
      model: "fal-ai/flux/schnell",
      prompt: "a red fox",
      params: { image_size: "square" },
      cacheKey: "k1",
    });
    expect(created).toMatchObject({
      status: "queued",
      attempts: 0,
      cached: false,
      params: { image_size: "square" },
    });
    expect((await generations.listActive(user.id)).map((g) => g.id)).toEqual([id]);

    await generations.setAckMessage(id, 55);
    await generations.markRunning(id, "req-1");
    await generations.markDelivered(id, { resultFileId: "file-1", cached: false });
    await generations.markFailed(id, { error: "late failure", status: "failed" });
    await generations.markRunning(id, "req-2");

    const row = await generations.get(id);
    expect(row).toMatchObject({
      status: "delivered",
      ackMessageId: 55,
      falRequestId: "req-1",
      resultFileId: "file-1",
      attempts: 1,
      error: null,
    });
    expect(row?.deliveredAt).toBeInstanceOf(Date);
    expect(await generations.listActive(user.id)).toEqual([]);
    expect((await generations.listRecent(user.id)).map((g) => g.resultFileId)).toEqual(["file-1"]);
  });

  it("lists at most the requested number of recent results, newest first, without failures", async () => {
    const users = new UserStore(pool);
    const generations = new GenerationStore(pool);
    const user = await users.upsert({ telegramId: 7_000_000_020 });
    for (let i = 0; i < 12; i += 1) {
      const id = randomUUID();
      await generations.create({
        id,
        userId: user.id,
        chatId: 1,
        kind: "upscale",
        model: "m/x",
        prompt: `p${i}`,
        params: {},
        sourceFileId: "src",
        cacheKey: `c${i}`,
      });
      if (i === 11) await generations.markFailed(id, { error: "fal 422", status: "failed" });
      else await generations.markDelivered(id, { resultFileId: `f${i}`, cached: i % 2 === 0 });
    }
    const recent = await generations.listRecent(user.id);
    expect(recent.map((g) => g.resultFileId)).toEqual([
      "f10",
      "f9",
      "f8",
      "f7",
      "f6",
      "f5",
      "f4",
      "f3",
      "f2",
      "f1",
    ]);
    expect((await generations.listRecent(user.id, 3)).length).toBe(3);
  });
});
