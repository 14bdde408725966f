import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBotProcess } from "../../../app/bot/bot-process.js";
import { loadConfig } from "../../../app/config.js";
import { translate } from "../../../app/i18n/index.js";
import { createLogger } from "../../../app/observability/logger.js";
import { createPool } from "../../../app/storage/pool.js";
import { appEnv } from "../../support/app-env.js";
import type { FakeUser } from "../../support/fake-telegram.js";
import { type FakeTelegram, startFakeTelegram } from "../../support/fake-telegram.js";
import { type PostgresServer, startPostgres } from "../../support/postgres-server.js";
import { type RedisServer, startRedis } from "../../support/redis-server.js";
import { waitUntil } from "../../support/wait-until.js";

let redis: RedisServer;
let postgres: PostgresServer;

beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), postgres.stop()]);
});

const logger = createLogger("silent", "bot-process-test");

function environment(telegram: FakeTelegram, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...appEnv({ telegram, redis, postgres }),
    HTTP_PORT: "0",
    QUEUE_NAME: `test-${randomUUID()}`,
    SHUTDOWN_GRACE_SECONDS: "5",
    ...extra,
  };
}

const user: FakeUser = { id: 777, first_name: "Alice", language_code: "en" };

/** An update as Telegram would post it: `text` from Alice. */
function textUpdate(updateId: number, text: string) {
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      date: Math.floor(Date.now() / 1000),
      chat: { id: user.id, type: "private", first_name: "Alice" },
      from: { id: user.id, is_bot: false, first_name: "Alice", language_code: "en" },
      text,
      ...(text.startsWith("/")
        ? { entities: [{ type: "bot_command", offset: 0, length: text.length }] }
        : {}),
    },
  };
}

function helpUpdate(updateId: number) {
  return textUpdate(updateId, "/help");
}

function postUpdate(port: number, update: unknown, headers: Record<string, string>): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/telegram/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(update),
  });
}

const webhookEnv = {
  BOT_MODE: "webhook",
  WEBHOOK_URL: "https://bot.tapbot.example/telegram/webhook",
  WEBHOOK_SECRET: "s3cret_webhook-token",
};

describe("the bot process in polling mode", () => {
  it("serves /healthz, answers, confirms handled updates at stop and does not re-handle them after a restart", async () => {
    const telegram = await startFakeTelegram();
    try {
      const config = loadConfig(environment(telegram));
      const first = await startBotProcess(config, logger);
      const health = await fetch(`http://127.0.0.1:${first.port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ checks: { redis: "ok", postgres: "ok" } });

      telegram.userSends(user, { text: "/start" });
      await telegram.waitForMessage(
        user.id,
        (m) => m.from === "bot" && (m.text ?? "").startsWith("Hi, Alice!"),
      );
      await first.stop();
      expect(telegram.pendingUpdates()).toEqual([]);

      const second = await startBotProcess(config, logger);
      try {
        telegram.userSends(user, { text: "/help" });
        await telegram.waitForMessage(
          user.id,
          (m) => m.from === "bot" && (m.text ?? "").startsWith("What I can do"),
        );
      } finally {
        await second.stop();
      }
      const botTexts = telegram
        .chat(user.id)
        .filter((m) => m.from === "bot")
        .map((m) => (m.text ?? "").split("\n")[0]);
      expect(botTexts).toEqual(["Hi, Alice! I draw pictures from your descriptions.", "What I can do:"]);
    } finally {
      await telegram.stop();
    }
  });
});

describe("long polling when getUpdates fails", () => {
  it("retries three 500s in a row within a few seconds (not the client's 3 + 6 + 12 s) and answers", async () => {
    const telegram = await startFakeTelegram();
    try {
      const bot = await startBotProcess(loadConfig(environment(telegram)), logger);
      try {
        telegram.failNext("getUpdates", { status: 500 }, 3);
        const sent = Date.now();
        telegram.userSends(user, { text: "/help" });
        await telegram.waitForMessage(
          user.id,
          (m) => m.from === "bot" && (m.text ?? "").startsWith("What I can do"),
          10_000,
        );
        const failed = telegram.callsTo("getUpdates").filter((c) => c.status === 500);
        expect(failed).toHaveLength(3);
        // 250 + 500 + 1000 ms of backoff; auto-retry's waits would be 21 s.
        const answered = telegram.chat(user.id).find((m) => m.from === "bot")?.sentAt ?? Number.NaN;
        expect(answered - sent).toBeLessThan(5_000);
      } finally {
        await bot.stop();
      }
    } finally {
      await telegram.stop();
    }
  });
});

/** Waits until the bot has written the generation row of `prompt`: its handler is past the queue. */
async function generationRowFor(pool: pg.Pool, prompt: string): Promise<void> {
  await waitUntil(
    async () => {
      const { rows } = await pool.query("SELECT 1 FROM generations WHERE prompt = $1", [prompt]);
      return rows.length > 0 ? true : undefined;
    },
    { timeoutMs: 5_000, describe: () => "the generation row" },
  );
}

describe("graceful stop", () => {
  it("lets a request being handled finish (ack sent and recorded) before closing connections", async () => {
    const telegram = await startFakeTelegram();
    const pool = createPool(postgres.url, 1);
    try {
      const bot = await startBotProcess(loadConfig(environment(telegram)), logger);
      telegram.setLatency(800, "sendMessage");
      const request = { id: 778, first_name: "Bo", language_code: "en" };
      telegram.userSends(request, { text: "a slow acknowledgement" });
      // The row exists once the handler is past the queue and waiting for Telegram to take the ack.
      await generationRowFor(pool, "a slow acknowledgement");
      await bot.stop();
      const { rows } = await pool.query(
        "SELECT ack_message_id FROM generations WHERE prompt = 'a slow acknowledgement'",
      );
      const ack = telegram.chat(request.id).find((m) => m.from === "bot");
      expect(ack?.text).toMatch(/^Got it! Place in the queue: 1\./);
      expect(rows).toEqual([{ ack_message_id: String(ack?.message_id) }]);
      expect(telegram.pendingUpdates()).toEqual([]);
    } finally {
      await pool.end();
      await telegram.stop();
    }
  });
});

describe("the bot process in webhook mode", () => {
  it("registers the webhook with its secret, refuses a request without it (401) and handles Telegram's", async () => {
    let port = 0;
    const telegram = await startFakeTelegram({
      webhookTarget: (registered) => `http://127.0.0.1:${port}${new URL(registered).pathname}`,
    });
    const secret = webhookEnv.WEBHOOK_SECRET;
    const bot = await startBotProcess(loadConfig(environment(telegram, webhookEnv)), logger);
    port = bot.port;
    try {
      expect(telegram.webhook()).toEqual({
        url: "https://bot.tapbot.example/telegram/webhook",
        secretToken: secret,
      });
      const post = (headers: Record<string, string>) => postUpdate(port, helpUpdate(990_001), headers);
      expect((await post({})).status).toBe(401);
      expect((await post({ "x-telegram-bot-api-secret-token": "wrong" })).status).toBe(401);
      expect(telegram.callsTo("sendMessage")).toHaveLength(0);

      telegram.userSends(user, { text: "/start" });
      await telegram.waitForMessage(
        user.id,
        (m) => m.from === "bot" && (m.text ?? "").startsWith("Hi, Alice!"),
      );
      const delivered = await waitUntil(async () => telegram.webhookDeliveries.at(0), {
        timeoutMs: 5_000,
        describe: () => "the fake's webhook delivery",
      });
      expect(delivered.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/elsewhere`, { method: "POST" })).status).toBe(404);
    } finally {
      await bot.stop();
      await telegram.stop();
    }
  });
});

describe("fal's webhook on the bot's server", () => {
  it("is served beside Telegram's; unreadable fal keys are warned about at start and answered 503 (fal retries)", async () => {
    const telegram = await startFakeTelegram();
    const lines: string[] = [];
    const captured = createLogger("info", "bot-process-test", {
      write: (line: string) => void lines.push(line),
    });
    const bot = await startBotProcess(
      loadConfig(
        environment(telegram, {
          ...webhookEnv,
          FAL_WEBHOOK_URL: "https://bot.tapbot.example/fal/webhook",
          FAL_JWKS_URL: "http://127.0.0.1:1/.well-known/jwks.json",
        }),
      ),
      captured,
    );
    try {
      await waitUntil(
        async () => (lines.some((l) => l.includes("webhook keys are unavailable")) ? true : undefined),
        {
          timeoutMs: 5_000,
          describe: () => "the start-up warning about fal's keys",
        },
      );
      const signedLooking = {
        "content-type": "application/json",
        "x-fal-webhook-request-id": "req-1",
        "x-fal-webhook-user-id": "user-1",
        "x-fal-webhook-timestamp": String(Math.floor(Date.now() / 1000)),
        "x-fal-webhook-signature": "ab".repeat(64),
      };
      const fal = await fetch(`http://127.0.0.1:${bot.port}/fal/webhook`, {
        method: "POST",
        headers: signedLooking,
        body: JSON.stringify({ request_id: "req-1", status: "OK", payload: {} }),
      });
      expect(fal.status).toBe(503);
      // Telegram's path still reaches Telegram's endpoint (which wants its secret).
      expect((await postUpdate(bot.port, helpUpdate(990_101), {})).status).toBe(401);
    } finally {
      await bot.stop();
      await telegram.stop();
    }
  });
});

describe("an update that fails outside the handlers for a reason no retry fixes", () => {
  /** `message: null` breaks the bot's own bookkeeping before any handler runs, at every delivery. */
  const poison = (updateId: number) => ({ update_id: updateId, message: null });

  it("polling: is confirmed with an error logged, and the updates behind it are handled", async () => {
    const telegram = await startFakeTelegram();
    const bot = await startBotProcess(loadConfig(environment(telegram)), logger);
    try {
      telegram.injectUpdate(poison(990_101));
      telegram.userSends(user, { text: "/help" });
      await telegram.waitForMessage(
        user.id,
        (m) => m.from === "bot" && (m.text ?? "").startsWith("What I can do"),
      );
      // Refetching the batch forever would keep both updates with Telegram (and block all that follow).
      await waitUntil(async () => (telegram.pendingUpdates().length === 0 ? true : undefined), {
        timeoutMs: 10_000,
        describe: () => `still pending: ${JSON.stringify(telegram.pendingUpdates())}`,
      });
    } finally {
      await bot.stop();
      await telegram.stop();
    }
  });

  it("webhook: is acknowledged 200 (not 500, which Telegram would retry forever); a body not sent as JSON gets 415", async () => {
    let port = 0;
    const telegram = await startFakeTelegram({
      webhookTarget: (registered) => `http://127.0.0.1:${port}${new URL(registered).pathname}`,
    });
    const bot = await startBotProcess(loadConfig(environment(telegram, webhookEnv)), logger);
    port = bot.port;
    try {
      const poisonId = telegram.injectUpdate(poison(990_102));
      telegram.userSends(user, { text: "/help" });
      await telegram.waitForMessage(
        user.id,
        (m) => m.from === "bot" && (m.text ?? "").startsWith("What I can do"),
      );
      expect(telegram.webhookDeliveries.filter((d) => d.updateId === poisonId).map((d) => d.status)).toEqual([
        200,
      ]);

      const plain = await fetch(`http://127.0.0.1:${port}/telegram/webhook`, {
        method: "POST",
        headers: {
          "x-telegram-bot-api-secret-token": webhookEnv.WEBHOOK_SECRET,
          "content-type": "text/plain",
        },
        body: JSON.stringify(helpUpdate(990_103)),
      });
      expect([plain.status, await plain.text()]).toEqual([415, "an update is sent as application/json\n"]);
      expect(telegram.callsTo("sendMessage")).toHaveLength(1);
    } finally {
      await bot.stop();
      await telegram.stop();
    }
  });
});

describe("graceful stop in webhook mode", () => {
  it("says draining on /healthz while it still handles updates, then refuses connections; the update being handled finishes", async () => {
    // Deliveries by the fake go nowhere (port 9 refuses): this test posts the updates itself.
    const telegram = await startFakeTelegram({ webhookTarget: () => "http://127.0.0.1:9/" });
    const pool = createPool(postgres.url, 1);
    const secretHeader = { "x-telegram-bot-api-secret-token": webhookEnv.WEBHOOK_SECRET };
    try {
      const bot = await startBotProcess(loadConfig(environment(telegram, webhookEnv)), logger);
      telegram.userSends(user, { text: "/help" }); // opens the chat at the fake, so the bot can answer in it
      telegram.setLatency(800, "sendMessage");
      const slow = postUpdate(bot.port, textUpdate(990_101, "a slow webhook request"), secretHeader);
      await generationRowFor(pool, "a slow webhook request");
      const stopping = bot.stop();
      const health = await fetch(`http://127.0.0.1:${bot.port}/healthz`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { status: string }).status).toBe("draining");
      // The proxy still routes here until its health check notices: such an update is handled, not refused.
      const during = await postUpdate(bot.port, textUpdate(990_102, "during the drain"), secretHeader);
      expect(during.status).toBe(200);
      expect((await slow).status).toBe(200);
      await stopping;
      await expect(
        postUpdate(bot.port, textUpdate(990_103, "after the stop"), secretHeader),
      ).rejects.toThrow();
      const { rows } = await pool.query(
        "SELECT prompt, ack_message_id IS NOT NULL AS acked FROM generations WHERE prompt IN ('a slow webhook request', 'during the drain') ORDER BY prompt",
      );
      expect(rows).toEqual([
        { prompt: "a slow webhook request", acked: true },
        { prompt: "during the drain", acked: true },
      ]);
    } finally {
      await pool.end();
      await telegram.stop();
    }
  });
});

describe("PostgreSQL restarting while a request comes in (webhook)", () => {
  it("answers 500 so that Telegram delivers the update again, apologises for nothing, and acknowledges the redelivery once", async () => {
    const telegram = await startFakeTelegram({ webhookTarget: () => "http://127.0.0.1:9/" });
    const secretHeader = { "x-telegram-bot-api-secret-token": webhookEnv.WEBHOOK_SECRET };
    const bot = await startBotProcess(loadConfig(environment(telegram, webhookEnv)), logger);
    try {
      telegram.userSends(user, { text: "/help" }); // opens the chat at the fake, so the bot can answer in it
      const update = textUpdate(990_201, "a request while PostgreSQL restarts");
      // The throwaway server runs without fsync: a checkpoint first, so the crash keeps the bot's tables.
      const admin = new pg.Client({ connectionString: postgres.url });
      await admin.connect();
      await admin.query("CHECKPOINT");
      await admin.end();
      const restarted = postgres.crashAndRestart(8_000);
      await waitUntil(
        async () => {
          const probe = new pg.Client({ connectionString: postgres.url, connectionTimeoutMillis: 1_000 });
          probe.on("error", () => {});
          return probe.connect().then(
            () => probe.end().then(() => undefined),
            () => true,
          );
        },
        { timeoutMs: 10_000, intervalMs: 50, describe: () => "PostgreSQL down" },
      );
      expect((await postUpdate(bot.port, update, secretHeader)).status).toBe(500);
      await restarted;
      // Telegram's retries: until the bot has the update handled (PostgreSQL may still be recovering).
      await waitUntil(
        async () => ((await postUpdate(bot.port, update, secretHeader)).status === 200 ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 500, describe: () => "the redelivered update handled" },
      );
      // A third delivery (Telegram did not get the 200) is skipped: still one acknowledgement.
      expect((await postUpdate(bot.port, update, secretHeader)).status).toBe(200);
      const texts = telegram
        .chat(user.id)
        .filter((m) => m.from === "bot")
        .map((m) => m.sentText ?? "");
      expect(texts.filter((t) => t.startsWith("Got it!"))).toHaveLength(1);
      expect(texts).not.toContain(translate("en", "error-generic"));
    } finally {
      await bot.stop();
      await telegram.stop();
    }
  }, 90_000);
});
