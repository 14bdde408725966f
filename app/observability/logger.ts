import { pino } from "pino";

export type Logger = pino.Logger;

/** Telegram bot tokens wherever they appear: in API and file URLs (`/bot<token>/`) or bare. */
const telegramToken = /\b(bot)?\d{5,}:[A-Za-z0-9_-]{20,}/g;
/** fal's `Authorization: Key <key>` header value. */
const falKeyHeader = /\bKey\s+[^\s"',]+/g;
/** Credentials embedded in URLs such as `postgres://user:password@host` or `redis://:password@host`. */
const urlCredentials = /(\b[a-z][a-z0-9+.-]*:\/\/)([^\s/:@]*):([^\s/@]+)@/gi;

/**
 * Removes secrets from free text (error messages, stacks, URLs) before it is logged or shown: Telegram
 * bot tokens, fal `Key` authorizations and passwords in URLs. Used by the logger on every string it
 * writes, and by anyone who puts foreign text into an error or a reply.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(telegramToken, (_m, prefix: string | undefined) => `${prefix ?? ""}<redacted>`)
    .replace(falKeyHeader, "Key <redacted>")
    .replace(urlCredentials, (_m, scheme: string, user: string) => `${scheme}${user}:<redacted>@`);
}

/** Field names whose values are secrets wherever they sit in a logged object. */
const secretKeys = new Set([
  "token",
  "telegrambottoken",
  "falkey",
  "fal_key",
  "password",
  "secret",
  "webhooksecret",
  "authorization",
  "x-telegram-bot-api-secret-token",
  "cookie",
]);

/** Walks a log record and redacts secret fields by name and secrets inside every string (bounded depth). */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value === "string") return redactSecrets(value);
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
  if (value instanceof Error) return scrub(pino.stdSerializers.err(value), depth);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = secretKeys.has(k.toLowerCase()) && v !== undefined ? "<redacted>" : scrub(v, depth + 1);
  }
  return out;
}

/**
 * The process's structured JSON logger. Every record passes through {@link redactSecrets} and secret
 * field names are blanked, so a token inside an error message, a URL or a request header never reaches
 * the log, whichever code logged it.
 */
export function createLogger(level: string, name: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Errors are serialized inside scrub (so their message and stack are redacted), not by pino.
    serializers: { err: (error: unknown) => error },
    formatters: { log: (record) => scrub(record, 0) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        // A bare error (`logger.error(err)`) would become the message unredacted: give it a redacted one.
        const [first, second] = args;
        const spelled =
          first instanceof Error && typeof second !== "string" ? [{ err: first }, first.message] : args;
        method.apply(
          this,
          spelled.map((arg) => (typeof arg === "string" ? redactSecrets(arg) : arg)) as Parameters<
            typeof method
          >,
        );
      },
    },
  };
  // Standard output unless a destination is given (tests capture the lines).
  return destination === undefined ? pino(options) : pino(options, destination);
}
