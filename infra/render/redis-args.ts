/** The Redis part of the capacity plan (Plan.redis). */
export interface RedisSettings {
  maxmemoryMB: number;
  policy: "noeviction";
  appendonly: true;
  appendfsync: "everysec";
}

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
