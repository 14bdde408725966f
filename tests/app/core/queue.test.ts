import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../app/observability/logger.js";
import { registry } from "../../../app/observability/metrics.js";
import { FalSlots, slotScore } from "../../../app/queue/fal-slots.js";
import type { GenerationJob } from "../../../app/queue/generation-job.js";
import {
  cancelFlagKey,
  createGenerationQueue,
  eventsStreamMaxLen,
  type GenerationQueue,
} from "../../../app/queue/generation-queue.js";
import { assertNoEviction, createRedis, redisReady, warnIfNotPersistent } from "../../../app/queue/redis.js";
import { cacheKeyFor, ResultCache } from "../../../app/queue/result-cache.js";
import { needs } from "../../../app/startup-failure.js";
import { freePort } from "../../support/free-port.js";
import { type RedisServer, startRedis } from "../../support/redis-server.js";

let server: RedisServer;
let redis: Redis;
let queue: GenerationQueue;

function job(overrides: Partial<GenerationJob> = {}): GenerationJob {
  return {
    generationId: randomUUID(),
    telegramUserId: 101,
    chatId: 101,
    kind: "text-to-image",
    model: "fal-ai/flux/schnell",
    prompt: "a lighthouse at dusk",
    params: {},
    locale: "ru",
    cacheKey: "k",
    tier: "free",
    ...overrides,
  };
}

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis(server.url, "test");
});

afterEach(async () => {
  await queue?.queue.obliterate({ force: true });
  await queue?.close();
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe("GenerationQueue", () => {
  it("puts vip requests ahead of free ones and reports each user's place", async () => {
    queue = createGenerationQueue(redis, `test-${randomUUID()}`);
    const free1 = job();
    const free2 = job();
    const vip = job({ tier: "vip" });
    expect(await queue.enqueue(free1, { priority: 10 })).toEqual({ position: 1 });
    expect(await queue.enqueue(free2, { priority: 10 })).toEqual({ position: 2 });
    expect(await queue.enqueue(vip, { priority: 1 })).toEqual({ position: 1 });
    expect(await queue.positionOf(free1.generationId)).toBe(2);
    expect(await queue.positionOf(free2.generationId)).toBe(3);
    expect(await queue.positionOf(randomUUID())).toBeNull();
    expect((await queue.counts()).prioritized).toBe(3);
  });

  it("counts the line for a fal slot in each user's place, wherever the job is between two asks", async () => {
    const name = `test-${randomUUID()}`;
    const slots = new FalSlots(redis, { name, limit: 1, leaseMs: 60_000, staleMs: 60_000 });
    queue = createGenerationQueue(redis, name, {}, slots);
    await slots.acquire("at-fal", slotScore(10, 1));
    await slots.acquire("waiting-free", slotScore(10, 2));
    await slots.acquire("waiting-vip", slotScore(1, 3));
    expect(await queue.positionOf("waiting-free")).toBe(2);

    // Just queued: behind both waiting jobs.
    const fresh = job();
    expect(await queue.enqueue(fresh, { priority: 10 })).toEqual({ position: 3 });
    // A vip queued now goes behind the waiting vip only.
    expect(await queue.enqueue(job({ tier: "vip" }), { priority: 1 })).toEqual({ position: 2 });
    // Between two asks (parked in the delayed set, its line entry not written yet): its score gives its place.
    const parked = job();
    await queue.queue.add("generate", parked, { jobId: parked.generationId, delay: 60_000 });
    expect(await queue.positionOf(parked.generationId)).toBe(3);
    // At fal between two polls: no place.
    const polling = job();
    await queue.queue.add(
      "generate",
      { ...polling, step: { name: "poll" } },
      { jobId: polling.generationId, delay: 60_000 },
    );
    expect(await queue.positionOf(polling.generationId)).toBeNull();
    expect(await queue.slotUse()).toEqual({ inUse: 1, waiting: 2, limit: 1 });
  });

  it("adds a job once however often the same request is enqueued", async () => {
    queue = createGenerationQueue(redis, `test-${randomUUID()}`);
    const once = job();
    await queue.enqueue(once, { priority: 10 });
    await queue.enqueue(once, { priority: 10 });
    expect((await queue.counts()).prioritized).toBe(1);
  });

  it("refuses payloads that could carry image bytes, naming the field", async () => {
    queue = createGenerationQueue(redis, `test-${randomUUID()}`);
    const bloated = job({ params: { image: "x".repeat(10_000) } });
    await expect(queue.enqueue(bloated, { priority: 10 })).rejects.toThrow(
      /params must serialize to at most 4096 bytes/,
    );
    expect((await queue.counts()).prioritized).toBe(0);
  });

  it("removes a waiting job, signals a started one, and knows nothing of unknown ids", async () => {
    queue = createGenerationQueue(redis, `test-${randomUUID()}`);
    const waiting = job();
    await queue.enqueue(waiting, { priority: 10 });
    expect(await queue.requestCancel(waiting.generationId)).toBe("removed");
    expect(await queue.positionOf(waiting.generationId)).toBeNull();
    expect(await redis.exists(cancelFlagKey(waiting.generationId))).toBe(0);

    // A job between two poll steps: delayed, with step state saved by the worker.
    const polling = job();
    await queue.queue.add(
      "generate",
      { ...polling, step: { name: "poll" } },
      { jobId: polling.generationId, delay: 60_000 },
    );
    expect(await queue.requestCancel(polling.generationId)).toBe("signalled");
    expect(await redis.get(cancelFlagKey(polling.generationId))).toBe("1");
    // Woken so the worker handles the cancel now, not after the poll delay.
    expect(await (await queue.queue.getJob(polling.generationId))?.getState()).not.toBe("delayed");

    expect(await queue.requestCancel(randomUUID())).toBe("not-found");
  });
});

describe("the events stream", () => {
  it("stays near its cap however many jobs pass through", async () => {
    queue = createGenerationQueue(redis, `test-${randomUUID()}`);
    for (let i = 0; i < 1_500; i += 1) await queue.enqueue(job(), { priority: 10 });
    const length = await redis.xlen(queue.queue.keys.events as string);
    expect(length).toBeGreaterThan(900);
    expect(length).toBeLessThanOrEqual(eventsStreamMaxLen + 100);
  });
});

describe("assertNoEviction", () => {
  it("accepts noeviction and refuses an evicting Redis with the reason and the fix", async () => {
    await expect(assertNoEviction(redis)).resolves.toBeUndefined();
    const evicting = await startRedis({ args: ["--maxmemory-policy", "allkeys-lru"] });
    const client = createRedis(evicting.url, "test-evicting");
    try {
      await expect(assertNoEviction(client)).rejects.toThrow(
        /maxmemory-policy is "allkeys-lru", but the job queue needs "noeviction".*--maxmemory-policy noeviction/s,
      );
    } finally {
      client.disconnect();
      await evicting.stop();
    }
  });
});

describe("warnIfNotPersistent", () => {
  /** The warn lines a start-up check logged, and the persistence gauge it set, against a fresh Redis. */
  async function checkAgainst(args: { appendOnly?: boolean; args?: string[] }) {
    const server = await startRedis(args);
    const client = createRedis(server.url, "test-persistence");
    const lines: string[] = [];
    const logger = createLogger("info", "test", { write: (line: string) => void lines.push(line) });
    try {
      await warnIfNotPersistent(client, logger);
      const gauge = await registry.getSingleMetric("tapbot_queue_redis_persistent")?.get();
      return {
        warnings: lines
          .map((line) => JSON.parse(line) as { level: number; msg: string })
          .filter((l) => l.level === 40),
        gauge: gauge?.values[0]?.value,
      };
    } finally {
      client.disconnect();
      await server.stop();
    }
  }

  it("warns, naming the fix, and sets the gauge to 0 when Redis keeps nothing on disk", async () => {
    const { warnings, gauge } = await checkAgainst({});
    expect(warnings.map((w) => w.msg)).toEqual([
      expect.stringMatching(/keeps nothing on disk.*loses every queued job.*--appendonly yes/),
    ]);
    expect(gauge).toBe(0);
  });

  it("is quiet with AOF, and with RDB save rules alone", async () => {
    expect(await checkAgainst({ appendOnly: true })).toEqual({ warnings: [], gauge: 1 });
    expect(await checkAgainst({ args: ["--save", "60 1"] })).toEqual({ warnings: [], gauge: 1 });
  });
});

describe("redisReady", () => {
  it("resolves on a reachable Redis and rejects at once, naming REDIS_URL and the address, on an unreachable one", async () => {
    await expect(redisReady(redis)).resolves.toBeUndefined();
    const port = await freePort();
    const client = createRedis(`redis://127.0.0.1:${port}`, "test-unreachable");
    try {
      await expect(needs("Redis", "REDIS_URL", () => redisReady(client))).rejects.toThrow(
        `cannot use Redis (REDIS_URL): connection refused at 127.0.0.1:${port}`,
      );
    } finally {
      client.disconnect();
    }
  });
});

describe("ResultCache", () => {
  it("keys equal requests equally whatever the parameter order, and expires entries", async () => {
    const a = cacheKeyFor({ model: "m/a", prompt: " cat ", params: { w: 1, h: 2 } });
    const b = cacheKeyFor({ model: "m/a", prompt: "cat", params: { h: 2, w: 1 } });
    const other = cacheKeyFor({
      model: "m/a",
      prompt: "cat",
      params: { h: 2, w: 1 },
      sourceFileUniqueId: "u1",
    });
    expect(a).toBe(b);
    expect(other).not.toBe(a);
    const cache = new ResultCache(redis, 60);
    await cache.set(a, "file-id-1");
    expect(await cache.get(b)).toBe("file-id-1");
    const ttl = await redis.ttl(ResultCache.keyOf(a));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await cache.get(other)).toBeNull();
  });
});
