import { isIP } from "node:net";
import { z } from "zod";
import { readSecretFiles } from "./secret-files.js";

/** The kinds of generation the app offers; the job payload, the models and the deadlines are keyed by them. */
export const generationKinds = ["text-to-image", "image-to-image", "upscale"] as const;
export type GenerationKind = (typeof generationKinds)[number];

/**
 * Thrown by {@link loadConfig} when the environment is wrong. Its message lists every problem, one line
 * each, naming the variable and what is allowed; it never contains a value, so it is safe to print even
 * when the offending variable is a secret.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
}

/** The log levels LOG_LEVEL takes (pino's). */
export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** A required non-empty string whose value is never echoed. */
const secret = (what: string) => z.string({ error: `required: ${what}` }).min(1, `required: ${what}`);

/** An integer within bounds, read from its decimal text, with a default when unset. */
export const int = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = /^\s*-?\d+\s*$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: "custom",
          message: `must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}`,
        });
        return z.NEVER;
      }
      return value;
    });

/** A required integer of at least `min`: `what` says what it is in the message when it is missing. */
/** A duration in seconds above 0 (fractions allowed), at most an hour, with its default. */
const seconds = (fallback: number) =>
  z
    .string()
    .default(String(fallback))
    .transform(Number)
    .refine((n) => Number.isFinite(n) && n > 0 && n <= 3600, "must be a number of seconds above 0");

const requiredInt = (what: string, min: number) =>
  z.string({ error: `required: ${what}` }).transform((text, ctx) => {
    const value = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min) {
      ctx.addIssue({ code: "custom", message: `must be a whole number from ${min} up (${what})` });
      return z.NEVER;
    }
    return value;
  });

/** An absolute URL with one of `schemes`, trailing slash removed so that paths can be appended. */
export const url = (schemes: readonly string[], fallback?: string) => {
  const base =
    fallback === undefined
      ? z.string({ error: `required: a ${schemes.join(" or ")} URL` })
      : z.string().default(fallback);
  return base.transform((text, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      ctx.addIssue({ code: "custom", message: `must be an absolute URL (${schemes.join(" or ")})` });
      return z.NEVER;
    }
    if (!schemes.includes(parsed.protocol.replace(/:$/, ""))) {
      ctx.addIssue({ code: "custom", message: `must use ${schemes.join(" or ")}` });
      return z.NEVER;
    }
    return text.replace(/\/+$/, "");
  });
};

const modelId = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine(
      (id) => /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/.test(id),
      "must be a fal model id like fal-ai/flux/schnell",
    );

/** HTTP_HOST: the address a process's HTTP server listens on, loopback unless a container needs 0.0.0.0. */
export const httpHost = z
  .string()
  .default("127.0.0.1")
  .refine((h) => isIP(h) !== 0, "must be an IP address to listen on, like 127.0.0.1 or 0.0.0.0");

/** QUEUE_NAME: the BullMQ queue of generation jobs, which the bot fills, the workers run and the board shows. */
export const queueName = z
  .string()
  .default("generations")
  .refine((n) => /^[A-Za-z0-9_-]{1,64}$/.test(n), "must be 1-64 characters of A-Z, a-z, 0-9, _ and -");

/**
 * FAL_SLOT_SECONDS when unset: the capacity model's slot hold for fal's typical 25-s job on the default 2 s → 10 s
 * polls (capacity/slot-hold.ts; tests/capacity/slot-hold.test.ts holds the two together).
 */
export const DEFAULT_FAL_SLOT_SECONDS = 29;

const environmentSchema = z.object({
  TELEGRAM_BOT_TOKEN: secret("the bot token from @BotFather (digits:letters)").refine(
    (t) => /^\d+:[A-Za-z0-9_-]+$/.test(t),
    "must look like 123456:ABC-def (digits, a colon, then letters, digits, _ or -)",
  ),
  TELEGRAM_API_ROOT: url(["https", "http"], "https://api.telegram.org"),
  FAL_KEY: secret("the fal.ai API key"),
  FAL_QUEUE_URL: url(["https", "http"], "https://queue.fal.run"),
  FAL_REST_URL: url(["https", "http"], "https://rest.alpha.fal.ai"),
  FAL_WEBHOOK_URL: url(["https", "http"]).optional(),
  FAL_JWKS_URL: url(["https", "http"], "https://rest.alpha.fal.ai/.well-known/jwks.json"),
  FAL_WEBHOOK_FALLBACK_SECONDS: seconds(60),
  REDIS_URL: url(["redis", "rediss"]),
  DATABASE_URL: url(["postgres", "postgresql"]),
  WORKER_CONCURRENCY: int(4, 1, 1000),
  FAL_CONCURRENCY: requiredInt(
    "the fal account's concurrent request limit; new accounts have 2, fal raises it on request",
    1,
  ),
  BOT_MODE: z.enum(["polling", "webhook"], { error: "must be polling or webhook" }).default("polling"),
  WEBHOOK_URL: url(["https", "http"]).optional(),
  WEBHOOK_SECRET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,256}$/, "must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    .optional(),
  HTTP_PORT: int(8080, 0, 65535),
  HTTP_HOST: httpHost,
  HTTP_TIMEOUT_SECONDS: int(60, 5, 600),
  LOG_LEVEL: z.enum(logLevels, { error: `must be one of ${logLevels.join(", ")}` }).default("info"),
  RATE_LIMIT_MAX: int(10, 1),
  RATE_LIMIT_WINDOW_SECONDS: int(60, 1),
  QUOTA_FREE_PER_DAY: int(50, 0, 1_000_000),
  QUOTA_VIP_PER_DAY: int(500, 0, 1_000_000),
  GENERATION_BUDGET_PER_HOUR: int(2000, 0, 10_000_000),
  PROMPT_MAX_LENGTH: int(1000, 1, 100_000),
  IMAGE_MAX_BYTES: int(10 * 1024 * 1024, 1),
  CACHE_TTL_SECONDS: int(86_400, 0),
  FAL_MODEL_TEXT_TO_IMAGE: modelId("fal-ai/flux/schnell"),
  FAL_MODEL_IMAGE_TO_IMAGE: modelId("fal-ai/flux/dev/image-to-image"),
  FAL_MODEL_UPSCALE: modelId("fal-ai/clarity-upscaler"),
  DEADLINE_SECONDS_TEXT_TO_IMAGE: int(120, 1),
  DEADLINE_SECONDS_IMAGE_TO_IMAGE: int(180, 1),
  DEADLINE_SECONDS_UPSCALE: int(300, 1),
  POLL_INITIAL_SECONDS: seconds(2),
  POLL_MAX_SECONDS: seconds(10),
  FAL_SLOT_SECONDS: seconds(DEFAULT_FAL_SLOT_SECONDS),
  SHUTDOWN_GRACE_SECONDS: int(20, 0, 3600),
  WORKER_LOCK_SECONDS: int(30, 2, 600),
  QUEUE_NAME: queueName,
});

/** Every setting of the bot and the worker, validated; field names are the variables in camelCase. */
export interface AppConfig {
  telegramBotToken: string;
  telegramApiRoot: string;
  falKey: string;
  falQueueUrl: string;
  falRestUrl: string;
  /**
   * Where fal posts a completed request (`fal_webhook` of each submission), on the bot's public domain; the
   * bot serves it at this URL's path. Unset: no webhooks, the workers poll fal's status as before.
   */
  falWebhookUrl: string | undefined;
  /** fal's published webhook keys (JWKS), fetched by the bot to verify each webhook's signature. */
  falJwksUrl: string;
  /**
   * With webhooks, when a job's first status poll happens, counted from its submission: the expected job
   * time plus a margin. A webhook that never came delays the picture by this much at most; it is never lost.
   */
  falWebhookFallbackSeconds: number;
  redisUrl: string;
  databaseUrl: string;
  workerConcurrency: number;
  /**
   * The fal account's concurrent request limit: the workers never have more requests in flight at fal
   * (see app/queue/fal-slots.ts), and the bot's place and estimate count the wait for one of these slots.
   */
  falConcurrency: number;
  botMode: "polling" | "webhook";
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
  httpPort: number;
  /**
   * Address the ops server (/healthz, /metrics, the webhook) listens on: loopback by default, so a process
   * run by hand exposes nothing; containers are given 0.0.0.0 by the deployment.
   */
  httpHost: string;
  /** How long one call to Telegram or fal may take before it counts as a network failure. */
  httpTimeoutSeconds: number;
  logLevel: (typeof logLevels)[number];
  rateLimitMax: number;
  rateLimitWindowSeconds: number;
  /**
   * Paid generations (requests that reach fal; cache hits are free) one user may start per UTC day, by
   * tier: what one account can cost the owner in a day. 0 stops that tier's generations.
   */
  quotaFreePerDay: number;
  quotaVipPerDay: number;
  /**
   * Paid generations all users together may start per UTC hour; beyond it new requests are refused with
   * "paused" until the hour ends, and the owner is told (log line, tapbot_quota_refused_total).
   */
  generationBudgetPerHour: number;
  promptMaxLength: number;
  imageMaxBytes: number;
  cacheTtlSeconds: number;
  falModelTextToImage: string;
  falModelImageToImage: string;
  falModelUpscale: string;
  deadlineSecondsTextToImage: number;
  deadlineSecondsImageToImage: number;
  deadlineSecondsUpscale: number;
  pollInitialSeconds: number;
  pollMaxSeconds: number;
  /**
   * How long a request holds a fal slot on average (FAL_SLOT_SECONDS): fal's time plus the lag until a poll
   * sees it done. The bot's estimates use it; the program sets it to the capacity plan's figure.
   */
  falSlotSeconds: number;
  shutdownGraceSeconds: number;
  /**
   * BullMQ lock of a running step (and the stalled-check interval): a job whose worker died is handed to
   * another worker within one to two times this. Steps last milliseconds, so it can be short.
   */
  workerLockSeconds: number;
  queueName: string;
}

/**
 * The app's secrets, each of which may come from a file (`TELEGRAM_BOT_TOKEN_FILE=/run/secrets/…`), as the
 * deploy gives them; see {@link readSecretFiles}.
 */
export const APP_SECRET_VARIABLES = [
  "TELEGRAM_BOT_TOKEN",
  "FAL_KEY",
  "REDIS_URL",
  "DATABASE_URL",
  "WEBHOOK_SECRET",
] as const;

/**
 * Reads the variables `schema` knows from `env`, treating empty strings as unset (as `.env` files write
 * them), the secrets among them from their `NAME_FILE` when set ({@link readSecretFiles}), and validates
 * them. Problems name the variable (a secret whose file failed once, by its _FILE) and never a value.
 */
export function parseEnvironment<S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv,
  secrets: readonly string[],
): { raw: Record<string, string>; data: z.infer<S> | undefined; problems: string[] } {
  const files = readSecretFiles(env, secrets);
  const source = { ...env, ...files.values };
  const raw: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = source[key];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  const failedFiles = new Set(
    secrets.filter((name) => files.problems.some((p) => p.includes(`${name}_FILE`))),
  );
  const problems = [
    ...files.problems,
    ...(parsed.success
      ? []
      : parsed.error.issues
          .filter((issue) => !failedFiles.has(String(issue.path[0])))
          .map((issue) => `${issue.path.join(".") || "(environment)"}: ${issue.message}`)),
  ];
  return { raw, data: parsed.success ? parsed.data : undefined, problems };
}

/**
 * Validates the environment and returns the app's settings. Collects every problem (including the
 * cross-field ones, such as webhook mode without its URL and secret) and throws one {@link ConfigError}
 * listing them all, so an operator fixes the deployment in one round.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const { raw, data, problems } = parseEnvironment(environmentSchema, env, APP_SECRET_VARIABLES);
  if (raw.BOT_MODE === "webhook") {
    if (raw.WEBHOOK_URL === undefined)
      problems.push("WEBHOOK_URL: required when BOT_MODE=webhook (the public https URL)");
    if (raw.WEBHOOK_SECRET === undefined) {
      problems.push(
        "WEBHOOK_SECRET: required when BOT_MODE=webhook (1-256 characters of A-Z, a-z, 0-9, _ and -)",
      );
    }
  }
  if (
    data?.FAL_WEBHOOK_URL !== undefined &&
    data.WEBHOOK_URL !== undefined &&
    new URL(data.FAL_WEBHOOK_URL).pathname === new URL(data.WEBHOOK_URL).pathname
  ) {
    problems.push("FAL_WEBHOOK_URL: must have a different path from WEBHOOK_URL (Telegram's webhook)");
  }
  if (data !== undefined && data.POLL_MAX_SECONDS < data.POLL_INITIAL_SECONDS) {
    problems.push("POLL_MAX_SECONDS: must be at least POLL_INITIAL_SECONDS");
  }
  if (data === undefined || problems.length > 0) throw new ConfigError(problems);
  const e = data;
  return {
    telegramBotToken: e.TELEGRAM_BOT_TOKEN,
    telegramApiRoot: e.TELEGRAM_API_ROOT,
    falKey: e.FAL_KEY,
    falQueueUrl: e.FAL_QUEUE_URL,
    falRestUrl: e.FAL_REST_URL,
    falWebhookUrl: e.FAL_WEBHOOK_URL,
    falJwksUrl: e.FAL_JWKS_URL,
    falWebhookFallbackSeconds: e.FAL_WEBHOOK_FALLBACK_SECONDS,
    redisUrl: e.REDIS_URL,
    databaseUrl: e.DATABASE_URL,
    workerConcurrency: e.WORKER_CONCURRENCY,
    falConcurrency: e.FAL_CONCURRENCY,
    botMode: e.BOT_MODE,
    webhookUrl: e.WEBHOOK_URL,
    webhookSecret: e.WEBHOOK_SECRET,
    httpPort: e.HTTP_PORT,
    httpHost: e.HTTP_HOST,
    httpTimeoutSeconds: e.HTTP_TIMEOUT_SECONDS,
    logLevel: e.LOG_LEVEL,
    rateLimitMax: e.RATE_LIMIT_MAX,
    rateLimitWindowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
    quotaFreePerDay: e.QUOTA_FREE_PER_DAY,
    quotaVipPerDay: e.QUOTA_VIP_PER_DAY,
    generationBudgetPerHour: e.GENERATION_BUDGET_PER_HOUR,
    promptMaxLength: e.PROMPT_MAX_LENGTH,
    imageMaxBytes: e.IMAGE_MAX_BYTES,
    cacheTtlSeconds: e.CACHE_TTL_SECONDS,
    falModelTextToImage: e.FAL_MODEL_TEXT_TO_IMAGE,
    falModelImageToImage: e.FAL_MODEL_IMAGE_TO_IMAGE,
    falModelUpscale: e.FAL_MODEL_UPSCALE,
    deadlineSecondsTextToImage: e.DEADLINE_SECONDS_TEXT_TO_IMAGE,
    deadlineSecondsImageToImage: e.DEADLINE_SECONDS_IMAGE_TO_IMAGE,
    deadlineSecondsUpscale: e.DEADLINE_SECONDS_UPSCALE,
    pollInitialSeconds: e.POLL_INITIAL_SECONDS,
    pollMaxSeconds: e.POLL_MAX_SECONDS,
    falSlotSeconds: e.FAL_SLOT_SECONDS,
    shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
    workerLockSeconds: e.WORKER_LOCK_SECONDS,
    queueName: e.QUEUE_NAME,
  };
}

/** The fal model configured for each kind of generation (FAL_MODEL_*). */
export function modelsByKind(config: AppConfig): Record<GenerationKind, string> {
  return {
    "text-to-image": config.falModelTextToImage,
    "image-to-image": config.falModelImageToImage,
    upscale: config.falModelUpscale,
  };
}

/** How long fal may take for each kind of generation, from submission, before the request is cancelled. */
export function deadlineSecondsByKind(config: AppConfig): Record<GenerationKind, number> {
  return {
    "text-to-image": config.deadlineSecondsTextToImage,
    "image-to-image": config.deadlineSecondsImageToImage,
    upscale: config.deadlineSecondsUpscale,
  };
}
