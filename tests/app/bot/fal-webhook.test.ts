import { randomUUID } from "node:crypto";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFalWebhookEndpoint } from "../../../app/bot/fal-webhook.js";
import { FalWebhookKeys } from "../../../app/fal/webhook-keys.js";
import { createLogger } from "../../../app/observability/logger.js";
import { FalCompletions } from "../../../app/queue/fal-completions.js";
import { createGenerationQueue, type GenerationQueue } from "../../../app/queue/generation-queue.js";
import { createRedis } from "../../../app/queue/redis.js";
import { type FakeFal, startFakeFal } from "../../support/fake-fal.js";
import { type LoopbackServer, listenLoopback, sendJson } from "../../support/http-kit.js";
import { type RedisServer, startRedis } from "../../support/redis-server.js";
import { waitUntil } from "../../support/wait-until.js";

/**
 * The bot's fal webhook receiver in one process, against a real Redis and BullMQ queue and the fake fal
 * posting signed completions: what it accepts, what it refuses, and that a refused or repeated webhook
 * moves no job.
 */
let server: RedisServer;
let redis: Redis;
let fal: FakeFal;
let receiver: LoopbackServer;
/** The bot's queue (its `wake` is what the bot process gives the receiver) and BullMQ's own, to inspect. */
let generations: GenerationQueue;
let queue: Queue;
let completions: FalCompletions;
/** The receiver's clock for the JWKS cache (a rotation is picked up no sooner than 10 s after a fetch). */
let clock: number;

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis(server.url, "fal-webhook-test");
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

beforeEach(async () => {
  fal = await startFakeFal({ queueMs: 10, processingMs: 100, webhooks: { retryDelaysMs: [] } });
  generations = createGenerationQueue(redis, `test-${randomUUID()}`);
  queue = generations.queue;
  completions = new FalCompletions(redis);
  clock = Date.now();
  const endpoint = createFalWebhookEndpoint({
    path: "/fal/webhook",
    keys: new FalWebhookKeys({ url: fal.jwksUrl, now: () => clock }),
    completions,
    wake: (ids) => generations.wake(ids),
    logger: createLogger("silent", "fal-webhook-test"),
  });
  receiver = await listenLoopback(async (req, res) => {
    if (!(await endpoint.handle(req, res))) sendJson(res, 404, { detail: "not the fal webhook" });
  });
});
afterEach(async () => {
  await Promise.all([fal.stop(), receiver.close(), generations.close()]);
});

/** Submits to the fake fal with the receiver as webhook; returns fal's request id. */
async function submit(prompt: string): Promise<string> {
  const webhook = encodeURIComponent(`${receiver.origin}/fal/webhook`);
  const response = await fetch(`${fal.queueUrl}/fal-ai/flux/schnell?fal_webhook=${webhook}`, {
    method: "POST",
    headers: { authorization: `Key ${fal.key}`, "content-type": "application/json" },
    body: JSON.stringify({ prompt }),
  });
  return ((await response.json()) as { request_id: string }).request_id;
}

/** A job parked in the delayed set for a minute, as a worker parks one while fal works. */
async function parkedJob(): Promise<string> {
  const job = await queue.add("generation", {}, { delay: 60_000, jobId: randomUUID() });
  return job.id as string;
}

const answered = (requestId: string, count = 1) =>
  waitUntil(
    async () => {
      const answers = fal.webhookDeliveries.filter((d) => d.requestId === requestId).map((d) => d.answer);
      return answers.length >= count ? answers : undefined;
    },
    { timeoutMs: 5_000, describe: () => `${count} webhook answers for ${requestId}` },
  );

describe("the fal webhook receiver", () => {
  it("wakes the job a verified completion belongs to, fast; a duplicate or replay changes nothing", async () => {
    const jobId = await parkedJob();
    const requestId = await submit("a verified fox");
    await completions.expect(requestId, jobId);
    expect(await answered(requestId)).toEqual([200]);
    expect(await queue.getJobState(jobId)).toBe("waiting");
    expect(await completions.completed(requestId)).toBe(true);
    // The job has been taken meanwhile (here: it is waiting, not delayed); a replay neither fails nor moves it.
    const started = Date.now();
    expect(await fal.replayWebhook(requestId)).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await queue.getJobState(jobId)).toBe("waiting");
  });

  it("acknowledges a completion no job waits on yet and records it, so the job finds it when it parks", async () => {
    const requestId = await submit("an early fox");
    expect(await answered(requestId)).toEqual([200]);
    expect(await completions.completed(requestId)).toBe(true);
    expect(await completions.complete(requestId)).toBeNull();
  });

  it("refuses mis-signed, too old and unsigned webhooks with 401 naming why, and moves nothing", async () => {
    const jobs = [await parkedJob(), await parkedJob()];
    fal.failNextWebhook({ kind: "mis-sign" });
    const forged = await submit("a forged fox");
    await completions.expect(forged, jobs[0] as string);
    fal.failNextWebhook({ kind: "stale" });
    const old = await submit("an old fox");
    await completions.expect(old, jobs[1] as string);
    expect(await answered(forged)).toEqual([401]);
    expect(await answered(old)).toEqual([401]);
    for (const jobId of jobs) expect(await queue.getJobState(jobId)).toBe("delayed");
    expect(await completions.completed(forged)).toBe(false);
    expect(await completions.completed(old)).toBe(false);

    const unsigned = await fetch(`${receiver.origin}/fal/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-fal-webhook-request-id": forged },
      body: JSON.stringify({ request_id: forged, status: "OK", payload: {} }),
    });
    expect(unsigned.status).toBe(401);
    expect(await unsigned.text()).toMatch(
      /missing x-fal-webhook-user-id, x-fal-webhook-timestamp, x-fal-webhook-signature/,
    );
    const tooOld = fal.webhookDeliveries.find((d) => d.requestId === old);
    expect(tooOld?.answer).toBe(401);
    expect(await completions.completed(forged)).toBe(false);
  });

  it("picks up a rotated key by fetching fal's keys again, but not more than once per 10 s for forgeries", async () => {
    const jwksFetches = () => fal.calls.filter((c) => c.kind === "jwks").length;
    const first = await submit("before the rotation");
    expect(await answered(first)).toEqual([200]);
    expect(jwksFetches()).toBe(1);

    for (let i = 0; i < 3; i += 1) {
      fal.failNextWebhook({ kind: "mis-sign" });
      expect(await answered(await submit(`forgery ${i}`))).toEqual([401]);
    }
    expect(jwksFetches()).toBe(1);

    fal.rotateWebhookKey();
    const rotatedEarly = await submit("rotated, too soon");
    expect(await answered(rotatedEarly)).toEqual([401]);
    clock += 10_000;
    const rotated = await submit("rotated");
    expect(await answered(rotated)).toEqual([200]);
    expect(jwksFetches()).toBe(2);
  });

  it("answers 503 when fal's keys cannot be read (fal retries), and ignores other paths", async () => {
    const broken = createFalWebhookEndpoint({
      path: "/fal/webhook",
      keys: new FalWebhookKeys({ url: "http://127.0.0.1:1/.well-known/jwks.json" }),
      completions,
      wake: async () => undefined,
      logger: createLogger("silent", "fal-webhook-test"),
    });
    const other = await listenLoopback(async (req, res) => {
      if (!(await broken.handle(req, res))) sendJson(res, 404, { detail: "not the fal webhook" });
    });
    try {
      const webhook = encodeURIComponent(`${other.origin}/fal/webhook`);
      const response = await fetch(`${fal.queueUrl}/fal-ai/flux/schnell?fal_webhook=${webhook}`, {
        method: "POST",
        headers: { authorization: `Key ${fal.key}`, "content-type": "application/json" },
        body: JSON.stringify({ prompt: "no keys" }),
      });
      const { request_id: requestId } = (await response.json()) as { request_id: string };
      expect(await answered(requestId)).toEqual([503]);
      expect(await completions.completed(requestId)).toBe(false);
      expect((await fetch(`${other.origin}/telegram/webhook`, { method: "POST" })).status).toBe(404);
    } finally {
      await other.close();
    }
  });
});
