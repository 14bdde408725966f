import { autoRetry } from "@grammyjs/auto-retry";
import { run } from "@grammyjs/runner";
import { Api, Bot, GrammyError, InputFile } from "grammy";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeTelegram, type FakeUser, startFakeTelegram } from "./fake-telegram.js";
import { listenLoopback } from "./http-kit.js";
import { makePng } from "./image-bytes.js";

const alice: FakeUser = { id: 5001, first_name: "Alice", username: "alice", language_code: "en" };

let tg: FakeTelegram;
beforeEach(async () => {
  tg = await startFakeTelegram();
});
afterEach(async () => {
  await tg.stop();
});

function apiFor(fake: FakeTelegram, token = fake.token): Api {
  return new Api(token, { apiRoot: fake.apiRoot });
}

describe("fake Telegram with real grammY", () => {
  it("long-polls updates to a runner bot whose replies the user sees", async () => {
    const bot = new Bot(tg.token, { client: { apiRoot: tg.apiRoot } });
    bot.command("start", (ctx) => ctx.reply(`hello ${ctx.from?.first_name}`));
    bot.on("message:text", (ctx) => ctx.reply(`echo: ${ctx.message.text}`));
    const runner = run(bot, { runner: { fetch: { timeout: 1 } } });
    try {
      tg.userSends(alice, { text: "/start" });
      tg.userSends(alice, { text: "a red fox" });
      await tg.waitForMessage(alice.id, (m) => m.from === "bot" && m.text === "echo: a red fox");
      expect(tg.chat(alice.id).map((m) => `${m.from}: ${m.text}`)).toEqual([
        "user: /start",
        "user: a red fox",
        "bot: hello Alice",
        "bot: echo: a red fox",
      ]);
    } finally {
      await runner.stop();
    }
    expect(tg.callsTo("getMe")).toHaveLength(1);
  });

  it("uploads an InputFile photo as multipart, then serves it through getFile and the file URL", async () => {
    const api = apiFor(tg);
    tg.userSends(alice, { text: "hi" });
    const png = makePng(640, 480);
    const sent = await api.sendPhoto(alice.id, new InputFile(png, "result.png"), { caption: "done" });
    const largest = sent.photo.at(-1);
    expect(sent.photo).toHaveLength(2);
    expect(largest).toMatchObject({ width: 640, height: 480, file_size: png.length });
    const file = await api.getFile(largest?.file_id ?? "");
    const response = await fetch(`${tg.apiRoot}/file/bot${tg.token}/${file.file_path}`);
    expect(Buffer.from(await response.arrayBuffer()).equals(png)).toBe(true);
    expect(tg.fileDownloads(file.file_id)).toBe(1);
    const view = await tg.waitForMessage(alice.id, (m) => m.photoFileId !== undefined);
    expect(view.caption).toBe("done");

    const again = await api.sendPhoto(alice.id, largest?.file_id ?? "");
    expect(again.photo.at(-1)?.file_unique_id).toBe(largest?.file_unique_id);
  });

  it("takes a document upload and shows it to the user as a file", async () => {
    const api = apiFor(tg);
    tg.userSends(alice, { text: "hi" });
    const png = makePng(12_000, 10);
    await expect(api.sendPhoto(alice.id, new InputFile(png, "wide.png"))).rejects.toMatchObject({
      description: "Bad Request: PHOTO_INVALID_DIMENSIONS",
    });
    const sent = await api.sendDocument(alice.id, new InputFile(png, "wide.png"), { caption: "as a file" });
    expect(sent.document).toMatchObject({
      file_name: "wide.png",
      mime_type: "image/png",
      file_size: png.length,
    });
    const view = await tg.waitForMessage(alice.id, (m) => m.documentFileId !== undefined);
    expect(view).toMatchObject({ caption: "as a file", documentFileId: sent.document.file_id });
    expect(tg.fileBytes(sent.document.file_id)?.equals(png)).toBe(true);
  });

  it("accepts standard multipart bodies too (a file part named after the field)", async () => {
    tg.userSends(alice, { text: "hi" });
    const form = new FormData();
    form.set("chat_id", String(alice.id));
    form.set("photo", new Blob([makePng(8, 8)], { type: "image/png" }), "x.png");
    const response = await fetch(`${tg.apiRoot}/bot${tg.token}/sendPhoto`, { method: "POST", body: form });
    const body = (await response.json()) as { ok: boolean; result: { photo: { width: number }[] } };
    expect(body.ok).toBe(true);
    expect(body.result.photo[0]?.width).toBe(8);
  });

  it("refuses what Telegram refuses", async () => {
    await expect(apiFor(tg, "42:wrong").getMe()).rejects.toMatchObject({
      error_code: 401,
      description: "Unauthorized",
    });
    const unknown = await fetch(`${tg.apiRoot}/bot${tg.token}/sendHologram`, { method: "POST" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      ok: false,
      error_code: 404,
      description: "Not Found: method not found",
    });

    const api = apiFor(tg);
    await expect(api.sendMessage(777, "nobody here")).rejects.toMatchObject({
      description: "Bad Request: chat not found",
    });
    tg.userSends(alice, { text: "hi" });
    await expect(api.sendMessage(alice.id, "")).rejects.toMatchObject({ error_code: 400 });
    await expect(api.sendMessage(alice.id, "x".repeat(4097))).rejects.toMatchObject({
      description: "Bad Request: message is too long",
    });
    await expect(api.sendMessage(alice.id, "a <cat> prompt", { parse_mode: "HTML" })).rejects.toMatchObject({
      error_code: 400,
      description: expect.stringMatching(/can't parse entities/),
    });
    const ok = await api.sendMessage(alice.id, "<b>queued</b> &lt;1&gt;", { parse_mode: "HTML" });
    expect(ok.text).toBe("queued <1>");
    await expect(api.editMessageText(alice.id, ok.message_id, "queued <1>")).rejects.toMatchObject({
      description: expect.stringMatching(/^Bad Request: message is not modified/),
    });
    const edited = await api.editMessageText(alice.id, ok.message_id, "generating");
    expect(edited).toMatchObject({ text: "generating" });
    await expect(api.editMessageText(alice.id, 999, "x")).rejects.toMatchObject({
      description: "Bad Request: message to edit not found",
    });
    await expect(
      api.sendPhoto(alice.id, new InputFile(Buffer.from("%PDF-1.4 not an image"))),
    ).rejects.toMatchObject({
      description: "Bad Request: IMAGE_PROCESS_FAILED",
    });
    await expect(api.getFile("no-such-file")).rejects.toMatchObject({
      description: "Bad Request: invalid file_id",
    });
    const typed = await fetch(`${tg.apiRoot}/bot${tg.token}/sendMessage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ chat_id: { id: alice.id }, text: "x" }),
    });
    expect(typed.status).toBe(400);
  });

  it("replies to a missing message only with allow_sending_without_reply", async () => {
    const api = apiFor(tg);
    tg.userSends(alice, { text: "hi" });
    await expect(
      api.sendMessage(alice.id, "x", { reply_parameters: { message_id: 99 } }),
    ).rejects.toMatchObject({
      description: "Bad Request: message to be replied not found",
    });
    const sent = await api.sendMessage(alice.id, "x", {
      reply_parameters: { message_id: 99, allow_sending_without_reply: true },
    });
    expect(sent.reply_to_message).toBeUndefined();
  });

  it("never acts on a request whose client hung up while it was in transit", async () => {
    tg.userSends(alice, { text: "one" });
    tg.setLatency(300, "getUpdates");
    const [update] = await apiFor(tg).getUpdates({ timeout: 0 });
    const confirming = new AbortController();
    const pending = fetch(`${tg.apiRoot}/bot${tg.token}/getUpdates?offset=${(update?.update_id ?? 0) + 1}`, {
      signal: confirming.signal,
    }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    confirming.abort();
    await pending;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(tg.pendingUpdates().map((u) => u.update_id)).toEqual([update?.update_id]);
  });

  it("answers 429 with retry_after, which auto-retry honours", async () => {
    const api = apiFor(tg);
    api.config.use(autoRetry({ maxRetryAttempts: 2 }));
    tg.userSends(alice, { text: "hi" });
    tg.failNext("sendMessage", { status: 429, retryAfter: 1 });
    const started = Date.now();
    await api.sendMessage(alice.id, "after the wait");
    const sends = tg.callsTo("sendMessage");
    expect(sends.map((c) => c.status)).toEqual([429, 200]);
    expect(sends[0]?.response).toMatchObject({ error_code: 429, parameters: { retry_after: 1 } });
    expect((sends[1]?.at ?? 0) - (sends[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    tg.failNext("sendMessage", { status: "reset" });
    await api.sendMessage(alice.id, "after a dropped connection");
    expect(tg.callsTo("sendMessage").map((c) => c.status)).toEqual([429, 200, 0, 200]);
    tg.failNext("sendMessage", { status: 500 });
    await expect(apiFor(tg).sendMessage(alice.id, "x")).rejects.toBeInstanceOf(GrammyError);
  });

  it("keeps updates until an offset confirms them, and ends an older poller with 409", async () => {
    const api = apiFor(tg);
    const first = tg.userSends(alice, { text: "one" });
    tg.userSends(alice, { text: "two" });
    const batch = await api.getUpdates({ timeout: 0 });
    expect(batch.map((u) => u.message?.text)).toEqual(["one", "two"]);
    const again = await api.getUpdates({ timeout: 0 });
    expect(again.map((u) => u.message?.text)).toEqual(["one", "two"]);
    const afterOffset = await api.getUpdates({ offset: (batch[0]?.update_id ?? 0) + 1, timeout: 0 });
    expect(afterOffset.map((u) => u.message?.text)).toEqual(["two"]);
    expect(first.message_id).toBe(1);

    const confirmed = (batch[1]?.update_id ?? 0) + 1;
    const longPoll = api.getUpdates({ offset: confirmed, timeout: 5 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = api.getUpdates({ offset: confirmed, timeout: 1 });
    await expect(longPoll).rejects.toMatchObject({ error_code: 409 });
    tg.userSends(alice, { text: "three" });
    expect((await second).map((u) => u.message?.text)).toEqual(["three"]);
  });

  it("delivers to a webhook with the secret header and refuses polling meanwhile", async () => {
    const received: { secret: string | undefined; body: string }[] = [];
    const target = await listenLoopback(async (req, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      received.push({ secret: req.headers["x-telegram-bot-api-secret-token"] as string | undefined, body });
      res.writeHead(received.length === 1 ? 500 : 200).end();
    });
    const fake = await startFakeTelegram({ webhookTarget: () => `${target.origin}/telegram` });
    try {
      const api = apiFor(fake);
      await expect(api.setWebhook("http://insecure.example/hook")).rejects.toMatchObject({ error_code: 400 });
      await api.setWebhook("https://bot.example.test/telegram", { secret_token: "s3cret_-" });
      await expect(api.getUpdates()).rejects.toMatchObject({ error_code: 409 });
      fake.userSends(alice, { text: "via webhook" });
      await waitUntilTrue(() => fake.pendingUpdates().length === 0);
      expect(fake.webhookDeliveries.map((d) => d.status)).toEqual([500, 200]);
      expect(received[1]?.secret).toBe("s3cret_-");
      expect(JSON.parse(received[1]?.body ?? "{}").message.text).toBe("via webhook");
      expect((await api.getWebhookInfo()).url).toBe("https://bot.example.test/telegram");
    } finally {
      await fake.stop();
      await target.close();
    }
  });

  it("injects odd updates as given: the ids kept, a duplicate delivered again, unsubscribed kinds dropped", async () => {
    const bodies: { update_id: number; message?: { text?: unknown } }[] = [];
    const target = await listenLoopback(async (req, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      bodies.push(JSON.parse(body));
      res.writeHead(200).end();
    });
    const fake = await startFakeTelegram({ webhookTarget: () => `${target.origin}/telegram` });
    try {
      await apiFor(fake).setWebhook("https://bot.example.test/telegram", { allowed_updates: ["message"] });
      const odd = {
        update_id: 700_001,
        message: { message_id: 1, date: 0, chat: { id: alice.id, type: "private" }, from: alice, text: 12 },
      };
      expect(fake.injectUpdate(odd, { user: alice })).toBe(700_001);
      expect(fake.injectUpdate(odd)).toBe(700_001);
      expect(fake.injectUpdate({ callback_query: { id: "q1", from: alice, data: "\u0000" } })).toBe(700_002);
      expect(fake.injectUpdate({ message: null })).toBe(700_003);
      await waitUntilTrue(() => fake.pendingUpdates().length === 0);
      expect(bodies.map((b) => [b.update_id, b.message?.text ?? b.message])).toEqual([
        [700_001, 12],
        [700_001, 12],
        [700_003, null],
      ]);
      // The injected message is the user's in their chat, so a bot can reply to it.
      expect(fake.chat(alice.id).map((m) => [m.from, m.message_id])).toEqual([["user", 1]]);
      const reply = await apiFor(fake).sendMessage(alice.id, "ok", { reply_parameters: { message_id: 1 } });
      expect(reply.reply_to_message?.message_id).toBe(1);
    } finally {
      await fake.stop();
      await target.close();
    }
  });

  it("serves files added by a test, and answers callback queries only once", async () => {
    const api = apiFor(tg);
    const fileId = tg.addFile(makePng(4, 4), { mime: "image/png", kind: "photos" });
    const file = await api.getFile(fileId);
    const bytes = Buffer.from(
      await (await fetch(`${tg.apiRoot}/file/bot${tg.token}/${file.file_path}`)).arrayBuffer(),
    );
    expect(bytes.equals(makePng(4, 4))).toBe(true);
    const wrongToken = await fetch(`${tg.apiRoot}/file/bot1:wrong/${file.file_path}`);
    expect(wrongToken.status).toBe(401);

    tg.userSends(alice, { text: "hi" });
    const message = await api.sendMessage(alice.id, "pick", {
      reply_markup: { inline_keyboard: [[{ text: "cancel", callback_data: "cancel" }]] },
    });
    const queryId = tg.userPresses(alice, message.message_id, "cancel");
    const updates = await api.getUpdates({ timeout: 0 });
    expect(updates.map((u) => u.callback_query?.data ?? u.message?.text)).toEqual(["hi", "cancel"]);
    expect(updates[1]?.callback_query).toMatchObject({
      id: queryId,
      message: { message_id: message.message_id },
    });
    await expect(api.answerCallbackQuery(queryId)).resolves.toBe(true);
    await expect(api.answerCallbackQuery(queryId)).rejects.toMatchObject({ error_code: 400 });
  });

  it("describes user photos and documents with Telegram's metadata", async () => {
    const png = makePng(1000, 500);
    const photo = tg.userSends(alice, { photo: png, caption: "make it blue" });
    expect(photo.photo?.at(-1)).toMatchObject({ width: 1000, height: 500, file_size: png.length });
    expect(photo.caption).toBe("make it blue");
    const pdf = tg.userSends(alice, {
      document: Buffer.from("%PDF-1.4"),
      mimeType: "application/pdf",
      fileName: "a.pdf",
    });
    expect(pdf.document).toMatchObject({ mime_type: "application/pdf", file_name: "a.pdf", file_size: 8 });
    const upscale = tg.userSends(alice, { text: "/upscale", replyTo: photo.message_id });
    expect(upscale.entities).toEqual([{ type: "bot_command", offset: 0, length: 8 }]);
    expect(upscale.reply_to_message?.message_id).toBe(photo.message_id);
  });
});

async function waitUntilTrue(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
