import { randomUUID } from "node:crypto";
import { Worker } from "bullmq";
import { GrammyError } from "grammy";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { metrics } from "../../../app/observability/metrics.js";
import { generationJobSchema } from "../../../app/queue/generation-job.js";
import { ResultCache } from "../../../app/queue/result-cache.js";
import type { FakeUser } from "../../support/fake-telegram.js";
import { makeJpegLike, makePng } from "../../support/image-bytes.js";
import { waitUntil } from "../../support/wait-until.js";
import { type Servers, startServers, startTestBot, type TestBot } from "./bot-fixture.js";

let servers: Servers;
let bots: TestBot[] = [];
let nextUserId = 10_000;

beforeAll(async () => {
  servers = await startServers();
});
afterAll(async () => {
  await servers.stop();
});
afterEach(async () => {
  await Promise.all(bots.map((b) => b.close()));
  bots = [];
});

async function newBot(options: { rateLimitMax?: number } = {}): Promise<TestBot> {
  const bot = await startTestBot(servers, { queueName: `test-${randomUUID()}`, ...options });
  bots.push(bot);
  return bot;
}

function newUser(language_code?: string, first_name = "Аня"): FakeUser {
  nextUserId += 1;
  return { id: nextUserId, first_name, ...(language_code === undefined ? {} : { language_code }) };
}

/** What the bot has shown the user so far: texts and captions, latest version of each message. */
function botSays(user: FakeUser): string[] {
  return servers.telegram
    .chat(user.id)
    .filter((m) => m.from === "bot")
    .map((m) => m.text ?? m.caption ?? "");
}

/** The bot's latest message to the user. */
function lastFromBot(user: FakeUser) {
  return servers.telegram
    .chat(user.id)
    .filter((m) => m.from === "bot")
    .at(-1);
}

/** The rows recorded as answered from the cache under `cacheKey`. */
async function cachedRows(bot: TestBot, cacheKey: string) {
  const { rows } = await bot.pool.query(
    "SELECT status, cached, result_file_id FROM generations WHERE cache_key = $1 AND cached",
    [cacheKey],
  );
  return rows;
}

async function counterValue(counter: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

async function jobsOf(bot: TestBot) {
  return bot.queue.queue.getJobs(["waiting", "prioritized", "active", "delayed"]);
}

/**
 * Sends `text` once and plays the worker's part: remembers `fileId` under the job's cache key and takes the
 * job out of the queue. Returns the cache key, so the same request again finds the entry.
 */
async function requestThenCache(bot: TestBot, user: FakeUser, text: string, fileId: string): Promise<string> {
  servers.telegram.userSends(user, { text });
  await bot.deliver();
  const [job] = await jobsOf(bot);
  const { cacheKey } = generationJobSchema.parse(job?.data);
  await new ResultCache(bot.redis, 3600).set(cacheKey, fileId);
  await job?.remove();
  return cacheKey;
}

describe("/start and /help", () => {
  it("registers a Russian-speaking user and greets them in Russian with the help text", async () => {
    const bot = await newBot();
    const user = newUser("ru");
    servers.telegram.userSends(user, { text: "/start" });
    await bot.deliver();
    const [greeting] = botSays(user);
    expect(greeting).toContain("Привет, Аня!");
    expect(greeting).toMatch(/от 1 до 1\s000 символов/);
    expect(greeting).toContain("/status");
    const { rows } = await bot.pool.query("SELECT tier, language_code FROM users WHERE telegram_id = $1", [
      user.id,
    ]);
    expect(rows).toEqual([{ tier: "free", language_code: "ru" }]);
  });

  it("greets a user whose Telegram is in English in English, and defaults to Russian without a language", async () => {
    const bot = await newBot();
    const english = newUser("en-GB", "Alice");
    const unknown = newUser(undefined, "Sam");
    servers.telegram.userSends(english, { text: "/start" });
    servers.telegram.userSends(unknown, { text: "/help" });
    await bot.deliver();
    expect(botSays(english)[0]).toMatch(/^Hi, Alice! I draw pictures/);
    expect(botSays(english)[0]).toContain("up to 10 MB");
    expect(botSays(unknown)[0]).toMatch(/^Что я умею:/);
  });

  it("answers an unknown command and a file it cannot use with a clear message and the help", async () => {
    const bot = await newBot();
    const user = newUser("en");
    servers.telegram.userSends(user, { text: "/frobnicate" });
    await bot.deliver();
    expect(botSays(user)[0]).toMatch(/^I don't understand this kind of message\.\n\nWhat I can do:/);
    expect(await jobsOf(bot)).toHaveLength(0);
  });
});

describe("text to image", () => {
  it("acknowledges with the place in the queue and enqueues exactly the request, linked to the ack", async () => {
    const bot = await newBot();
    const user = newUser("ru");
    servers.telegram.userSends(user, { text: "  рыжий кот   в космосе " });
    servers.telegram.userSends(user, { text: "синий кит" });
    await bot.deliver();
    expect(botSays(user)).toEqual([
      "Принято! Место в очереди: 1. Сообщение обновится, когда начну.",
      "Принято! Место в очереди: 2. Сообщение обновится, когда начну.",
    ]);
    const jobs = await jobsOf(bot);
    const first = jobs.find((j) => j.data.prompt === "рыжий кот в космосе");
    expect(first).toBeDefined();
    const data = generationJobSchema.parse(first?.data);
    expect(data).toMatchObject({
      telegramUserId: user.id,
      chatId: user.id,
      kind: "text-to-image",
      model: "fal-ai/flux/schnell",
      locale: "ru",
      tier: "free",
      params: { image_size: "square_hd", num_images: 1 },
    });
    expect(data.sourceFileId).toBeUndefined();
    expect(first?.id).toBe(data.generationId);
    expect(first?.opts.priority).toBe(10);
    const row = await bot.generations.get(data.generationId);
    const ack = servers.telegram.chat(user.id).find((m) => m.from === "bot");
    expect(row).toMatchObject({ status: "queued", cacheKey: data.cacheKey, ackMessageId: ack?.message_id });
  });

  it("marks the acknowledgement done itself when the picture went out before the acknowledgement's id was stored", async () => {
    const bot = await newBot();
    const user = newUser("en");
    servers.telegram.setLatency(400, "sendMessage");
    try {
      servers.telegram.userSends(user, { text: "a very quick picture" });
      const handled = bot.deliver();
      // A fast worker: the picture is sent and recorded while the acknowledgement is still on its way.
      const job = await waitUntil(async () => (await jobsOf(bot))[0], {
        timeoutMs: 5_000,
        describe: () => "the job queued",
      });
      await bot.generations.markSent(job.id as string, "AgAD-photo-file-id");
      await handled;
    } finally {
      servers.telegram.setLatency(0, "sendMessage");
    }
    const ack = servers.telegram.chat(user.id).find((m) => m.from === "bot");
    expect(ack?.sentText).toMatch(/^Got it! Place in the queue: 1\./);
    expect(ack?.edits.map((e) => e.text)).toEqual(["Done!"]);
  });

  it("refuses the 11th request in a window with the seconds to wait, and never queues it", async () => {
    const bot = await newBot();
    const user = newUser("ru");
    const limitedBefore = await counterValue(metrics.rateLimited);
    const acksBefore =
      (await metrics.ackLatency.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
    for (let i = 1; i <= 11; i += 1) servers.telegram.userSends(user, { text: `картинка номер ${i}` });
    await bot.deliver();
    const said = botSays(user);
    expect(said.filter((t) => t.startsWith("Принято!"))).toHaveLength(10);
    const refusal = said.at(-1) ?? "";
    const seconds = Number(/через (\d+) с\.$/.exec(refusal)?.[1]);
    expect(seconds).toBeGreaterThanOrEqual(59);
    expect(seconds).toBeLessThanOrEqual(60);
    const jobs = await jobsOf(bot);
    expect(jobs).toHaveLength(10);
    expect(jobs.map((j) => j.data.prompt)).not.toContain("картинка номер 11");
    expect((await counterValue(metrics.rateLimited)) - limitedBefore).toBe(1);
    const acks =
      (await metrics.ackLatency.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
    expect(acks - acksBefore).toBe(10);
  });

  it("shares the limit between two bot replicas", async () => {
    const [a, b] = [await newBot(), await newBot()];
    const user = newUser("en");
    for (let i = 1; i <= 6; i += 1) servers.telegram.userSends(user, { text: `picture ${i}` });
    await a.deliver();
    for (let i = 7; i <= 11; i += 1) servers.telegram.userSends(user, { text: `picture ${i}` });
    await b.deliver();
    const said = botSays(user);
    expect(said.filter((t) => t.startsWith("Got it!"))).toHaveLength(10);
    expect(said.at(-1)).toMatch(/^Too many requests\. Try again in \d+ s\.$/);
    expect((await jobsOf(a)).length + (await jobsOf(b)).length).toBe(10);
  });

  it("refuses an empty and a 5 000-character prompt, saying what is allowed", async () => {
    const bot = await newBot();
    const user = newUser("en");
    servers.telegram.userSends(user, { text: " \u200b " });
    servers.telegram.userSends(user, { text: "a".repeat(5000) });
    await bot.deliver();
    expect(botSays(user)).toEqual([
      "Tell me what to draw: a description of 1 to 1,000 characters.",
      "The description is too long: 5,000 characters, at most 1,000 allowed.",
    ]);
    expect(await jobsOf(bot)).toHaveLength(0);
  });

  it("puts a vip user's request ahead of waiting free ones", async () => {
    const bot = await newBot();
    const free = newUser("en");
    const vip = newUser("en");
    servers.telegram.userSends(vip, { text: "/start" });
    await bot.deliver();
    await bot.pool.query("UPDATE users SET tier = 'vip' WHERE telegram_id = $1", [vip.id]);
    servers.telegram.userSends(free, { text: "a free picture" });
    servers.telegram.userSends(free, { text: "another free picture" });
    servers.telegram.userSends(vip, { text: "a vip picture" });
    await bot.deliver();
    expect(botSays(vip).at(-1)).toMatch(/^Got it! Place in the queue: 1\./);
    const jobs = await jobsOf(bot);
    const vipJob = jobs.find((j) => j.data.prompt === "a vip picture");
    expect(vipJob?.opts.priority).toBe(1);
    expect(vipJob?.data.tier).toBe("vip");
    const freeJob = jobs.find((j) => j.data.prompt === "a free picture");
    expect(await bot.queue.positionOf(freeJob?.id as string)).toBe(2);
  });

  it("answers a repeated request from the result cache at once, with no job", async () => {
    const bot = await newBot();
    const user = newUser("en");
    const fileId = servers.telegram.addFile(makePng(64, 64), { mime: "image/png", kind: "photos" });
    const cacheKey = await requestThenCache(bot, user, "a lighthouse at dawn", fileId);

    servers.telegram.userSends(user, { text: "a   lighthouse at dawn" });
    await bot.deliver();
    const sent = lastFromBot(user);
    expect(sent?.photoFileId).toBe(fileId);
    expect(sent?.caption).toBe("Done! For another picture, just send a description.");
    expect(await jobsOf(bot)).toHaveLength(0);
    expect(await cachedRows(bot, cacheKey)).toEqual([
      { status: "delivered", cached: true, result_file_id: fileId },
    ]);
  });
});

/**
 * Makes the bot's Telegram refuse `fileId` as a photo, as Telegram does with a file sent as a document
 * (the fake accepts any stored file's id in sendPhoto).
 */
function refuseAsPhoto(bot: TestBot, fileId: string): void {
  bot.bot.api.config.use((prev, method, payload, signal) => {
    if (method === "sendPhoto" && (payload as { photo?: unknown }).photo === fileId) {
      const description = "Bad Request: can't use file of type Document as Photo";
      throw new GrammyError(description, { ok: false, error_code: 400, description }, method, payload);
    }
    return prev(method, payload, signal);
  });
}

describe("a result that was delivered as a file", () => {
  it("is sent again as a file on a cache hit, with no job", async () => {
    const bot = await newBot();
    const user = newUser("en");
    const fileId = servers.telegram.addFile(makePng(64, 64), { mime: "image/png", kind: "documents" });
    refuseAsPhoto(bot, fileId);
    const cacheKey = await requestThenCache(bot, user, "a huge upscale", fileId);

    servers.telegram.userSends(user, { text: "a huge upscale" });
    await bot.deliver();
    const sent = lastFromBot(user);
    expect(sent?.documentFileId).toBe(fileId);
    expect(sent?.caption).toBe("Done! For another picture, just send a description.");
    expect(await jobsOf(bot)).toHaveLength(0);
    expect(await cachedRows(bot, cacheKey)).toEqual([
      { status: "delivered", cached: true, result_file_id: fileId },
    ]);
  });

  it("is sent as a file by /history", async () => {
    const bot = await newBot();
    const user = newUser("en");
    const fileId = servers.telegram.addFile(makePng(64, 64), { mime: "image/png", kind: "documents" });
    refuseAsPhoto(bot, fileId);
    await requestThenCache(bot, user, "a huge upscale for the history", fileId);
    const [row] = (
      await bot.pool.query("SELECT id FROM generations WHERE prompt = $1", ["a huge upscale for the history"])
    ).rows;
    await bot.generations.markDelivered(row.id, { resultFileId: fileId, cached: false });

    servers.telegram.userSends(user, { text: "/history" });
    await bot.deliver();
    const sent = lastFromBot(user);
    expect(sent?.documentFileId).toBe(fileId);
    expect(sent?.caption).toBe("a huge upscale for the history");
  });
});

describe("a stale cache entry", () => {
  it("queues the request like a miss when Telegram no longer knows the cached file_id", async () => {
    const bot = await newBot();
    const user = newUser("en");
    await requestThenCache(bot, user, "a stale lighthouse", "AgACAgIAAxkBAAIBnotafileanymore");

    servers.telegram.userSends(user, { text: "a stale lighthouse" });
    await bot.deliver();
    expect(botSays(user).at(-1)).toMatch(/^Got it! Place in the queue: 1\./);
    expect(await jobsOf(bot)).toHaveLength(1);
  });
});

describe("images", () => {
  it("refuses an oversize photo from its metadata: no getFile, no download, no job", async () => {
    const bot = await newBot();
    const user = newUser("ru");
    const message = servers.telegram.userSends(user, {
      photo: makeJpegLike(11 * 1024 * 1024),
      caption: "сделай акварелью",
    });
    await bot.deliver();
    expect(botSays(user)).toEqual(["Картинка слишком большая: 11 МБ, можно не больше 10 МБ."]);
    expect(servers.telegram.callsTo("getFile")).toHaveLength(0);
    expect(servers.telegram.fileDownloads(message.photo?.at(-1)?.file_id as string)).toBe(0);
    expect(await jobsOf(bot)).toHaveLength(0);
  });

  it("refuses a PDF with a clear message", async () => {
    const bot = await newBot();
    const user = newUser("en");
    servers.telegram.userSends(user, {
      document: Buffer.from("%PDF-1.7\n"),
      mimeType: "application/pdf",
      fileName: "cv.pdf",
      caption: "make it pretty",
    });
    await bot.deliver();
    expect(botSays(user)).toEqual([
      "I can't work with this file (application/pdf). Send a JPEG, PNG or WebP picture, as a photo or as a file.",
    ]);
    expect(await jobsOf(bot)).toHaveLength(0);
  });

  it("queues a captioned photo and an image file as image-to-image by file_id, without downloading", async () => {
    const bot = await newBot();
    const user = newUser("en");
    const photo = servers.telegram.userSends(user, { photo: makePng(800, 600), caption: "make it snowy" });
    const file = servers.telegram.userSends(user, {
      document: makePng(100, 100),
      mimeType: "image/png",
      fileName: "cat.png",
      caption: "add a hat",
    });
    servers.telegram.userSends(user, { photo: makePng(50, 50) });
    await bot.deliver();
    const jobs = await jobsOf(bot);
    expect(jobs.map((j) => [j.data.kind, j.data.prompt, j.data.sourceFileId]).sort()).toEqual(
      [
        ["image-to-image", "make it snowy", photo.photo?.at(-1)?.file_id],
        ["image-to-image", "add a hat", file.document?.file_id],
      ].sort(),
    );
    expect(botSays(user).at(-1)).toBe(
      'Add a caption to the photo saying what to change, for example: "make it a watercolour".',
    );
    expect(servers.telegram.callsTo("getFile")).toHaveLength(0);
  });

  it("upscales the image /upscale replies to, and explains /upscale without one", async () => {
    const bot = await newBot();
    const user = newUser("ru");
    const photo = servers.telegram.userSends(user, { photo: makePng(400, 300), caption: "/upscale" });
    servers.telegram.userSends(user, { text: "/upscale", replyTo: photo.message_id });
    servers.telegram.userSends(user, { text: "/upscale" });
    await bot.deliver();
    const jobs = await jobsOf(bot);
    expect(jobs.map((j) => [j.data.kind, j.data.prompt, j.data.model])).toEqual([
      ["upscale", "", "fal-ai/clarity-upscaler"],
      ["upscale", "", "fal-ai/clarity-upscaler"],
    ]);
    expect(new Set(jobs.map((j) => j.data.sourceFileId))).toEqual(new Set([photo.photo?.at(-1)?.file_id]));
    expect(botSays(user).at(-1)).toBe(
      "Чтобы увеличить картинку, ответьте командой /upscale на сообщение с ней.",
    );
  });
});

describe("/status, /cancel, /history", () => {
  it("lists queued jobs with their place and an estimate, and says when there are none", async () => {
    const bot = await newBot();
    const user = newUser("en");
    servers.telegram.userSends(user, { text: "/status" });
    servers.telegram.userSends(user, { text: "first" });
    servers.telegram.userSends(user, { text: "second" });
    servers.telegram.userSends(user, { text: "third" });
    servers.telegram.userSends(user, { text: "/status" });
    await bot.deliver();
    const said = botSays(user);
    expect(said[0]).toBe("You have no jobs right now.");
    expect(said.at(-1)).toBe(
      [
        "Your jobs:",
        "• picture from a description: queued, place 1, in about 1 min.",
        "• picture from a description: queued, place 2, in about 1 min.",
        "• picture from a description: queued, place 3, in about 1 min.",
      ].join("\n"),
    );
  });

  it("cancels queued jobs (removed, recorded, their acks edited) and flags a running one", async () => {
    const bot = await newBot();
    const user = newUser("en");
    servers.telegram.userSends(user, { text: "/cancel" });
    servers.telegram.userSends(user, { text: "will run" });
    servers.telegram.userSends(user, { text: "will wait" });
    await bot.deliver();
    // A worker that holds the first job, so it is running (locked) when the user cancels.
    let release: () => void = () => undefined;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const worker = new Worker(
      bot.queue.queue.name,
      async () => {
        started();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      {
        connection: { host: "127.0.0.1", port: servers.redis.port, maxRetriesPerRequest: null },
        concurrency: 1,
      },
    );
    try {
      await running;
      await bot.pool.query("UPDATE generations SET status = 'running' WHERE prompt = 'will run'");
      servers.telegram.userSends(user, { text: "/cancel" });
      await bot.deliver();
    } finally {
      release();
      await worker.close();
    }
    const said = botSays(user);
    expect(said[0]).toBe("Nothing to cancel: you have no queued or running jobs.");
    expect(said.at(-1)).toBe(
      [
        "Stopping: picture from a description. The job's message will update when it has stopped.",
        "Cancelled: picture from a description.",
      ].join("\n"),
    );
    expect(said.filter((t) => t === "The job was cancelled.")).toHaveLength(1);
    const { rows } = await bot.pool.query(
      "SELECT prompt, status FROM generations WHERE user_id = (SELECT id FROM users WHERE telegram_id = $1) ORDER BY prompt",
      [user.id],
    );
    expect(rows).toEqual([
      { prompt: "will run", status: "running" },
      { prompt: "will wait", status: "cancelled" },
    ]);
  });

  it("sends the last 10 delivered pictures, newest first", async () => {
    const bot = await newBot();
    const user = newUser("ru");
    servers.telegram.userSends(user, { text: "/history" });
    await bot.deliver();
    expect(botSays(user)).toEqual(["Готовых картинок пока нет."]);
    const { rows } = await bot.pool.query("SELECT id FROM users WHERE telegram_id = $1", [user.id]);
    const userId = Number(rows[0].id);
    const fileIds: string[] = [];
    for (let i = 1; i <= 12; i += 1) {
      const id = randomUUID();
      const fileId = servers.telegram.addFile(makePng(32, 32), { mime: "image/png", kind: "photos" });
      fileIds.push(fileId);
      await bot.generations.create({
        id,
        userId,
        chatId: user.id,
        kind: "text-to-image",
        model: "m/x",
        prompt: `кот ${i}`,
        params: {},
        cacheKey: id,
      });
      await bot.generations.markDelivered(id, { resultFileId: fileId, cached: false });
      await bot.pool.query(
        "UPDATE generations SET delivered_at = now() + make_interval(secs => $2) WHERE id = $1",
        [id, i],
      );
    }
    servers.telegram.userSends(user, { text: "/history" });
    await bot.deliver();
    const photos = servers.telegram
      .chat(user.id)
      .filter((m) => m.from === "bot" && m.photoFileId !== undefined);
    expect(photos.map((m) => m.caption)).toEqual(Array.from({ length: 10 }, (_, k) => `кот ${12 - k}`));
  });
});

describe("re-delivered updates", () => {
  it("handles an update once even when Telegram delivers it again, to another replica", async () => {
    const [a, b] = [await newBot(), await newBot()];
    const user = newUser("en");
    servers.telegram.userSends(user, { text: "a lighthouse, handled once" });
    const [update] = await a.bot.api.getUpdates({ timeout: 0, offset: -1 });
    expect(update).toBeDefined();
    if (update === undefined) return;
    await a.bot.handleUpdate(update);
    await b.bot.handleUpdate(update);
    await a.deliver();
    expect(botSays(user).filter((t) => t.startsWith("Got it!"))).toHaveLength(1);
    expect((await jobsOf(a)).length + (await jobsOf(b)).length).toBe(1);
  });
});

describe("errors", () => {
  it("answers a failing handler with a plain apology in the user's language, never the error", async () => {
    const bot = await newBot();
    const user = newUser("en");
    await bot.pool.query("ALTER TABLE generations RENAME TO generations_away");
    try {
      servers.telegram.userSends(user, { text: "a picture that cannot be recorded" });
      await bot.deliver();
    } finally {
      await bot.pool.query("ALTER TABLE generations_away RENAME TO generations");
    }
    expect(botSays(user)).toEqual(["Something went wrong. Please try again a bit later."]);
    expect(await jobsOf(bot)).toHaveLength(0);
  });
});
