/**
 * Measures what the step-job pattern buys: N jobs, each taking PROCESSING_MS at (the fake) fal, run by
 * workers with CONCURRENCY slots, once as the real worker process (`app/worker/main.ts`: waiting on fal
 * in BullMQ's delayed set) and once with a naive processor that polls inside its slot. Prints, per mode:
 * wall time until the last photo, the most requests in flight at fal at once, status requests per job,
 * and (step mode) the worker process's peak RSS.
 *
 *   npx tsx tests/bench/worker-slots.ts            # 20 jobs, concurrency 2, 5 s at fal
 *   JOBS=40 CONCURRENCY=4 PROCESSING_MS=8000 npx tsx tests/bench/worker-slots.ts
 *   WORKER_DIST=/path/to/built/app npx tsx tests/bench/worker-slots.ts   # the compiled worker, for RSS
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Worker } from "bullmq";
import { Api, InputFile } from "grammy";
import { FalClient } from "../../app/fal/fal-client.js";
import { createHttpAgent } from "../../app/fal/http-agent.js";
import { createGenerationQueue } from "../../app/queue/generation-queue.js";
import { createRedis } from "../../app/queue/redis.js";
import { GenerationStore } from "../../app/storage/generation-store.js";
import { runMigrations } from "../../app/storage/migrate.js";
import { createPool } from "../../app/storage/pool.js";
import { UserStore } from "../../app/storage/user-store.js";
import { pollDelayMs } from "../../app/worker/poll-backoff.js";
import { type AppProcess, startAppStack, waitForAppReady } from "../support/app-stack.js";
import { startChild } from "../support/child-process.js";
import { freePort } from "../support/free-port.js";
import { waitUntil } from "../support/wait-until.js";

const jobs = Number(process.env.JOBS ?? 20);
const concurrency = Number(process.env.CONCURRENCY ?? 2);
const processingMs = Number(process.env.PROCESSING_MS ?? 5000);
const model = "fal-ai/flux/schnell";

/** Warnings and errors of the worker process (pino levels 40 and up) go to stderr. */
function echoWarnings(line: string): void {
  if (/"level":(40|50|60)/.test(line)) process.stderr.write(`${line}\n`);
}

const stack = await startAppStack({
  fal: { queueMs: 0, processingMs },
  // Production polling (the config's defaults), as the naive processor below uses.
  env: { POLL_INITIAL_SECONDS: "2", POLL_MAX_SECONDS: "10", WORKER_CONCURRENCY: String(concurrency) },
  onLog: (_name, line) => echoWarnings(line),
});
const { redis: redisServer, postgres, fal, telegram } = stack;
const redis = createRedis(redisServer.url, "bench");
const pool = createPool(postgres.url);
await runMigrations(postgres.url);
const users = new UserStore(pool);
const generations = new GenerationStore(pool);

/** Most intervals [submitted, result fetched] overlapping at one instant, for the given request ids. */
function maxInFlight(requestIds: Set<string>): number {
  const edges: [number, number][] = [];
  for (const s of fal.submissions) {
    if (!requestIds.has(s.requestId)) continue;
    const done = fal.calls.find((c) => c.kind === "result" && c.requestId === s.requestId)?.at ?? s.at;
    edges.push([s.at, 1], [done, -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let most = 0;
  for (const [, delta] of edges) {
    current += delta;
    most = Math.max(most, current);
  }
  return most;
}

/** Enqueues `jobs` text-to-image requests (rows, users, chats as the bot would) and returns their ids. */
async function enqueueAll(queueName: string): Promise<string[]> {
  const queue = createGenerationQueue(redis, queueName);
  const ids: string[] = [];
  for (let i = 0; i < jobs; i += 1) {
    const telegramId = 500_000_000 + Math.floor(Math.random() * 1e8);
    telegram.userSends({ id: telegramId, first_name: "Bench" }, { text: `prompt ${i}` });
    const user = await users.upsert({ telegramId });
    const id = randomUUID();
    await generations.create({
      id,
      userId: user.id,
      chatId: telegramId,
      kind: "text-to-image",
      model,
      prompt: `prompt ${i}`,
      params: {},
      cacheKey: id,
    });
    await queue.enqueue(
      {
        generationId: id,
        telegramUserId: telegramId,
        chatId: telegramId,
        kind: "text-to-image",
        model,
        prompt: `prompt ${i}`,
        params: {},
        locale: "en",
        cacheKey: id,
        tier: "free",
      },
      { priority: 10 },
    );
    ids.push(id);
  }
  await queue.close();
  return ids;
}

function report(
  mode: string,
  startedAt: number,
  requestIds: Set<string>,
  extra: Record<string, unknown> = {},
): void {
  const polls = [...requestIds].map((r) => fal.pollsFor(r));
  console.log(
    JSON.stringify({
      mode,
      jobs,
      concurrency,
      processingMs,
      wallSeconds: Number(((Date.now() - startedAt) / 1000).toFixed(1)),
      maxInFlightAtFal: maxInFlight(requestIds),
      pollsPerJobAvg: Number((polls.reduce((a, b) => a + b, 0) / polls.length).toFixed(2)),
      pollsPerJobMax: Math.max(...polls),
      ...extra,
    }),
  );
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  await waitUntil(async () => ((await check()) ? true : undefined), {
    timeoutMs: 600_000,
    intervalMs: 100,
    describe: () => what,
  });
}

/** The step-mode worker: the stack's (`app/worker/main.ts` under tsx) or, with WORKER_DIST, the compiled one. */
async function startStepWorker(queueName: string): Promise<Pick<AppProcess, "pid" | "stop">> {
  const dist = process.env.WORKER_DIST;
  if (dist === undefined) return stack.startWorker({ QUEUE_NAME: queueName });
  const port = await freePort();
  const child = startChild(process.execPath, ["dist/app/worker/main.js"], {
    cwd: dist,
    env: { ...stack.baseEnv, QUEUE_NAME: queueName, HTTP_PORT: String(port) },
    onLine: echoWarnings,
  });
  await waitForAppReady(child, "worker", port);
  return { pid: child.pid, stop: (timeoutMs = 15_000) => child.stop("SIGTERM", timeoutMs) };
}

// Step mode: the real worker entry as its own process, configured from the environment alone.
{
  const queueName = `bench-step-${randomUUID()}`;
  // WORKER_DIST=<dir> runs the compiled worker (`<dir>/dist/app/worker/main.js`, as in the image) instead.
  const child = await startStepWorker(queueName);
  const startedAt = Date.now();
  const ids = await enqueueAll(queueName);
  await waitFor(async () => {
    const rows = await Promise.all(ids.map((id) => generations.get(id)));
    return rows.every((row) => row?.status === "delivered");
  }, "step-mode deliveries");
  const status = await readFile(`/proc/${child.pid}/status`, "utf8");
  const peakRssMb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  const rows = await Promise.all(ids.map((id) => generations.get(id)));
  report("step-job (moveToDelayed)", startedAt, new Set(rows.map((r) => r?.falRequestId as string)), {
    workerPeakRssMb: Number(peakRssMb.toFixed(1)),
  });
  await child.stop();
}

// Naive mode: the same client and backoff, but the slot sleeps between polls.
{
  const queueName = `bench-naive-${randomUUID()}`;
  const agent = createHttpAgent();
  const client = new FalClient({
    queueUrl: fal.queueUrl,
    restUrl: fal.restUrl,
    key: fal.key,
    dispatcher: agent,
  });
  const api = new Api(telegram.token, { apiRoot: telegram.apiRoot });
  const requestIds = new Set<string>();
  const naiveConnection = createRedis(redisServer.url, "bench-naive");
  let delivered = 0;
  const worker = new Worker<{ prompt: string; chatId: number }>(
    queueName,
    async (job) => {
      const requestId = await client.submit(model, { prompt: job.data.prompt });
      requestIds.add(requestId);
      for (let polls = 0; ; polls += 1) {
        await new Promise((r) => setTimeout(r, pollDelayMs(polls, 2000, 10_000)));
        if ((await client.status(model, requestId)).state === "COMPLETED") break;
      }
      const result = await client.result(model, requestId);
      await api.sendPhoto(
        job.data.chatId,
        new InputFile(await client.download(result.url, 50 << 20), "r.png"),
      );
      delivered += 1;
    },
    { connection: naiveConnection, concurrency },
  );
  const startedAt = Date.now();
  await enqueueAll(queueName);
  await waitFor(async () => delivered === jobs, "naive-mode deliveries");
  report("naive (poll inside the slot)", startedAt, requestIds);
  await worker.close();
  naiveConnection.disconnect();
  await agent.close();
}

redis.disconnect();
await pool.end();
await stack.stop();
process.exit(0);
