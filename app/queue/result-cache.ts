import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** What makes two requests the same request. */
export interface CacheKeyInput {
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  /** Telegram's `file_unique_id` of the source image (stable across chats and re-sends), if any. */
  sourceFileUniqueId?: string | undefined;
}

/** JSON with object keys sorted at every level, so `{a,b}` and `{b,a}` hash the same. */
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

/** sha256 of the model, the prompt as typed (trimmed), the normalized parameters and the source image. */
export function cacheKeyFor(input: CacheKeyInput): string {
  const material = canonicalJson({
    model: input.model,
    prompt: input.prompt.trim(),
    params: input.params,
    source: input.sourceFileUniqueId ?? null,
  });
  return createHash("sha256").update(material).digest("hex");
}

/**
 * Delivered results by request: `tapbot:cache:<key>` → the Telegram file_id of the sent photo, expiring
 * after the TTL. Sending a file_id again costs Telegram nothing and fal nothing.
 */
export class ResultCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
  ) {}

  static keyOf(cacheKey: string): string {
    return `tapbot:cache:${cacheKey}`;
  }

  async get(cacheKey: string): Promise<string | null> {
    return this.redis.get(ResultCache.keyOf(cacheKey));
  }

  /** A TTL of 0 disables the cache. */
  async set(cacheKey: string, fileId: string): Promise<void> {
    if (this.ttlSeconds <= 0) return;
    await this.redis.set(ResultCache.keyOf(cacheKey), fileId, "EX", this.ttlSeconds);
  }
}
