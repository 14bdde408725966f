/**
 * Measures the acknowledgement latency of the real bot process (`tsx app/bot/main.ts`, long polling)
 * against the fake Bot API with throwaway Redis and PostgreSQL: N users each send one prompt, one after
 * another, and the time from the fake queueing the update to the bot's ack arriving is recorded.
 *
 *   npx tsx tests/app/bot/measure-ack-latency.ts [requests=200]
 */
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { startChild } from "../../support/child-process.js";
import { startFakeTelegram } from "../../support/fake-telegram.js";
import { startPostgres } from "../../support/postgres-server.js";
import { startRedis } from "../../support/redis-server.js";

const requests = Number(process.argv[2] ?? 200);
const root = fileURLToPath(new URL("../../../", import.meta.url));
const [redis, postgres, telegram] = await Promise.all([startRedis(), startPostgres(), startFakeTelegram()]);
const bot = startChild(`${root}node_modules/.bin/tsx`, ["app/bot/main.ts"], {
  cwd: root,
  env: {
    PATH: process.env.PATH,
    TELEGRAM_BOT_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
    FAL_KEY: "k",
    REDIS_URL: redis.url,
    DATABASE_URL: postgres.url,
    HTTP_PORT: "0",
    QUEUE_NAME: `measure-${randomUUID()}`,
    LOG_LEVEL: "info",
  },
});
try {
  await bot.waitForLine(/"msg":"bot ready/, 30_000);
  const latencies: number[] = [];
  for (let i = 0; i < requests; i += 1) {
    const user = { id: 100_000 + i, first_name: "U", language_code: "en" };
    const sent = Date.now();
    telegram.userSends(user, { text: `a lighthouse number ${i}` });
    const ack = await telegram.waitForMessage(user.id, (m) => m.from === "bot", 10_000);
    latencies.push(ack.sentAt - sent);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(
    `ack latency over ${requests} requests (ms): p50 ${at(0.5)}, p90 ${at(0.9)}, p99 ${at(0.99)}, max ${latencies.at(-1)}`,
  );
} finally {
  await bot.stop("SIGTERM", 10_000);
  await Promise.all([telegram.stop(), redis.stop(), postgres.stop()]);
}
