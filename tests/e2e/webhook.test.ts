import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppProcess, type AppStack, startAppStack } from "../support/app-stack.js";
import { freePort } from "../support/free-port.js";
import { waitUntil } from "../support/wait-until.js";
import { dumpLogsOnFailure, en, enPattern, generationsOf, newUser, sleep } from "./e2e-kit.js";

/**
 * Webhook mode: the bot registers WEBHOOK_URL with its secret; the fake Telegram delivers updates there (to
 * the bot's own port, as the TLS proxy in front of it would), and anyone else posting to it is refused.
 */
const publicUrl = "https://tapbot.example.test/telegram/webhook";
const secret = randomBytes(24).toString("base64url");
let stack: AppStack;
let bot: AppProcess;
/** Ports of the bot replicas behind the (simulated) proxy, which deals deliveries out in turn. */
const replicaPorts: number[] = [];
const deliveriesPerPort = new Map<number, number>();
let turn = 0;
dumpLogsOnFailure(() => stack);

function webhookEnv(port: number): Record<string, string> {
  return { BOT_MODE: "webhook", WEBHOOK_URL: publicUrl, WEBHOOK_SECRET: secret, HTTP_PORT: String(port) };
}

beforeAll(async () => {
  replicaPorts.push(await freePort());
  stack = await startAppStack({
    telegram: {
      webhookTarget: (url) => {
        const port = replicaPorts[turn++ % replicaPorts.length] as number;
        deliveriesPerPort.set(port, (deliveriesPerPort.get(port) ?? 0) + 1);
        return `http://127.0.0.1:${port}${new URL(url).pathname}`;
      },
    },
  });
  bot = await stack.startBot(webhookEnv(replicaPorts[0] as number));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

describe("webhook mode", () => {
  it("registers the webhook with its secret and handles updates Telegram delivers", async () => {
    expect(stack.telegram.webhook()).toEqual({ url: publicUrl, secretToken: secret });
    const quinn = newUser(stack, "Quinn");
    const hello = quinn.says("/start");
    const welcome = await quinn.nextBotMessage(hello, () => true);
    expect(welcome.text?.startsWith(en("start-welcome", { name: "Quinn" }))).toBe(true);
    await waitUntil(async () => (stack.telegram.pendingUpdates().length === 0 ? true : undefined), {
      timeoutMs: 5_000,
      describe: () => "the update confirmed by a 2xx answer",
    });
    expect(stack.telegram.webhookDeliveries.map((d) => d.status)).toEqual([200]);
  });

  it("answers 401 to a request with a wrong or missing secret, and handles nothing from it", async () => {
    const forged = newUser(stack, "Mallory");
    const update = {
      update_id: 999_999_001,
      message: {
        message_id: 1,
        date: Math.floor(Date.now() / 1000),
        chat: { id: forged.id, type: "private", first_name: "Mallory" },
        from: { id: forged.id, is_bot: false, first_name: "Mallory", language_code: "en" },
        text: "a forged prompt",
      },
    };
    const post = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${bot.port}${new URL(publicUrl).pathname}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(update),
      });
    expect((await post({ "x-telegram-bot-api-secret-token": "wrong-secret" })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    await sleep(500);
    expect(
      stack.telegram.callsTo("sendMessage").filter((c) => Number(c.params.chat_id) === forged.id),
    ).toHaveLength(0);
    const { rows } = await stack.db.query("SELECT 1 FROM users WHERE telegram_id = $1", [forged.id]);
    expect(rows).toHaveLength(0);
    expect(await generationsOf(stack, forged.id)).toHaveLength(0);
  });

  it("two replicas share one rate limit: of 11 requests split between them, one is refused", async () => {
    const second = await stack.startBot(webhookEnv(await freePort()));
    replicaPorts.push(second.port);
    deliveriesPerPort.clear();
    const vera = newUser(stack, "Vera");
    const requests = Array.from({ length: 11 }, (_, i) => vera.says(`a glass bird number ${i + 1}`));
    const first = requests[0] as (typeof requests)[number];
    const rateLimited = enPattern("rate-limited", ["seconds"]);
    const acked = () =>
      requests.filter((request) =>
        vera
          .botMessagesAfter(first)
          .some((view) => view.message.reply_to_message?.message_id === request.message_id),
      );
    await waitUntil(
      async () =>
        acked().length >= 10 && vera.botMessagesAfter(first).some((view) => rateLimited.test(view.text ?? ""))
          ? true
          : undefined,
      {
        timeoutMs: 15_000,
        describe: () => `10 acknowledgements and a refusal; got ${acked().length} acknowledgements`,
      },
    );
    await sleep(500);
    expect(acked()).toHaveLength(10);
    expect(vera.botMessagesAfter(first).filter((view) => rateLimited.test(view.text ?? ""))).toHaveLength(1);
    expect([...deliveriesPerPort.values()].every((n) => n >= 5)).toBe(true);
    expect(await generationsOf(stack, vera.id)).toHaveLength(10);
  }, 60_000);
});
