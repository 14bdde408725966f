import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { UpdateLease, UpdateLogPort } from "./ports.js";
import { isStoreOutage } from "./store-outage.js";

/** Options of {@link RedisUpdateLog}. */
export interface UpdateLogOptions {
  /**
   * How long a lease lasts without renewal: after a crash, a redelivered update waits at most this long
   * before another process handles it. Renewed every third of it while the handler runs.
   * @defaultValue 6000
   */
  leaseMs?: number;
  /** How long a handled update is remembered (Telegram redelivers within hours, not days). @defaultValue 86400 */
  doneSeconds?: number;
  /** How often a claim looks again while another process holds the lease. @defaultValue 200 */
  waitIntervalMs?: number;
}

/** Another process kept renewing its lease on the update for longer than a claim waits. */
export class UpdateBusyError extends Error {
  override readonly name = "UpdateBusyError";
}

/**
 * Whether an update whose handling failed outside the handlers' error boundary (the update log, the
 * bot's own bookkeeping, a store outage rethrown by the boundary) should be delivered again: yes for a
 * store outage or another replica still holding it; no for anything else (a bug, an update shaped like
 * nothing the bot expects), which would fail the same way at every redelivery and hold up the updates
 * behind it forever. The webhook answers 500 or 200 and polling refetches or confirms accordingly.
 */
export function worthRedelivering(error: unknown): boolean {
  return isStoreOutage(error) || error instanceof UpdateBusyError;
}

/** Takes the lease when the update is neither done nor leased: 1 taken, 0 done, -1 leased elsewhere. */
const claimScript = `
local current = redis.call("GET", KEYS[1])
if current == "done" then return 0 end
if current then return -1 end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1`;

/** Acts only while the lease is still this owner's: renew (ARGV[2] = ms) or finish (ARGV[2] = "done"). */
const ownedScript = `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == "done" then
  redis.call("SET", KEYS[1], "done", "EX", ARGV[3])
elseif ARGV[2] == "release" then
  redis.call("DEL", KEYS[1])
else
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 1`;

/**
 * Which updates were handled, in Redis, shared by every replica. An update is **marked handled only
 * once its handling committed**: a claim takes a short lease (renewed while the handler runs), and only
 * the end of the handler turns it into "done". So:
 * - a redelivered update that was handled is skipped (a webhook retry, an offset Telegram did not get);
 * - a redelivered update whose handler died with its process is handled again once the lease lapses
 *   (at most `leaseMs` later), never silently dropped;
 * - two replicas never handle one update at once: the second waits for the first's outcome.
 * Handlers must be idempotent for the rerun after a crash; the request path is (generation id = message).
 */
export class RedisUpdateLog implements UpdateLogPort {
  private readonly leaseMs: number;
  private readonly doneSeconds: number;
  private readonly waitIntervalMs: number;

  constructor(
    private readonly redis: Redis,
    options: UpdateLogOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 6_000;
    this.doneSeconds = options.doneSeconds ?? 86_400;
    this.waitIntervalMs = options.waitIntervalMs ?? 200;
  }

  private key(botId: number, updateId: number): string {
    return `tapbot:update:${botId}:${updateId}`;
  }

  async claim(botId: number, updateId: number): Promise<UpdateLease | null> {
    const key = this.key(botId, updateId);
    const owner = `lease:${randomUUID()}`;
    // A live holder renews its lease; a dead one's lapses within leaseMs. Wait a little longer than that.
    const deadline = Date.now() + 2 * this.leaseMs;
    for (;;) {
      const taken = (await this.redis.eval(claimScript, 1, key, owner, this.leaseMs)) as number;
      if (taken === 0) return null;
      if (taken === 1) break;
      if (Date.now() >= deadline) {
        throw new UpdateBusyError(`update ${updateId} is still being handled by another process`);
      }
      await new Promise((resolve) => setTimeout(resolve, this.waitIntervalMs));
    }
    const owned = (action: string): Promise<unknown> =>
      this.redis.eval(ownedScript, 1, key, owner, action, this.doneSeconds);
    const renewal = setInterval(() => {
      void owned(String(this.leaseMs)).catch(() => undefined);
    }, this.leaseMs / 3);
    renewal.unref();
    return {
      async done() {
        clearInterval(renewal);
        await owned("done");
      },
      async release() {
        clearInterval(renewal);
        await owned("release").catch(() => undefined);
      },
    };
  }
}
