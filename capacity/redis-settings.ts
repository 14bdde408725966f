/** The Redis settings the plan deploys for the queue's Redis. */
export interface RedisSettings {
  maxmemoryMB: number;
  policy: "noeviction";
  appendonly: true;
  appendfsync: "everysec";
}

/**
 * maxmemory at half the container limit: a fork for an AOF rewrite or an RDB save can need up to twice the data
 * set, and the kernel kills a container over its limit before Redis ever evicts. `noeviction`, because BullMQ's
 * job keys must never be dropped silently; AOF every second, so a restart loses at most a second of jobs.
 */
export function redisSettings(limitMB: number): RedisSettings {
  return {
    maxmemoryMB: Math.floor(limitMB / 2),
    policy: "noeviction",
    appendonly: true,
    appendfsync: "everysec",
  };
}
