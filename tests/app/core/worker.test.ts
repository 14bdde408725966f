import { randomUUID } from "node:crypto";
import { type Job, Worker } from "bullmq";
import { Api } from "grammy";
import type { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deadlineSecondsByKind, type GenerationKind, loadConfig } from "../../../app/config.js";
import { FalClient } from "../../../app/fal/fal-client.js";
import { createHttpAgent } from "../../../app/fal/http-agent.js";
import { translate } from "../../../app/i18n/index.js";
import { createLogger } from "../../../app/observability/logger.js";
import { metrics } from "../../../app/observability/metrics.js";
import { createFalSlots } from "../../../app/queue/fal-slots.js";
import {
  createGenerationQueue,
  type GenerationQueue,
  type JobRetention,
  maxRetryBackoffMs,
} from "../../../app/queue/generation-queue.js";
import { createRedis } from "../../../app/queue/redis.js";
import { cacheKeyFor, ResultCache } from "../../../app/queue/result-cache.js";
import { type Generation, GenerationStore } from "../../../app/storage/generation-store.js";
import { runMigrations } from "../../../app/storage/migrate.js";
import { createPool } from "../../../app/storage/pool.js";
import { UserStore } from "../../../app/storage/user-store.js";
import { createFailureBackstop } from "../../../app/worker/failure-backstop.js";
import { createGenerationProcessor, LockLostError } from "../../../app/worker/generation-processor.js";
import { OutcomeLog, outcomeKey } from "../../../app/worker/outcome-log.js";
import { UserNotifier } from "../../../app/worker/user-messages.js";
import { startWorkerApp, type WorkerApp } from "../../../app/worker/worker-app.js";
import { appEnv } from "../../support/app-env.js";
import { type FakeFal, startFakeFal } from "../../support/fake-fal.js";
import { type FakeTelegram, type FakeUser, startFakeTelegram } from "../../support/fake-telegram.js";
import { makePng } from "../../support/image-bytes.js";
import { type PostgresServer, startPostgres } from "../../support/postgres-server.js";
import { type RedisServer, startRedis } from "../../support/redis-server.js";
import { waitUntil } from "../../support/wait-until.js";

let redisServer: RedisServer;
let postgres: PostgresServer;
let fal: FakeFal;
let telegram: FakeTelegram;
let redis: Redis;
let pool: pg.Pool;
let users: UserStore;
let generations: GenerationStore;
/** The test's own Bot API client, playing the bot that sends the acknowledgement. */
let botApi: Api;

let worker: WorkerApp | undefined;
let queue: GenerationQueue | undefined;
let nextUserId = 900_000_001;

beforeAll(async () => {
  [redisServer, postgres, fal, telegram] = await Promise.all([
    startRedis(),
    startPostgres(),
    startFakeFal(),
    startFakeTelegram(),
  ]);
  redis = createRedis(redisServer.url, "test");
  pool = createPool(postgres.url);
  await runMigrations(postgres.url);
  users = new UserStore(pool);
  generations = new GenerationStore(pool);
  botApi = new Api(telegram.token, { apiRoot: telegram.apiRoot });
});

afterEach(async () => {
  await worker?.close(2_000);
  await queue?.close();
  worker = undefined;
  queue = undefined;
  fal.setProcessingMs(300);
});

afterAll(async () => {
  redis?.disconnect();
  await pool?.end();
  await Promise.all([redisServer?.stop(), postgres?.stop(), fal?.stop(), telegram?.stop()]);
});

/** Starts a worker (in this process) on a fresh queue, configured from the environment as in production. */
async function startWorker(env: Record<string, string> = {}, retention: Partial<JobRetention> = {}) {
  const config = loadConfig({
    ...appEnv({ telegram, fal, redis: redisServer, postgres }),
    HTTP_PORT: "0",
    WORKER_CONCURRENCY: "2",
    POLL_INITIAL_SECONDS: "0.1",
    POLL_MAX_SECONDS: "0.3",
    QUEUE_NAME: `test-${randomUUID()}`,
    ...env,
  });
  queue = createGenerationQueue(redis, config.queueName, {
    ...retention,
    backoff: { type: "exponential", delay: 200 },
  });
  worker = await startWorkerApp(config, createLogger("silent", "test-worker"));
  return config;
}

/** Does what the bot does on a text or photo: registers the user, stores the row, acknowledges, enqueues. */
async function accept(
  opts: { kind?: GenerationKind; prompt?: string; sourceFileId?: string; locale?: "ru" | "en" } = {},
) {
  const person: FakeUser = { id: nextUserId++, first_name: "Ann", language_code: opts.locale ?? "en" };
  telegram.userSends(person, { text: opts.prompt ?? "a red fox in the snow" });
  const user = await users.upsert({
    telegramId: person.id,
    firstName: "Ann",
    languageCode: person.language_code,
  });
  const kind = opts.kind ?? "text-to-image";
  const model =
    kind === "text-to-image"
      ? "fal-ai/flux/schnell"
      : kind === "upscale"
        ? "fal-ai/clarity-upscaler"
        : "fal-ai/flux/dev/image-to-image";
  const prompt = opts.prompt ?? "a red fox in the snow";
  const id = randomUUID();
  const cacheKey = cacheKeyFor({ model, prompt, params: {}, sourceFileUniqueId: opts.sourceFileId });
  const shared = {
    chatId: person.id,
    kind,
    model,
    prompt,
    params: {},
    sourceFileId: opts.sourceFileId,
    cacheKey,
  };
  await generations.create({ id, userId: user.id, ...shared });
  const ack = await botApi.sendMessage(person.id, translate(user.locale, "ack-queued", { position: 1 }));
  await generations.setAckMessage(id, ack.message_id);
  await queue?.enqueue(
    { ...shared, generationId: id, telegramUserId: person.id, locale: user.locale, tier: user.tier },
    { priority: 10 },
  );
  return { id, chatId: person.id, ackMessageId: ack.message_id, cacheKey, locale: user.locale };
}

async function settled(id: string, timeoutMs = 20_000): Promise<Generation> {
  return waitUntil(
    async () => {
      const row = await generations.get(id);
      return row !== null && !["queued", "running"].includes(row.status) ? row : undefined;
    },
    { timeoutMs, intervalMs: 50, describe: () => `generation ${id} did not reach a final status` },
  );
}

function photosIn(chatId: number) {
  return telegram.chat(chatId).filter((m) => m.from === "bot" && m.photoFileId !== undefined);
}

function textOf(chatId: number, messageId: number): string | undefined {
  return telegram.chat(chatId).find((m) => m.message_id === messageId)?.text;
}

describe("worker", () => {
  it("turns a prompt into one photo, records it, caches it and marks the acknowledgement done", async () => {
    /** Submissions measured by the re-submit window histogram (fal's answer → the first store has the id). */
    const submitWindows = async () =>
      (await metrics.requestIdRecordSeconds.get()).values.find((v) => v.metricName?.endsWith("_count"))
        ?.value ?? 0;
    const measuredBefore = await submitWindows();
    await startWorker();
    const request = await accept();
    const row = await settled(request.id);
    expect(row.status).toBe("delivered");
    const photos = photosIn(request.chatId);
    expect(photos).toHaveLength(1);
    expect(photos[0]?.caption).toBe(translate("en", "result-caption"));
    expect(row.resultFileId).toBe(photos[0]?.photoFileId);
    expect(await new ResultCache(redis, 60).get(request.cacheKey)).toBe(row.resultFileId);
    expect(textOf(request.chatId, request.ackMessageId)).toBe(translate("en", "ack-done"));
    const submission = fal.submissions.find((s) => s.requestId === row.falRequestId);
    expect(submission?.input).toEqual({ prompt: "a red fox in the snow" });
    expect(fal.pollsFor(row.falRequestId as string)).toBeGreaterThanOrEqual(1);
    expect(await redis.exists(outcomeKey(request.id))).toBe(0);
    expect(await submitWindows()).toBe(measuredBefore + 1);
  });

  it("retries after fal answers 500 and still delivers exactly one photo", async () => {
    await startWorker();
    fal.failNext({ on: "submit", status: 500 });
    const request = await accept();
    const row = await settled(request.id);
    expect(row.status).toBe("delivered");
    expect(row.attempts).toBe(1);
    expect(photosIn(request.chatId)).toHaveLength(1);
    expect(fal.calls.filter((c) => c.kind === "submit" && c.status === 500)).toHaveLength(1);
  });

  it("fails at once on fal's 422 and tells the user why, in their language", async () => {
    await startWorker();
    fal.failNext({ on: "submit", status: 422 });
    const request = await accept({ locale: "ru" });
    const row = await settled(request.id);
    expect(row).toMatchObject({ status: "failed", error: "content-policy" });
    expect(textOf(request.chatId, request.ackMessageId)).toBe(translate("ru", "job-rejected-content-policy"));
    expect(photosIn(request.chatId)).toHaveLength(0);
    // BullMQ files the job as failed after the processor told and recorded, a moment after the row.
    await waitUntil(
      async () => ((await queue?.queue.getJobState(request.id)) === "failed" ? true : undefined),
      { timeoutMs: 5_000, describe: () => "the job filed as failed" },
    );
    expect((await queue?.queue.getJob(request.id))?.attemptsMade).toBe(1);
  });

  it("tells the user fal's reason for a 422 without the key, links or control characters fal put in it", async () => {
    await startWorker();
    const signed = "https://v3.fal.media/files/kangaroo/x.png?token=eyJhbGciOi.secret-signature";
    fal.failNext({
      on: "submit",
      status: 422,
      body: {
        detail: [{ msg: `image_url ${signed} could not be read\u0000 with key ${fal.key}\n\n(retry)` }],
      },
    });
    const request = await accept();
    const row = await settled(request.id);
    expect(row).toMatchObject({ status: "failed", error: "rejected" });
    expect(textOf(request.chatId, request.ackMessageId)).toBe(
      translate("en", "job-rejected", {
        reason: "image_url <link> could not be read with key <redacted> (retry)",
      }),
    );
  });

  it("cancels at fal and tells the user when the deadline passes", async () => {
    await startWorker({ DEADLINE_SECONDS_TEXT_TO_IMAGE: "1" });
    fal.setProcessingMs(30_000);
    const request = await accept();
    const row = await settled(request.id);
    expect(row.status).toBe("expired");
    expect(fal.cancelled).toContain(row.falRequestId);
    expect(textOf(request.chatId, request.ackMessageId)).toBe(
      translate("en", "job-deadline", { seconds: 1 }),
    );
    expect(photosIn(request.chatId)).toHaveLength(0);
  });

  it("stops a running job when the user cancels: cancelled at fal, recorded, told", async () => {
    await startWorker();
    fal.setProcessingMs(30_000);
    const request = await accept();
    const running = await waitUntil(
      async () => ((await generations.get(request.id))?.falRequestId ? true : undefined),
      { timeoutMs: 10_000, describe: () => "the job was never submitted" },
    );
    expect(running).toBe(true);
    expect(await queue?.requestCancel(request.id)).toBe("signalled");
    const row = await settled(request.id);
    expect(row.status).toBe("cancelled");
    expect(fal.cancelled).toContain(row.falRequestId);
    expect(textOf(request.chatId, request.ackMessageId)).toBe(translate("en", "job-cancelled"));
  });

  it("streams the user's photo to fal storage and gives fal that URL, never Telegram's", async () => {
    await startWorker();
    const png = makePng(64, 48);
    const fileId = telegram.addFile(png, { mime: "image/png" });
    const request = await accept({ kind: "image-to-image", prompt: "make it blue", sourceFileId: fileId });
    const row = await settled(request.id);
    expect(row.status).toBe("delivered");
    const upload = fal.uploads.at(-1);
    expect(upload).toMatchObject({ contentType: "image/png", bytes: png.length });
    const submission = fal.submissions.find((s) => s.requestId === row.falRequestId);
    expect(submission?.input.image_url).toBe(upload?.fileUrl);
    expect(JSON.stringify(fal.submissions)).not.toContain(telegram.token);
    expect(photosIn(request.chatId)).toHaveLength(1);
  });

  it("refuses a source photo above IMAGE_MAX_BYTES without uploading it", async () => {
    await startWorker({ IMAGE_MAX_BYTES: "1000" });
    const uploadsBefore = fal.uploads.length;
    const fileId = telegram.addFile(makePng(400, 400, [1, 2, 3]), { mime: "image/png" });
    const request = await accept({ kind: "upscale", prompt: "", sourceFileId: fileId });
    const row = await settled(request.id);
    expect(row).toMatchObject({ status: "failed", error: "source-too-big" });
    expect(fal.uploads.length).toBe(uploadsBefore);
    expect(textOf(request.chatId, request.ackMessageId)).toBe(
      translate("en", "source-too-big", { maxMb: 0 }),
    );
  });

  it("does not send again when a deliver step reruns after its photo went out", async () => {
    const config = await startWorker();
    // A worker died right after sendPhoto: the marker is set, the row not yet delivered, the job rerun.
    await worker?.close(1_000);
    worker = undefined;
    const request = await accept();
    const job = await queue?.queue.getJob(request.id);
    const requestId = (await fetch(`${fal.queueUrl}/fal-ai/flux/schnell`, {
      method: "POST",
      headers: { authorization: `Key ${fal.key}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "x" }),
    }).then((r) => r.json())) as { request_id: string };
    await job?.updateData({
      ...job.data,
      step: { name: "deliver", requestId: requestId.request_id, submittedAt: Date.now(), polls: 1 },
    });
    await redis.set(
      outcomeKey(request.id),
      JSON.stringify({ status: "delivered", resultFileId: "already-sent-file-id" }),
    );
    worker = await startWorkerApp(config, createLogger("silent", "test-worker"));
    const row = await settled(request.id);
    expect(row).toMatchObject({ status: "delivered", resultFileId: "already-sent-file-id" });
    expect(photosIn(request.chatId)).toHaveLength(0);
    expect(fal.resultFetchesFor(requestId.request_id)).toBe(0);
  });

  it("upscales a photo: fal's single-image result reaches the user", async () => {
    await startWorker();
    const fileId = telegram.addFile(makePng(32, 32), { mime: "image/png" });
    const request = await accept({ kind: "upscale", prompt: "", sourceFileId: fileId });
    const row = await settled(request.id);
    expect(row.status).toBe("delivered");
    const submission = fal.submissions.find((s) => s.requestId === row.falRequestId);
    expect(submission?.modelId).toBe("fal-ai/clarity-upscaler");
    expect(submission?.input).not.toHaveProperty("prompt");
    expect(photosIn(request.chatId)).toHaveLength(1);
  });

  it("loses and repeats nothing across a graceful restart while the job waits on fal", async () => {
    const config = await startWorker();
    fal.setProcessingMs(1_500);
    const submissionsBefore = fal.submissions.length;
    const request = await accept();
    await waitUntil(async () => ((await generations.get(request.id))?.falRequestId ? true : undefined), {
      timeoutMs: 10_000,
      describe: () => "the job was never submitted",
    });
    const started = Date.now();
    await worker?.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await (await queue?.queue.getJob(request.id))?.getState()).toBe("delayed");
    worker = await startWorkerApp(config, createLogger("silent", "test-worker"));
    const row = await settled(request.id);
    expect(row.status).toBe("delivered");
    expect(fal.submissions.slice(submissionsBefore).map((s) => s.requestId)).toEqual([row.falRequestId]);
    expect(photosIn(request.chatId)).toHaveLength(1);
  });

  it("tells the user when a job fails for good without the processor having said so", async () => {
    await startWorker();
    await worker?.close(1_000);
    worker = undefined;
    const request = await accept({ locale: "ru" });
    const job = await queue?.queue.getJob(request.id);
    await job?.remove();
    // A job that ran out of stalled recoveries fails without the processor running: played by a bare worker.
    const data = job?.data;
    await queue?.queue.add("generate", data, { jobId: request.id, attempts: 1 });
    const crashingConnection = createRedis(redisServer.url, "test-crashing");
    const crashing = new Worker(
      queue?.queue.name as string,
      async () => {
        throw new Error("job stalled more than allowable limit");
      },
      { connection: crashingConnection },
    );
    const failed = await new Promise<{ job: Job; error: Error }>((resolve) =>
      crashing.on("failed", (j, error) => j !== undefined && resolve({ job: j, error })),
    );
    await crashing.close();
    crashingConnection.disconnect();
    const failedJob = (await queue?.queue.getJob(request.id)) as Job;
    const backstop = createFailureBackstop({
      generations,
      outcomes: new OutcomeLog(redis, generations, createLogger("silent", "t")),
      notifier: new UserNotifier(botApi, createLogger("silent", "t")),
      logger: createLogger("silent", "t"),
    });
    await backstop(failedJob, failed.error);
    expect(await generations.get(request.id)).toMatchObject({ status: "failed" });
    expect(textOf(request.chatId, request.ackMessageId)).toBe(translate("ru", "job-failed"));
    // Once recorded, a second call changes nothing.
    await backstop(failedJob, failed.error);
    const edits = telegram
      .callsTo("editMessageText")
      .filter((c) => c.params.chat_id === request.chatId && c.params.message_id === request.ackMessageId);
    expect(edits).toHaveLength(1);
  });

  it("keeps Redis flat: the key count after 30 jobs equals the count after 10", async () => {
    // Only this test's keys are counted: earlier tests' keys (rate limits, leases) expire on their own
    // clocks, and one expiring between the two counts made the count shrink under load (13 after 30
    // jobs against 16 after 10, with 2 test files at once).
    await redis.flushdb();
    await startWorker(
      { WORKER_CONCURRENCY: "4", CACHE_TTL_SECONDS: "0" },
      { removeOnComplete: { age: 3600, count: 5 } },
    );
    fal.setProcessingMs(50);
    // This queue's keys and the app's own. The Redis copy of each outcome is dropped right after the row is
    // final (see OutcomeLog.settle).
    const keyCount = async () =>
      waitUntil(
        async () => {
          const keys = [
            ...(await redis.keys(`bull:${queue?.queue.name}:*`)),
            ...(await redis.keys("tapbot:*")),
          ];
          return keys.some((k) => k.startsWith("tapbot:outcome")) ? undefined : keys.length;
        },
        { timeoutMs: 5_000, describe: () => "the outcomes' Redis copies dropped" },
      );
    const run = async (n: number) => {
      const ids = [];
      for (let i = 0; i < n; i += 1) ids.push((await accept({ prompt: `prompt ${randomUUID()}` })).id);
      for (const id of ids) expect((await settled(id)).status).toBe("delivered");
    };
    await run(10);
    const after10 = await keyCount();
    await run(20);
    const after30 = await keyCount();
    expect(after30).toBe(after10);
    expect((await queue?.counts())?.completed).toBeLessThanOrEqual(6);
  }, 60_000);
});

describe("a job whose lock passed to another worker", () => {
  it("does not submit to fal: the other worker owns the job and submits it (no request billed twice)", async () => {
    const config = await startWorker({ WORKER_CONCURRENCY: "1" });
    // This test drives the processor itself: the started worker must not take the job.
    await worker?.close(2_000);
    worker = undefined;
    const prompt = `a lock lost before submit ${randomUUID()}`;
    const accepted = await accept({ prompt });
    // The job is active under another worker's lock (token "theirs"); ours is a token that lapsed.
    const other = new Worker(config.queueName, null, { connection: redis, lockDuration: 30_000 });
    const job = (await other.getNextJob("theirs")) as Job;
    expect(job.id).toBe(accepted.id);
    const agent = createHttpAgent(5_000);
    const telegramApi = new Api(telegram.token, { apiRoot: telegram.apiRoot });
    const logger = createLogger("silent", "test-lock-lost");
    const process = createGenerationProcessor({
      fal: new FalClient({
        queueUrl: config.falQueueUrl,
        restUrl: config.falRestUrl,
        key: config.falKey,
        dispatcher: agent,
      }),
      telegram: telegramApi,
      notifier: new UserNotifier(telegramApi, logger),
      generations,
      outcomes: new OutcomeLog(redis, generations, logger),
      cache: new ResultCache(redis, config.cacheTtlSeconds),
      redis,
      slots: createFalSlots(redis, config, maxRetryBackoffMs),
      wake: async () => undefined,
      lockMs: 30_000,
      uploadSource: async () => {
        throw new Error("no source in this test");
      },
      settings: {
        pollInitialMs: 100,
        pollMaxMs: 300,
        deadlineSeconds: deadlineSecondsByKind(config),
        resultMaxBytes: 1024 * 1024,
        sourceMaxBytes: config.imageMaxBytes,
        slotRetryMs: 100,
      },
      logger,
    });
    try {
      await expect(process(job, "ours-that-lapsed")).rejects.toBeInstanceOf(LockLostError);
      expect(fal.submissions.filter((s) => s.input.prompt === prompt)).toHaveLength(0);
    } finally {
      await other.close(true);
      await agent.close();
    }
  });
});
