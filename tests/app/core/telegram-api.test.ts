import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../app/observability/logger.js";
import { metrics } from "../../../app/observability/metrics.js";
import { createTelegramApi } from "../../../app/telegram/api.js";
import { type FakeTelegram, startFakeTelegram } from "../../support/fake-telegram.js";

let telegram: FakeTelegram;
const user = { id: 4242, first_name: "Bo" };

beforeAll(async () => {
  telegram = await startFakeTelegram();
  telegram.userSends(user, { text: "hi" });
});

afterAll(async () => {
  await telegram?.stop();
});

async function errorCount(method: string, code: string): Promise<number> {
  const metric = await metrics.telegramApiErrors.get();
  return metric.values.find((v) => v.labels.method === method && v.labels.code === code)?.value ?? 0;
}

describe("the shared Telegram client", () => {
  const api = () =>
    createTelegramApi(
      { telegramBotToken: telegram.token, telegramApiRoot: telegram.apiRoot, httpTimeoutSeconds: 60 },
      createLogger("silent", "t"),
    );

  it("waits Telegram's retry_after on 429, then succeeds, and counts the refusal", async () => {
    const before = await errorCount("sendMessage", "429");
    telegram.failNext("sendMessage", { status: 429, retryAfter: 1 });
    const started = Date.now();
    const message = await api().sendMessage(user.id, "after the wait");
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(message.text).toBe("after the wait");
    const attempts = telegram.callsTo("sendMessage").filter((c) => c.params.text === "after the wait");
    expect(attempts.map((c) => c.status)).toEqual([429, 200]);
    expect(await errorCount("sendMessage", "429")).toBe(before + 1);
  });

  it("retries a server error until Telegram answers", async () => {
    telegram.failNext("editMessageText", { status: 502 });
    const sent = await api().sendMessage(user.id, "v1");
    const started = Date.now();
    const edited = await api().editMessageText(user.id, sent.message_id, "v2");
    expect(edited).toMatchObject({ text: "v2" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
    expect(telegram.callsTo("editMessageText").map((c) => c.status)).toEqual([502, 200]);
    expect(await errorCount("editMessageText", "502")).toBeGreaterThanOrEqual(1);
  });
});

describe("the shared Telegram client without a network", () => {
  it("gives up on an unreachable Bot API after three tries instead of retrying forever", async () => {
    const { freePort } = await import("../../support/free-port.js");
    const offline = createTelegramApi(
      {
        telegramBotToken: "1:abc",
        telegramApiRoot: `http://127.0.0.1:${await freePort()}`,
        httpTimeoutSeconds: 60,
      },
      createLogger("silent", "t"),
    );
    const before = await errorCount("getMe", "network");
    const started = Date.now();
    await expect(offline.getMe()).rejects.toThrow(/Network request for 'getMe' failed/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await errorCount("getMe", "network")).toBe(before + 3);
  });
});
