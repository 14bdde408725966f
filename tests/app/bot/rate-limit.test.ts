import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisRateLimiter } from "../../../app/bot/rate-limit.js";
import { type RedisServer, startRedis } from "../../support/redis-server.js";

let server: RedisServer;
const clients: Redis[] = [];

function connect(): Redis {
  const client = new Redis(server.url, { lazyConnect: false });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.quit()));
  await server.stop();
});

describe("RedisRateLimiter", () => {
  it("accepts 10 requests in a window and refuses the 11th with the seconds until a place frees up", async () => {
    const limiter = new RedisRateLimiter(connect(), {
      max: 10,
      windowSeconds: 60,
      keyPrefix: `t:${randomUUID()}:`,
    });
    for (let i = 0; i < 10; i += 1) expect((await limiter.consume(42)).allowed).toBe(true);
    const refused = await limiter.consume(42);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(59);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
    expect((await limiter.consume(43)).allowed).toBe(true);
  });

  it("is shared by replicas: two limiters on separate connections racing for one user accept exactly max", async () => {
    const options = { max: 10, windowSeconds: 60, keyPrefix: `t:${randomUUID()}:` };
    const a = new RedisRateLimiter(connect(), options);
    const b = new RedisRateLimiter(connect(), options);
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).consume(7)),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
  });

  it("does not count refused requests: after the window the user has a full quota again", async () => {
    const limiter = new RedisRateLimiter(connect(), {
      max: 2,
      windowSeconds: 1,
      keyPrefix: `t:${randomUUID()}:`,
    });
    expect((await limiter.consume(1)).allowed).toBe(true);
    expect((await limiter.consume(1)).allowed).toBe(true);
    for (let i = 0; i < 5; i += 1) {
      const refused = await limiter.consume(1);
      expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1 });
    }
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await limiter.consume(1)).allowed).toBe(true);
    expect((await limiter.consume(1)).allowed).toBe(true);
    expect((await limiter.consume(1)).allowed).toBe(false);
  });

  it("gives a place back on refund, for a request that could not be queued", async () => {
    const limiter = new RedisRateLimiter(connect(), {
      max: 1,
      windowSeconds: 60,
      keyPrefix: `t:${randomUUID()}:`,
    });
    const first = await limiter.consume(5);
    expect(first.allowed).toBe(true);
    expect((await limiter.consume(5)).allowed).toBe(false);
    if (first.allowed) await limiter.refund(5, first.ticket);
    expect((await limiter.consume(5)).allowed).toBe(true);
  });

  it("keeps no key longer than the window", async () => {
    const redis = connect();
    const prefix = `t:${randomUUID()}:`;
    await new RedisRateLimiter(redis, { max: 3, windowSeconds: 60, keyPrefix: prefix }).consume(9);
    const ttl = await redis.pttl(`${prefix}9`);
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});
