import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../app/config.js";
import { SECRET_FILE_MAX_BYTES } from "../../../app/secret-files.js";
import { makeTempDir, removeTempDir } from "../../support/temp-dir.js";

const minimal = {
  TELEGRAM_BOT_TOKEN: "123456:AAH-secret_token",
  FAL_KEY: "fal-key-id:fal-key-secret",
  REDIS_URL: "redis://127.0.0.1:6379",
  DATABASE_URL: "postgres://tapbot:hunter2@127.0.0.1:5432/tapbot",
  FAL_CONCURRENCY: "10",
};

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("fills the documented defaults from the five required variables", () => {
    const config = loadConfig(minimal);
    expect(config).toMatchObject({
      telegramApiRoot: "https://api.telegram.org",
      falQueueUrl: "https://queue.fal.run",
      falRestUrl: "https://rest.alpha.fal.ai",
      workerConcurrency: 4,
      falConcurrency: 10,
      botMode: "polling",
      httpPort: 8080,
      logLevel: "info",
      rateLimitMax: 10,
      rateLimitWindowSeconds: 60,
      quotaFreePerDay: 50,
      quotaVipPerDay: 500,
      generationBudgetPerHour: 2000,
      promptMaxLength: 1000,
      imageMaxBytes: 10_485_760,
      cacheTtlSeconds: 86_400,
      falModelTextToImage: "fal-ai/flux/schnell",
      falModelImageToImage: "fal-ai/flux/dev/image-to-image",
      falModelUpscale: "fal-ai/clarity-upscaler",
      deadlineSecondsTextToImage: 120,
      deadlineSecondsImageToImage: 180,
      deadlineSecondsUpscale: 300,
      pollInitialSeconds: 2,
      pollMaxSeconds: 10,
      falSlotSeconds: 29,
      shutdownGraceSeconds: 20,
      queueName: "generations",
    });
  });

  it("lists every problem at once, one line per variable, naming what is allowed", () => {
    const problems = problemsOf({
      BOT_MODE: "webhook",
      WORKER_CONCURRENCY: "0",
      REDIS_URL: "http://127.0.0.1:6379",
      HTTP_PORT: "eighty",
      LOG_LEVEL: "loud",
    });
    expect(problems).toEqual([
      "TELEGRAM_BOT_TOKEN: required: the bot token from @BotFather (digits:letters)",
      "FAL_KEY: required: the fal.ai API key",
      "REDIS_URL: must use redis or rediss",
      "DATABASE_URL: required: a postgres or postgresql URL",
      "WORKER_CONCURRENCY: must be a whole number from 1 to 1000",
      "FAL_CONCURRENCY: required: the fal account's concurrent request limit; new accounts have 2, fal raises it on request",
      "HTTP_PORT: must be a whole number from 0 to 65535",
      "LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent",
      "WEBHOOK_URL: required when BOT_MODE=webhook (the public https URL)",
      "WEBHOOK_SECRET: required when BOT_MODE=webhook (1-256 characters of A-Z, a-z, 0-9, _ and -)",
    ]);
  });

  it("never prints a secret's value, even when it is malformed", () => {
    const env = {
      ...minimal,
      TELEGRAM_BOT_TOKEN: "not-a-token-s3cr3t",
      DATABASE_URL: "mysql://u:hunter2@h/db",
    };
    let message = "";
    try {
      loadConfig(env);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/TELEGRAM_BOT_TOKEN: must look like/);
    expect(message).toMatch(/DATABASE_URL: must use postgres or postgresql/);
    expect(message).not.toContain("s3cr3t");
    expect(message).not.toContain("hunter2");
  });

  it("checks the webhook secret's alphabet and the poll bounds' order", () => {
    expect(
      problemsOf({
        ...minimal,
        BOT_MODE: "webhook",
        WEBHOOK_URL: "https://bot.example/hook",
        WEBHOOK_SECRET: "has space",
      }),
    ).toEqual(["WEBHOOK_SECRET: must be 1-256 characters of A-Z, a-z, 0-9, _ and -"]);
    expect(problemsOf({ ...minimal, POLL_INITIAL_SECONDS: "5", POLL_MAX_SECONDS: "2" })).toEqual([
      "POLL_MAX_SECONDS: must be at least POLL_INITIAL_SECONDS",
    ]);
  });

  it("refuses a fal account limit that is not a whole number of at least 1, saying what it is", () => {
    for (const value of ["0", "-2", "2.5", "many"]) {
      expect(problemsOf({ ...minimal, FAL_CONCURRENCY: value })).toEqual([
        "FAL_CONCURRENCY: must be a whole number from 1 up (the fal account's concurrent request limit; new accounts have 2, fal raises it on request)",
      ]);
    }
    expect(problemsOf({ ...minimal, FAL_CONCURRENCY: "" })).toEqual([
      "FAL_CONCURRENCY: required: the fal account's concurrent request limit; new accounts have 2, fal raises it on request",
    ]);
  });

  it("treats empty variables as unset, as .env files write them", () => {
    expect(loadConfig({ ...minimal, WORKER_CONCURRENCY: "", TELEGRAM_API_ROOT: "" }).workerConcurrency).toBe(
      4,
    );
  });

  it("fal webhooks: off unless FAL_WEBHOOK_URL is set, fal's JWKS by default, on a path of their own", () => {
    expect(loadConfig(minimal)).toMatchObject({
      falWebhookUrl: undefined,
      falJwksUrl: "https://rest.alpha.fal.ai/.well-known/jwks.json",
      falWebhookFallbackSeconds: 60,
    });
    expect(
      loadConfig({
        ...minimal,
        FAL_WEBHOOK_URL: "https://bot.example/fal/webhook",
        FAL_WEBHOOK_FALLBACK_SECONDS: "40",
      }),
    ).toMatchObject({ falWebhookUrl: "https://bot.example/fal/webhook", falWebhookFallbackSeconds: 40 });
    expect(
      problemsOf({
        ...minimal,
        BOT_MODE: "webhook",
        WEBHOOK_URL: "https://bot.example/hook",
        WEBHOOK_SECRET: "s",
        FAL_WEBHOOK_URL: "https://bot.example/hook",
        FAL_WEBHOOK_FALLBACK_SECONDS: "0",
      }),
    ).toEqual(["FAL_WEBHOOK_FALLBACK_SECONDS: must be a number of seconds above 0"]);
    expect(
      problemsOf({
        ...minimal,
        BOT_MODE: "webhook",
        WEBHOOK_URL: "https://bot.example/hook",
        WEBHOOK_SECRET: "s",
        FAL_WEBHOOK_URL: "https://bot.example/hook",
      }),
    ).toEqual(["FAL_WEBHOOK_URL: must have a different path from WEBHOOK_URL (Telegram's webhook)"]);
    expect(problemsOf({ ...minimal, FAL_WEBHOOK_URL: "ftp://bot.example/fal" })).toEqual([
      "FAL_WEBHOOK_URL: must use https or http",
    ]);
  });
});

describe("secrets from files (NAME_FILE), as the deploy gives them", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await makeTempDir("secret-files");
  });
  afterAll(async () => {
    await removeTempDir(dir);
  });
  const secretFile = async (name: string, content: string | Buffer) => {
    const path = join(dir, name);
    await writeFile(path, content, { mode: 0o400 });
    return path;
  };

  it("reads each secret from its file, dropping the newline an editor adds, the same as from the variable", async () => {
    const { TELEGRAM_BOT_TOKEN, FAL_KEY, REDIS_URL, DATABASE_URL, ...rest } = minimal;
    const config = loadConfig({
      ...rest,
      TELEGRAM_BOT_TOKEN_FILE: await secretFile("token", `${TELEGRAM_BOT_TOKEN}\n`),
      FAL_KEY_FILE: await secretFile("fal", FAL_KEY),
      REDIS_URL_FILE: await secretFile("redis", `${REDIS_URL}\r\n`),
      DATABASE_URL_FILE: await secretFile("db", DATABASE_URL),
      BOT_MODE: "webhook",
      WEBHOOK_URL: "https://bot.tapbot.kz/telegram/webhook",
      WEBHOOK_SECRET_FILE: await secretFile("webhook", "s3cret_-X\n"),
    });
    expect(config).toMatchObject({
      telegramBotToken: TELEGRAM_BOT_TOKEN,
      falKey: FAL_KEY,
      redisUrl: REDIS_URL,
      databaseUrl: DATABASE_URL,
      webhookSecret: "s3cret_-X",
    });
    expect(config).toEqual(
      loadConfig({
        ...minimal,
        BOT_MODE: "webhook",
        WEBHOOK_URL: "https://bot.tapbot.kz/telegram/webhook",
        WEBHOOK_SECRET: "s3cret_-X",
      }),
    );
  });

  it("names each unreadable, empty, oversized, relative or doubly set secret once, never its content", async () => {
    const { TELEGRAM_BOT_TOKEN: _t, FAL_KEY: _f, REDIS_URL: _r, DATABASE_URL, ...rest } = minimal;
    const problems = problemsOf({
      ...rest,
      DATABASE_URL,
      TELEGRAM_BOT_TOKEN_FILE: join(dir, "missing"),
      FAL_KEY_FILE: await secretFile("empty", "\n"),
      REDIS_URL_FILE: dir,
      DATABASE_URL_FILE: await secretFile("db2", "postgres://tapbot:hunter2@db/tapbot"),
      WEBHOOK_SECRET_FILE: "run/secrets/webhook",
    });
    expect(problems).toEqual([
      `TELEGRAM_BOT_TOKEN_FILE: cannot read ${join(dir, "missing")}: ENOENT`,
      `FAL_KEY_FILE: ${join(dir, "empty")} is empty`,
      `REDIS_URL_FILE: cannot read ${dir}: not a regular file`,
      "DATABASE_URL, DATABASE_URL_FILE: both are set; keep one (the file keeps the secret out of the environment)",
      "WEBHOOK_SECRET_FILE: must be an absolute path, like /run/secrets/webhook_secret; got run/secrets/webhook",
    ]);
    expect(problems.join("\n")).not.toContain("hunter2");
    const big = problemsOf({
      ...minimal,
      FAL_KEY: undefined,
      FAL_KEY_FILE: await secretFile("big", Buffer.alloc(SECRET_FILE_MAX_BYTES + 1, 0x61)),
    });
    expect(big).toEqual([
      `FAL_KEY_FILE: cannot read ${join(dir, "big")}: ${SECRET_FILE_MAX_BYTES + 1} bytes, more than a secret's ${SECRET_FILE_MAX_BYTES}`,
    ]);
    // A file that holds a malformed secret is judged like the variable would be, without the content.
    const malformed = problemsOf({
      ...minimal,
      TELEGRAM_BOT_TOKEN: undefined,
      TELEGRAM_BOT_TOKEN_FILE: await secretFile("bad-token", "not a token at all"),
    });
    expect(malformed).toEqual([
      "TELEGRAM_BOT_TOKEN: must look like 123456:ABC-def (digits, a colon, then letters, digits, _ or -)",
    ]);
    expect(malformed.join("\n")).not.toContain("not a token at all");
  });
});
