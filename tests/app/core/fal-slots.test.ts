import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FalSlots, type FalSlotsOptions, slotScore } from "../../../app/queue/fal-slots.js";
import { createRedis } from "../../../app/queue/redis.js";
import { sleep } from "../../support/http-kit.js";
import { type RedisServer, startRedis } from "../../support/redis-server.js";

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis(server.url, "test");
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

/** Slots on their own keys; two FalSlots with the same name stand for two worker processes. */
function slotsFor(options: Partial<FalSlotsOptions> = {}): FalSlots {
  return new FalSlots(redis, {
    name: `test-${randomUUID()}`,
    limit: 2,
    leaseMs: 60_000,
    staleMs: 60_000,
    ...options,
  });
}

const t0 = Date.UTC(2026, 10, 30, 9, 0, 0);
const free = (secondsAfter: number) => slotScore(10, t0 + secondsAfter * 1000);
const vip = (secondsAfter: number) => slotScore(1, t0 + secondsAfter * 1000);

describe("FalSlots: the fal account's limit across processes", () => {
  it("grants at most the limit; the rest wait in line and the first of them is named when a slot frees", async () => {
    const one = slotsFor();
    const other = new FalSlots(redis, one.options);
    expect(await one.acquire("a", free(1))).toEqual({ held: true, granted: true });
    expect(await other.acquire("b", free(2))).toEqual({ held: true, granted: true });
    expect(await one.acquire("c", free(3))).toEqual({ held: false, place: 1 });
    expect(await other.acquire("d", free(4))).toEqual({ held: false, place: 2 });
    expect(await one.snapshot()).toEqual({ inUse: 2, waiting: 2 });

    expect(await other.release("a")).toEqual(["c"]);
    // d asks first, but c is ahead of it: the free slot stays c's.
    expect(await other.acquire("d", free(4))).toEqual({ held: false, place: 2 });
    expect(await one.acquire("c", free(3))).toEqual({ held: true, granted: true });
    expect(await one.snapshot()).toEqual({ inUse: 2, waiting: 1 });
  });

  it("a job asking again (a retry, a rerun after its worker died) keeps its own slot, not a second one", async () => {
    const slots = slotsFor({ limit: 1 });
    expect(await slots.acquire("a", free(1))).toEqual({ held: true, granted: true });
    expect(await slots.acquire("a", free(1))).toEqual({ held: true, granted: false });
    await slots.renew("a");
    expect(await slots.snapshot()).toEqual({ inUse: 1, waiting: 0 });
    expect(await slots.release("a")).toEqual([]);
    expect(await slots.release("a")).toEqual([]);
    expect(await slots.snapshot()).toEqual({ inUse: 0, waiting: 0 });
  });

  it("a vip asking later goes ahead of free jobs waiting longer; free jobs stay first come, first served", async () => {
    const slots = slotsFor({ limit: 1 });
    await slots.acquire("running", free(0));
    expect(await slots.acquire("free-1", free(1))).toEqual({ held: false, place: 1 });
    expect(await slots.acquire("free-2", free(2))).toEqual({ held: false, place: 2 });
    expect(await slots.acquire("vip", vip(3))).toEqual({ held: false, place: 1 });
    expect(await slots.placeInLine("free-1")).toBe(2);
    expect(await slots.placeInLine("running")).toBeNull();
    // A free job the bot queued after free-2, not yet seen by a worker: three are ahead of it.
    expect(await slots.waitingAhead(free(5))).toBe(3);

    expect(await slots.release("running")).toEqual(["vip"]);
    expect(await slots.acquire("free-1", free(1))).toEqual({ held: false, place: 2 });
    expect(await slots.acquire("vip", vip(3))).toEqual({ held: true, granted: true });
    expect(await slots.release("vip")).toEqual(["free-1"]);
    expect(await slots.acquire("free-2", free(2))).toEqual({ held: false, place: 2 });
    expect(await slots.acquire("free-1", free(1))).toEqual({ held: true, granted: true });
  });

  it("a lease nobody renews (its job vanished) expires and its slot comes back", async () => {
    const slots = slotsFor({ limit: 1, leaseMs: 300 });
    await slots.acquire("vanished", free(1));
    expect(await slots.acquire("next", free(2))).toEqual({ held: false, place: 1 });
    await sleep(400);
    expect(await slots.acquire("next", free(2))).toEqual({ held: true, granted: true });
    expect(await slots.snapshot()).toEqual({ inUse: 1, waiting: 0 });
  });

  it("a renewed lease lives on; an expired one is counted again when its job renews it", async () => {
    const slots = slotsFor({ limit: 1, leaseMs: 300 });
    await slots.acquire("alive", free(1));
    for (let i = 0; i < 4; i += 1) {
      await sleep(150);
      await slots.renew("alive");
    }
    expect(await slots.acquire("next", free(2))).toEqual({ held: false, place: 1 });
    await sleep(400);
    // The lease lapsed (say Redis was unreachable), but the request is still at fal: counted again.
    await slots.renew("alive");
    expect(await slots.acquire("next", free(2))).toEqual({ held: false, place: 1 });
  });

  it("a waiting entry whose job stopped asking stops holding up the line", async () => {
    const slots = slotsFor({ limit: 1, staleMs: 600 });
    await slots.acquire("running", free(0));
    await slots.acquire("gone", free(1));
    await slots.acquire("patient", free(2));
    expect(await slots.release("running")).toEqual(["gone"]);
    await sleep(200);
    expect(await slots.acquire("patient", free(2))).toEqual({ held: false, place: 2 });
    await sleep(500);
    expect(await slots.acquire("patient", free(2))).toEqual({ held: true, granted: true });
    expect(await slots.snapshot()).toEqual({ inUse: 1, waiting: 0 });
  });
});
