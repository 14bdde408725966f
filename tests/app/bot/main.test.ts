import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appEnv } from "../../support/app-env.js";
import { startChild } from "../../support/child-process.js";
import { type FakeTelegram, type FakeUser, startFakeTelegram } from "../../support/fake-telegram.js";
import { type PostgresServer, startPostgres } from "../../support/postgres-server.js";
import { type RedisServer, startRedis } from "../../support/redis-server.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const tsx = `${root}node_modules/.bin/tsx`;

let redis: RedisServer;
let postgres: PostgresServer;
let telegram: FakeTelegram;

beforeAll(async () => {
  [redis, postgres, telegram] = await Promise.all([startRedis(), startPostgres(), startFakeTelegram()]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), postgres.stop(), telegram.stop()]);
});

/** The environment a deployment gives the bot, and nothing else (no inherited variables). */
function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...appEnv({ telegram, redis, postgres }),
    HTTP_PORT: "0",
    QUEUE_NAME: `test-${randomUUID()}`,
    LOG_LEVEL: "info",
    ...extra,
  };
}

describe("npm run bot (app/bot/main.ts)", () => {
  it("lists every configuration problem at once and exits 2, without a stack trace", async () => {
    const child = startChild(tsx, ["app/bot/main.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, BOT_MODE: "webhook" },
    });
    expect(await child.exited).toBe(2);
    const output = child.logTail();
    for (const variable of [
      "TELEGRAM_BOT_TOKEN",
      "FAL_KEY",
      "REDIS_URL",
      "DATABASE_URL",
      "WEBHOOK_URL",
      "WEBHOOK_SECRET",
    ]) {
      expect(output).toContain(variable);
    }
    expect(output).not.toMatch(/\n\s+at /);
  });

  it("starts from the environment alone, acknowledges within a second, and stops cleanly on SIGTERM", async () => {
    const child = startChild(tsx, ["app/bot/main.ts"], { cwd: root, env: environment() });
    try {
      const ready = JSON.parse(await child.waitForLine(/"msg":"bot ready/, 30_000)) as {
        mode: string;
        port: number;
      };
      expect(ready.mode).toBe("polling");
      const user: FakeUser = { id: 4242, first_name: "Dana", language_code: "ru" };
      for (let i = 1; i <= 5; i += 1) {
        const sent = Date.now();
        telegram.userSends(user, { text: `кот номер ${i}` });
        const ack = await telegram.waitForMessage(
          user.id,
          (m) => m.from === "bot" && (m.text ?? "").includes(`очереди: ${i}.`),
        );
        expect(ack.sentAt - sent).toBeLessThan(1000);
      }
      const scrape = await (await fetch(`http://127.0.0.1:${ready.port}/metrics`)).text();
      expect(scrape).toMatch(/^tapbot_ack_latency_seconds_count 5$/m);
      expect(scrape).toMatch(/^tapbot_ack_latency_seconds_bucket\{le="1"\} 5$/m);
      expect(scrape).toMatch(/^tapbot_updates_total\{kind="text"\} 5$/m);
      expect(scrape).toMatch(/^tapbot_jobs_enqueued_total\{kind="text-to-image",tier="free"\} 5$/m);

      child.child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
      expect(child.logTail()).toContain('"msg":"bot stopped"');
      expect(child.logTail()).not.toContain(telegram.token.split(":")[1]);
    } finally {
      await child.stop("SIGKILL", 1000);
    }
  });
});
