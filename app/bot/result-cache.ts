import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { ResultCachePort } from "./ports.js";

/** What makes two requests produce the same image. */
export interface CacheKeyInput {
  model: string;
  /** The cleaned prompt (see `checkPrompt`). */
  prompt: string;
  params: Record<string, unknown>;
  /** The source image's Telegram file_unique_id (the same for every re-send of that file), if any. */
  sourceFileUniqueId?: string | undefined;
}

/** JSON with object keys sorted at every depth, so `{a,b}` and `{b,a}` give the same text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of model, prompt, normalized params and source: the result cache's key and `cache_key`. */
export function cacheKeyFor(input: CacheKeyInput): string {
  return createHash("sha256")
    .update(canonicalJson([input.model, input.prompt, input.params, input.sourceFileUniqueId ?? null]))
    .digest("hex");
}

/** The Redis key under which the worker stores a delivered image's file_id (TTL CACHE_TTL_SECONDS). */
export function resultCacheRedisKey(cacheKey: string): string {
  return `tapbot:cache:${cacheKey}`;
}

/** Reads the result cache; the worker writes it after each delivery. */
export class RedisResultCache implements ResultCachePort {
  constructor(private readonly redis: Redis) {}

  async get(cacheKey: string): Promise<string | null> {
    return this.redis.get(resultCacheRedisKey(cacheKey));
  }
}
