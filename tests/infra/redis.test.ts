import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { renderRedisArgs } from "../../infra/render/redis-args.js";
import { type RedisServer, startRedis } from "../support/redis-server.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function configGet(client: Redis, name: string): Promise<string | undefined> {
  const reply = (await client.config("GET", name)) as string[];
  return reply[1];
}

describe("redis-server started with the rendered arguments", () => {
  it.each([1, 300, 1000])("answers CONFIG GET with the plan's settings for %i users", async (users) => {
    const redis = plan(parsePlanInput({ users })).redis;
    const server: RedisServer = await startRedis({ args: renderRedisArgs(redis) });
    cleanups.push(() => server.stop());
    const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    cleanups.push(async () => void client.disconnect());
    await client.connect();
    expect(await configGet(client, "maxmemory")).toBe(String(redis.maxmemoryMB * 1024 * 1024));
    expect(await configGet(client, "maxmemory-policy")).toBe("noeviction");
    expect(await configGet(client, "appendonly")).toBe("yes");
    expect(await configGet(client, "appendfsync")).toBe("everysec");
    expect(await configGet(client, "save")).toBe("");
  });

  it("refuses a plan that would let Redis evict queue keys", () => {
    expect(() =>
      renderRedisArgs({
        maxmemoryMB: 128,
        policy: "allkeys-lru" as "noeviction",
        appendonly: true,
        appendfsync: "everysec",
      }),
    ).toThrow(/noeviction/);
  });
});
