import type { FakeFal } from "./fake-fal.js";
import type { FakeTelegram } from "./fake-telegram.js";

/** The throwaway servers an app process talks to; `fal` is left out where nothing reaches fal (the bot). */
export interface AppEnvServers {
  telegram: Pick<FakeTelegram, "token" | "apiRoot">;
  fal?: Pick<FakeFal, "key" | "queueUrl" | "restUrl">;
  redis: { url: string };
  postgres: { url: string };
  /** FAL_CONCURRENCY. @defaultValue 100 */
  falConcurrency?: number;
}

/**
 * The variables that point an app process at test servers (the names of app/config.ts and .env.example),
 * written once for every test, the demo and the benchmarks. Without `fal`, FAL_KEY is a stand-in the
 * configuration accepts and nothing uses.
 */
export function appEnv(servers: AppEnvServers): Record<string, string> {
  const { telegram, fal, redis, postgres } = servers;
  return {
    TELEGRAM_BOT_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
    ...(fal === undefined
      ? { FAL_KEY: "fal-key-unused-by-this-process" }
      : { FAL_KEY: fal.key, FAL_QUEUE_URL: fal.queueUrl, FAL_REST_URL: fal.restUrl }),
    REDIS_URL: redis.url,
    DATABASE_URL: postgres.url,
    // The fal account's limit: far above what a test sends, unless a test sets a small one on purpose.
    FAL_CONCURRENCY: String(servers.falConcurrency ?? 100),
    // The spending caps, likewise far above what a test or a benchmark sends (tests/app/bot checks them).
    QUOTA_FREE_PER_DAY: "1000000",
    QUOTA_VIP_PER_DAY: "1000000",
    GENERATION_BUDGET_PER_HOUR: "10000000",
  };
}
