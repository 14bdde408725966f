import type { Redis } from "ioredis";
import type { UpdateLogPort } from "./ports.js";

/**
 * Update ids seen in the last day, in Redis. Telegram re-delivers an update when its offset was not
 * confirmed (a bot killed before its next getUpdates) or when a webhook call timed out; recording ids
 * with SET NX makes every replica handle each update at most once, so a restart never repeats a request.
 */
export class RedisUpdateLog implements UpdateLogPort {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds = 86_400,
  ) {}

  async firstSeen(botId: number, updateId: number): Promise<boolean> {
    const set = await this.redis.set(`tapbot:update:${botId}:${updateId}`, "1", "EX", this.ttlSeconds, "NX");
    return set === "OK";
  }
}
