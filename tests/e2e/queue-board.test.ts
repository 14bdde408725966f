import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { DelayedError, type Job, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GenerationJob } from "../../app/queue/generation-job.js";
import { tierPriority } from "../../app/queue/generation-job.js";
import { createGenerationQueue, type GenerationQueue } from "../../app/queue/generation-queue.js";
import { createRedis } from "../../app/queue/redis.js";
import {
  REDIS_USERS,
  redisBoardPassword,
  redisExporterPassword,
  renderRedisAcl,
} from "../../infra/render/redis-acl.js";
import { spawnApp, waitForAppReady } from "../support/app-stack.js";
import type { RunningChild } from "../support/child-process.js";
import { freePort } from "../support/free-port.js";
import { type RedisServer, startRedis } from "../support/redis-server.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { waitUntil } from "../support/wait-until.js";

/**
 * The queue dashboard as the owner meets it: the real board process (`app/board/main.ts`) over a real Redis
 * whose generation queue holds jobs in every state the owner looks for, made by BullMQ as the app makes them
 * (the bot's enqueue; a worker that fails one for good, parks one in the delayed set as while fal works, and
 * finishes one), driven in Debian's chromium through playwright-core.
 */

const USER = "owner";
const PASSWORD = "a long board password";
const FAILED_REASON = "fal refused the request: content policy violation";
/** Generous: a loaded 2-core CI machine, and the page's first render compiles a large bundle. */
const UI_TIMEOUT_MS = 30_000;

function job(tier: GenerationJob["tier"], prompt: string): GenerationJob {
  return {
    generationId: randomUUID(),
    telegramUserId: 4242,
    chatId: 4242,
    kind: "text-to-image",
    model: "fal-ai/flux/schnell",
    prompt,
    params: {},
    locale: "en",
    cacheKey: `cache-${randomUUID()}`,
    tier,
  };
}

const failing = job("free", "a picture fal refuses");
const sleeping = job("vip", "a picture fal is working on");
const finished = job("free", "a picture already delivered");
const waiting = [job("vip", "first in line"), job("free", "second in line")];

const APP_REDIS_PASSWORD = "app-password-for-the-board-test-0123456789";
let aclDir: string;
let redisServer: RedisServer;
let redis: Redis;
let generations: GenerationQueue;
let board: RunningChild;
let boardUrl: string;
let browser: Browser;
const queueName = `board-${randomUUID()}`;

/** Runs one BullMQ worker over the queue until the failing, sleeping and finished jobs are where the test wants them. */
async function settleJobs(): Promise<void> {
  const worker = new Worker(
    queueName,
    async (current: Job, token?: string) => {
      if (current.id === failing.generationId) throw new UnrecoverableError(FAILED_REASON);
      if (current.id === sleeping.generationId) {
        // What the app's worker does while fal works: the job leaves its slot for the delayed set.
        await current.moveToDelayed(Date.now() + 3_600_000, token);
        throw new DelayedError();
      }
      return { delivered: true };
    },
    { connection: redis.duplicate({ maxRetriesPerRequest: null }) },
  );
  try {
    await waitUntil(
      async () => {
        const [f, s, d] = await Promise.all(
          [failing, sleeping, finished].map((j) => generations.queue.getJobState(j.generationId)),
        );
        return f === "failed" && s === "delayed" && d === "completed" ? true : undefined;
      },
      { timeoutMs: 20_000, describe: () => "the worker did not fail, delay and finish the three jobs" },
    );
  } finally {
    await worker.close();
  }
}

beforeAll(async () => {
  aclDir = await makeTempDir("board-acl");
  const aclFile = join(aclDir, "users.acl");
  writeFileSync(
    aclFile,
    renderRedisAcl(
      {
        app: APP_REDIS_PASSWORD,
        exporter: redisExporterPassword(APP_REDIS_PASSWORD),
        board: redisBoardPassword(APP_REDIS_PASSWORD),
      },
      queueName,
    ),
  );
  redisServer = await startRedis({ args: ["--aclfile", aclFile] });
  const as = (user: string, password: string) =>
    redisServer.url.replace("redis://", `redis://${user}:${encodeURIComponent(password)}@`);
  redis = createRedis(as(REDIS_USERS.app, APP_REDIS_PASSWORD), "queue-board-test");
  generations = createGenerationQueue(redis, queueName);
  for (const j of [failing, sleeping, finished])
    await generations.enqueue(j, { priority: tierPriority[j.tier] });
  await settleJobs();
  for (const j of waiting) await generations.enqueue(j, { priority: tierPriority[j.tier] });

  const port = await freePort();
  boardUrl = `http://127.0.0.1:${port}`;
  board = spawnApp("board", {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    REDIS_URL: as(REDIS_USERS.board, redisBoardPassword(APP_REDIS_PASSWORD)),
    QUEUE_NAME: queueName,
    BOARD_USER: USER,
    BOARD_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 10),
    HTTP_PORT: String(port),
  });
  await waitForAppReady(board, "board", port);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    // Chromium's sandbox refuses to start as root (CI's containers run as root).
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    timeout: UI_TIMEOUT_MS,
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await board?.stop("SIGTERM", 10_000);
  await generations?.close();
  redis?.disconnect();
  await redisServer?.stop();
  if (aclDir !== undefined) await removeTempDir(aclDir);
});

async function ownerPage(): Promise<Page> {
  const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD } });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  return page;
}

describe("the queue dashboard", () => {
  /**
   * Opens the board in a fresh browser context and returns the status the server answered and the text the
   * page shows. Headless chromium has no login prompt to show: a 401 with a Basic challenge it cannot answer
   * ends the navigation with ERR_INVALID_AUTH_CREDENTIALS, so the status is read off the response itself.
   */
  async function visit(httpCredentials?: { username: string; password: string }) {
    const context = await browser.newContext(httpCredentials === undefined ? {} : { httpCredentials });
    try {
      const page = await context.newPage();
      const statuses: number[] = [];
      page.on("response", (r) => {
        if (r.url().startsWith(boardUrl)) statuses.push(r.status());
      });
      const navigation = await page
        .goto(`${boardUrl}/`, { timeout: UI_TIMEOUT_MS })
        .then((r) => r?.status() ?? "no response")
        .catch((error: Error) => error.message.split("\n")[0] ?? "");
      // A failed navigation goes on to chromium's error page; read what is shown once it has settled.
      const shown = await waitUntil(() => page.content().catch(() => undefined), {
        timeoutMs: UI_TIMEOUT_MS,
        describe: () => "the refused page never settled",
      });
      return { statuses, navigation, shown };
    } finally {
      await context.close();
    }
  }

  it("refuses a browser without credentials, and one with a wrong password, showing nothing of the queue", async () => {
    for (const credentials of [undefined, { username: USER, password: "not the password" }]) {
      const { statuses, navigation, shown } = await visit(credentials);
      expect(statuses.length, JSON.stringify(credentials)).toBeGreaterThan(0);
      expect(new Set(statuses), JSON.stringify(credentials)).toEqual(new Set([401]));
      expect(String(navigation)).toMatch(/^401$|ERR_INVALID_AUTH_CREDENTIALS/);
      expect(shown).not.toContain(queueName);
      expect(shown).not.toContain(failing.generationId);
    }
    const api = await fetch(`${boardUrl}/api/queues`);
    expect(api.status).toBe(401);
    expect(api.headers.get("www-authenticate")).toMatch(/^Basic /);
    expect(await api.text()).not.toContain(queueName);
  }, 60_000);

  it("shows the owner the waiting, delayed and failed jobs, and retries the failed one", async () => {
    const page = await ownerPage();
    const shows = (text: string) => page.locator("main", { hasText: text }).waitFor();
    const tab = (status: string) =>
      page.goto(`${boardUrl}/queue/${queueName}?status=${status}`, { waitUntil: "domcontentloaded" });
    try {
      // The app's jobs wait in BullMQ's prioritized set (vip 1, free 10): the board's "Prioritized" tab.
      await tab("prioritized");
      for (const j of waiting) await shows(j.generationId);
      await tab("delayed");
      await shows(sleeping.generationId);
      await tab("failed");
      await shows(failing.generationId);
      await shows(FAILED_REASON);

      const card = page.locator('[class*="card-"]', { hasText: failing.generationId }).first();
      const retry = card.locator("button:has(svg.lucide-refresh-cw)");
      await retry.click();
      // The board asks first; its question names what the button does.
      await page.getByText("Are you sure that you want to retry this job?").waitFor();
      await page.getByRole("button", { name: "Confirm" }).click();
      await card.waitFor({ state: "detached" });

      // Back in line: BullMQ's prioritized set, with a place the bot's /status would give the user.
      await waitUntil(
        async () =>
          (await generations.queue.getJobState(failing.generationId)) === "prioritized" ? true : undefined,
        { timeoutMs: UI_TIMEOUT_MS, describe: () => "the retried job did not go back to the line" },
      );
      expect(await generations.positionOf(failing.generationId)).toBe(waiting.length + 1);
      await tab("prioritized");
      await shows(failing.generationId);
      // All of it within the board's Redis user: nothing it asked for was refused.
      expect(board.logTail(200)).not.toMatch(/NOPERM|error/i);
    } finally {
      await page.context().close();
    }
  }, 120_000);

  it("refuses to empty the queue or to retry a delivered job, and the queue keeps them", async () => {
    const owner = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` };
    const empty = await fetch(`${boardUrl}/api/queues/${queueName}/empty`, { method: "PUT", headers: owner });
    expect(empty.status).toBe(403);
    expect(((await empty.json()) as { error: string }).error).toMatch(
      /only shows the queue and retries failed jobs/,
    );
    const again = await fetch(`${boardUrl}/api/queues/${queueName}/${finished.generationId}/retry`, {
      method: "PUT",
      headers: owner,
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toContain("is completed");
    expect(await generations.queue.getJobState(finished.generationId)).toBe("completed");
    for (const j of waiting) expect(await generations.queue.getJobState(j.generationId)).toBe("prioritized");
  }, 60_000);
});
