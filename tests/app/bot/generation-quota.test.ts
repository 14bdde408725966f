import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { RedisGenerationQuota } from "../../../app/bot/generation-quota.js";
import { createLogger } from "../../../app/observability/logger.js";
import { metrics } from "../../../app/observability/metrics.js";
import { generationJobSchema } from "../../../app/queue/generation-job.js";
import { ResultCache } from "../../../app/queue/result-cache.js";
import type { FakeUser } from "../../support/fake-telegram.js";
import { makePng } from "../../support/image-bytes.js";
import { type Servers, startServers, startTestBot, type TestBot } from "./bot-fixture.js";

let servers: Servers;
let bots: TestBot[] = [];
const clients: Redis[] = [];
let nextUserId = 50_000;

beforeAll(async () => {
  servers = await startServers();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await servers.stop();
});
afterEach(async () => {
  await Promise.all(bots.map((b) => b.close()));
  bots = [];
});

async function newBot(options: Omit<Parameters<typeof startTestBot>[1], "queueName"> = {}) {
  const bot = await startTestBot(servers, { queueName: `test-${randomUUID()}`, ...options });
  bots.push(bot);
  return bot;
}

function newUser(language_code = "en"): FakeUser {
  nextUserId += 1;
  return { id: nextUserId, first_name: "Quinn", language_code };
}

function connect(): Redis {
  const client = new Redis(servers.redis.url);
  clients.push(client);
  return client;
}

function botSays(user: FakeUser): string[] {
  return servers.telegram
    .chat(user.id)
    .filter((m) => m.from === "bot")
    .map((m) => m.text ?? m.caption ?? "");
}

const accepted = (said: string[]) => said.filter((t) => t.startsWith("Got it!"));
const quotaRefusal =
  /^You have made all (\d+) pictures allowed per day\. New ones from 00:00 UTC, in (\d+) h (\d+) min\.$/;
const pausedRefusal =
  /^New pictures are paused: the bot has made as many as it may this hour\. Try again in (\d+) min\.$/;

async function jobsOf(bot: TestBot) {
  return bot.queue.queue.getJobs(["waiting", "prioritized", "active", "delayed"]);
}

async function refusals(reason: "daily_quota" | "hourly_budget"): Promise<number> {
  return (await metrics.quotaRefused.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** Minutes until the next multiple of `periodSeconds` of Unix time (the next UTC day or hour), by this clock. */
function minutesUntilNext(periodSeconds: number): number {
  const now = Date.now() / 1000;
  return (Math.ceil(now / periodSeconds) * periodSeconds - now) / 60;
}

/**
 * Each test counts within one UTC hour (the budget's period, and every day ends on an hour): one that
 * straddled xx:00 would see its counts start afresh halfway and fail for no fault of the quota. So a test
 * that would start in an hour's last 30 s waits for the next hour first (the quota reads Redis's clock,
 * which is this machine's).
 */
const BOUNDARY_MARGIN_SECONDS = 30;
beforeEach(
  async () => {
    const secondsLeft = minutesUntilNext(3600) * 60;
    if (secondsLeft < BOUNDARY_MARGIN_SECONDS)
      await new Promise((r) => setTimeout(r, (secondsLeft + 1) * 1000));
  },
  (BOUNDARY_MARGIN_SECONDS + 10) * 1000,
);

describe("the daily quota, as a user meets it", () => {
  it("accepts a free user's first 3 requests of the day and refuses the next ones, saying the limit and when it resets, without queueing them", async () => {
    const bot = await newBot({ quotaPerDay: { free: 3, vip: 10 }, rateLimitMax: 5 });
    const user = newUser();
    const refusedBefore = await refusals("daily_quota");
    for (let i = 1; i <= 6; i += 1) servers.telegram.userSends(user, { text: `a lighthouse number ${i}` });
    await bot.deliver();
    const said = botSays(user);
    expect(accepted(said)).toHaveLength(3);
    // Refused requests count against nothing: with 5 a minute allowed, the 3 refusals stay quota refusals
    // (a 6th counted request would have been "Too many requests").
    const refused = said.slice(3);
    expect(refused).toHaveLength(3);
    for (const text of refused) {
      const [, limit, hours, minutes] = quotaRefusal.exec(text) ?? [];
      expect(Number(limit)).toBe(3);
      const shown = Number(hours) * 60 + Number(minutes);
      expect(Math.abs(shown - minutesUntilNext(86_400))).toBeLessThanOrEqual(2);
    }
    const prompts = (await jobsOf(bot)).map((j) => j.data.prompt).sort();
    expect(prompts).toEqual(["a lighthouse number 1", "a lighthouse number 2", "a lighthouse number 3"]);
    expect((await refusals("daily_quota")) - refusedBefore).toBe(3);
  });

  it("gives vip users their own, larger quota (the tier the owner sets)", async () => {
    const bot = await newBot({ quotaPerDay: { free: 1, vip: 4 } });
    const vip = newUser("ru");
    servers.telegram.userSends(vip, { text: "/start" });
    await bot.deliver();
    await bot.pool.query("UPDATE users SET tier = 'vip' WHERE telegram_id = $1", [vip.id]);
    for (let i = 1; i <= 5; i += 1) servers.telegram.userSends(vip, { text: `маяк ${i}` });
    await bot.deliver();
    const said = botSays(vip).slice(1);
    expect(said.filter((t) => t.startsWith("Принято!"))).toHaveLength(4);
    expect(said.at(-1)).toMatch(
      /^Дневной лимит картинок исчерпан: 4 в сутки\. Новые — с 00:00 UTC, через \d+ ч \d+ мин\.$/,
    );
  });

  it("charges neither refused inputs nor answers from the result cache", async () => {
    const bot = await newBot({ quotaPerDay: { free: 2, vip: 2 } });
    const user = newUser();
    servers.telegram.userSends(user, { text: "   " });
    servers.telegram.userSends(user, { text: "x".repeat(5000) });
    servers.telegram.userSends(user, { text: "a red kite over the sea" });
    await bot.deliver();
    const [job] = await jobsOf(bot);
    const { cacheKey } = generationJobSchema.parse(job?.data);
    const fileId = servers.telegram.addFile(makePng(64, 64), { mime: "image/png", kind: "photos" });
    await new ResultCache(bot.redis, 3600).set(cacheKey, fileId);
    // The same prompt three times more: answered from the cache, free.
    for (let i = 0; i < 3; i += 1) servers.telegram.userSends(user, { text: "a red kite over the sea" });
    servers.telegram.userSends(user, { text: "a blue kite over the sea" });
    servers.telegram.userSends(user, { text: "a green kite over the sea" });
    await bot.deliver();
    const said = botSays(user);
    expect(said.slice(0, 2).every((t) => !t.startsWith("Got it!") && !quotaRefusal.test(t))).toBe(true);
    expect(accepted(said)).toHaveLength(2);
    expect(said.filter((t) => t.startsWith("Done!"))).toHaveLength(3);
    expect(said.at(-1)).toMatch(quotaRefusal);
  });

  it("gives the charge back when the request cannot be queued", async () => {
    const bot = await newBot({ quotaPerDay: { free: 1, vip: 1 } });
    const user = newUser();
    const enqueue = vi.spyOn(bot.queue, "enqueue").mockRejectedValueOnce(new Error("queue refused the job"));
    servers.telegram.userSends(user, { text: "a fox in the snow" });
    await bot.deliver();
    expect(botSays(user)).toEqual(["Something went wrong. Please try again a bit later."]);
    enqueue.mockRestore();
    servers.telegram.userSends(user, { text: "a fox in the snow, again" });
    await bot.deliver();
    expect(accepted(botSays(user))).toHaveLength(1);
  });

  it("is shared by bot replicas: a user's requests through two replicas count against one quota", async () => {
    const [a, b] = [
      await newBot({ quotaPerDay: { free: 5, vip: 5 } }),
      await newBot({ quotaPerDay: { free: 5, vip: 5 } }),
    ];
    const user = newUser();
    for (let i = 1; i <= 4; i += 1) servers.telegram.userSends(user, { text: `owl ${i}` });
    await a.deliver();
    for (let i = 5; i <= 8; i += 1) servers.telegram.userSends(user, { text: `owl ${i}` });
    await b.deliver();
    expect(accepted(botSays(user))).toHaveLength(5);
    expect((await jobsOf(a)).length + (await jobsOf(b)).length).toBe(5);
  });
});

describe("the hourly budget, as users and the owner meet it", () => {
  it("pauses new requests of every user once the hour's budget is spent, says for how long, and tells the owner once", async () => {
    const lines: string[] = [];
    const logger = createLogger("info", "bot-test", { write: (line: string) => void lines.push(line) });
    const quotaKeyPrefix = `test-quota:${randomUUID()}:`;
    const [a, b] = [
      await newBot({ budgetPerHour: 3, quotaKeyPrefix, logger }),
      await newBot({ budgetPerHour: 3, quotaKeyPrefix, logger }),
    ];
    const users = Array.from({ length: 5 }, () => newUser());
    const pausedBefore = await refusals("hourly_budget");
    users.forEach((user, i) => {
      servers.telegram.userSends(user, { text: `a comet number ${i}` });
    });
    await a.deliver();
    servers.telegram.userSends(users[0] as FakeUser, { text: "one more comet" });
    await b.deliver();
    const answers = users.map((u) => botSays(u));
    expect(answers.flatMap(accepted)).toHaveLength(3);
    const paused = answers.flat().filter((t) => pausedRefusal.test(t));
    expect(paused).toHaveLength(3);
    for (const text of paused) {
      const minutes = Number(pausedRefusal.exec(text)?.[1]);
      expect(Math.abs(minutes - minutesUntilNext(3600))).toBeLessThanOrEqual(2);
    }
    expect((await refusals("hourly_budget")) - pausedBefore).toBe(3);
    const ownerLines = lines.filter((l) => l.includes("hourly generation budget spent"));
    expect(ownerLines).toHaveLength(1);
    expect(JSON.parse(ownerLines[0] as string)).toMatchObject({ level: 40, budgetPerHour: 3 });
  });
});

describe("RedisGenerationQuota", () => {
  it("takes exactly the limit when two replicas race for the last places", async () => {
    const options = { perDay: { free: 7, vip: 7 }, perHour: 1000, keyPrefix: `t:${randomUUID()}:` };
    const [x, y] = [
      new RedisGenerationQuota(connect(), options),
      new RedisGenerationQuota(connect(), options),
    ];
    const decisions = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? x : y).consume(1, "free")),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(7);
  });

  it("starts each UTC day afresh, and a refund made after midnight does not give a place in the new day", async () => {
    const redis = connect();
    const keyPrefix = `t:${randomUUID()}:`;
    const quota = new RedisGenerationQuota(redis, { perDay: { free: 1, vip: 1 }, perHour: 1000, keyPrefix });
    const first = await quota.consume(9, "free");
    expect(first.allowed).toBe(true);
    expect((await quota.consume(9, "free")).allowed).toBe(false);
    // Yesterday's count: as the hash looks when the day rolls over.
    const today = Number(await redis.hget(`${keyPrefix}user:9`, "day"));
    await redis.hset(`${keyPrefix}user:9`, "day", today - 1);
    expect((await quota.consume(9, "free")).allowed).toBe(true);
    if (first.allowed) await quota.refund(9, { ...first.ticket, day: today - 1 });
    expect((await quota.consume(9, "free")).allowed).toBe(false);
  });

  it("keeps a user's count no longer than an hour past the end of its UTC day", async () => {
    const redis = connect();
    const keyPrefix = `t:${randomUUID()}:`;
    await new RedisGenerationQuota(redis, { perDay: { free: 5, vip: 5 }, perHour: 1000, keyPrefix }).consume(
      3,
      "free",
    );
    const expiresAt = Number(await redis.call("EXPIRETIME", `${keyPrefix}user:3`));
    const endOfDay = Math.ceil(Date.now() / 86_400_000) * 86_400;
    expect(expiresAt).toBe(endOfDay + 3600);
  });

  it("refuses every request of a tier whose quota is 0", async () => {
    const quota = new RedisGenerationQuota(connect(), {
      perDay: { free: 0, vip: 3 },
      perHour: 1000,
      keyPrefix: `t:${randomUUID()}:`,
    });
    expect(await quota.consume(4, "free")).toMatchObject({ allowed: false, reason: "daily-quota", limit: 0 });
    expect((await quota.consume(4, "vip")).allowed).toBe(true);
  });
});
