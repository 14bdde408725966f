import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { REDIS_HEALTHCHECK, redisContainerCommand, renderRedisArgs } from "../../infra/render/redis-args.js";
import { startChild } from "../support/child-process.js";
import { freePort } from "../support/free-port.js";
import { type RedisServer, startRedis } from "../support/redis-server.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { waitUntil } from "../support/wait-until.js";
import { runTool } from "./helpers/run-tool.js";

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

describe("the Redis container command and healthcheck", () => {
  it("requires the password from REDISCLI_AUTH and the healthcheck's redis-cli passes with it", async () => {
    const dir = await makeTempDir("redis-cmd");
    cleanups.push(() => removeTempDir(dir));
    const port = await freePort();
    const password = "correct-horse-battery-staple";
    const [shell = "sh", ...rest] = redisContainerCommand([
      ...renderRedisArgs(plan(parsePlanInput({ users: 100 })).redis),
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
    ]);
    const server = startChild(shell, rest, { env: { ...process.env, REDISCLI_AUTH: password } });
    cleanups.push(() => server.stop());
    const ping = (auth: string | undefined) =>
      runTool("redis-cli", ["-p", String(port), "ping"], {
        env: { ...process.env, ...(auth === undefined ? {} : { REDISCLI_AUTH: auth }) },
      });
    const healthy = await waitUntil(
      async () => {
        const reply = await ping(password);
        return reply.stdout.includes("PONG") ? reply : undefined;
      },
      {
        timeoutMs: 5_000,
        intervalMs: 100,
        describe: () => `redis-server did not answer PING with the password; log tail:\n${server.logTail()}`,
        abort: () => (server.hasExited() ? "redis-server exited during startup" : undefined),
      },
    );
    expect(healthy.stdout.trim()).toBe("PONG");
    expect(REDIS_HEALTHCHECK[1]).toContain("redis-cli ping");
    const anonymous = await ping(undefined);
    expect(anonymous.stdout).toMatch(/NOAUTH/);
    // The password is nowhere in the argument list Docker and Pulumi would show.
    expect(redisContainerCommand(["--maxmemory", "128mb"]).join(" ")).not.toContain(password);
  });
});
