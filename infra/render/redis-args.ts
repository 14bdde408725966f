import type { RedisSettings } from "../../capacity/index.js";
import { REDIS_ACL_PATH } from "./redis-acl.js";

/**
 * redis-server arguments from the plan. `noeviction` because the BullMQ queue lives in this Redis (evicting
 * would silently drop jobs); AOF every second for durability; RDB snapshots off (`save ""`) because AOF
 * already persists and every snapshot is another fork that can double memory. No password is here: the
 * users and their password hashes are in the ACL file ({@link redisContainerCommand}).
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
 * The container's command: redis-server with the plan's arguments and the ACL file the deploy uploads
 * ({@link REDIS_ACL_PATH}, rendered by redis-acl.ts), which holds every user and only hashes of their
 * passwords, so no password is in any argument list or environment of this container. Starting with
 * `redis-server` lets the image's entrypoint drop root and run the server as the `redis` user.
 */
export function redisContainerCommand(args: string[]): string[] {
  return ["redis-server", ...args, "--aclfile", REDIS_ACL_PATH];
}

/**
 * Healthcheck of the Redis container: PONG from the unauthenticated `default` user, which may PING and
 * nothing else (see redis-acl.ts), so the check holds no secret.
 */
export const REDIS_HEALTHCHECK = ["CMD-SHELL", "redis-cli ping | grep -q PONG"];
