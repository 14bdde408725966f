import type { RedisSettings } from "../../capacity/index.js";

/**
 * redis-server arguments from the plan. `noeviction` because the BullMQ queue lives in this Redis (evicting
 * would silently drop jobs); AOF every second for durability; RDB snapshots off (`save ""`) because AOF
 * already persists and every snapshot is another fork that can double memory. The password is not here:
 * the container passes it from its environment, so it appears in no argument list.
 */
export function renderRedisArgs(settings: RedisSettings): string[] {
  if (!Number.isInteger(settings.maxmemoryMB) || settings.maxmemoryMB < 16) {
    throw new Error(`redis maxmemoryMB must be an integer ≥ 16; got ${settings.maxmemoryMB}`);
  }
  if (settings.policy !== "noeviction") {
    throw new Error(
      `redis maxmemory-policy must be noeviction (the queue lives there); got ${settings.policy}`,
    );
  }
  return [
    "--maxmemory",
    `${settings.maxmemoryMB}mb`,
    "--maxmemory-policy",
    settings.policy,
    "--appendonly",
    "yes",
    "--appendfsync",
    settings.appendfsync,
    "--save",
    "",
  ];
}

/**
 * The container's command: a shell that appends `--requirepass` from the REDISCLI_AUTH environment variable,
 * so the password is in no argument list Pulumi shows; redis-cli reads the same variable, so the
 * healthcheck ({@link REDIS_HEALTHCHECK}) authenticates without the password in its command either.
 */
export function redisContainerCommand(args: string[]): string[] {
  return ["sh", "-c", 'exec redis-server "$@" --requirepass "$REDISCLI_AUTH"', "redis-server", ...args];
}

/** Healthcheck of the Redis container: PONG only when the server is up and the password is right. */
export const REDIS_HEALTHCHECK = ["CMD-SHELL", "redis-cli ping | grep -q PONG"];
