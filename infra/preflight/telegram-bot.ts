import { z } from "zod";
import { BOT_WEBHOOK_PATH } from "../components/app.js";
import { type HttpAnswer, HttpUnreachableError } from "./http-get.js";
import { type PreflightRow, row } from "./row.js";

/** Calls one Bot API method with JSON parameters; the adapter holds the token and the API root. */
export type BotApiCall = (method: string, params?: Record<string, unknown>) => Promise<HttpAnswer>;

const answerSchema = z.object({
  ok: z.boolean(),
  result: z.unknown().optional(),
  description: z.string().optional(),
});
const meSchema = z.object({ id: z.number(), username: z.string().optional(), first_name: z.string() });
const webhookSchema = z.object({
  url: z.string(),
  pending_update_count: z.number().optional(),
  last_error_message: z.string().optional(),
});

/** The Bot API answer's description, or the HTTP status when there is none. */
function describe(answer: HttpAnswer): string {
  const parsed = answerSchema.safeParse(answer.body);
  return parsed.success && parsed.data.description !== undefined
    ? `${answer.status} ${parsed.data.description}`
    : `HTTP ${answer.status}`;
}

const HOST = "telegram";

/**
 * The token and the old bot, read only: getMe (a rejected token blocks), getWebhookInfo (a webhook to any
 * other URL than the new bot's is the old bot receiving the updates: block), and without a webhook one
 * getUpdates held open for `pollSeconds` without an offset, so nothing is confirmed: a second poller's next
 * getUpdates ends ours with 409 Conflict (the old bot polling: block). That poller sees one 409 itself, as it
 * would when the new bot started; pending updates are left for whoever takes them.
 */
export async function telegramRows(
  call: BotApiCall,
  botDomain: string,
  pollSeconds: number,
): Promise<PreflightRow[]> {
  const ours = `https://${botDomain}${BOT_WEBHOOK_PATH}`;
  try {
    const me = await call("getMe");
    if (me.status === 401 || me.status === 404) {
      return [
        row(
          "telegram token",
          HOST,
          "block",
          `Telegram refuses the token (${describe(me)})`,
          "copy the token from @BotFather again: pulumi config set --secret telegramBotToken (or TELEGRAM_BOT_TOKEN)",
        ),
      ];
    }
    const meBody = answerSchema.safeParse(me.body);
    const bot = meSchema.safeParse(meBody.success ? meBody.data.result : undefined);
    if (me.status !== 200 || !bot.success) {
      return [
        row(
          "telegram token",
          HOST,
          "warn",
          `getMe answered ${describe(me)}`,
          "run preflight again in a minute",
        ),
      ];
    }
    const rows = [
      row(
        "telegram token",
        HOST,
        "ok",
        `the token is @${bot.data.username ?? bot.data.first_name}'s (id ${bot.data.id})`,
      ),
    ];

    const info = await call("getWebhookInfo");
    const infoBody = answerSchema.safeParse(info.body);
    const webhook = webhookSchema.safeParse(infoBody.success ? infoBody.data.result : undefined);
    if (info.status !== 200 || !webhook.success) {
      rows.push(
        row(
          "telegram webhook",
          HOST,
          "warn",
          `getWebhookInfo answered ${describe(info)}`,
          "run preflight again in a minute",
        ),
      );
      return rows;
    }
    const { url, pending_update_count: pending = 0, last_error_message: lastError } = webhook.data;
    if (url === ours) {
      rows.push(row("telegram webhook", HOST, "ok", `already the new bot's: ${url} (${pending} pending)`));
      return rows;
    }
    if (url !== "") {
      rows.push(
        row(
          "telegram webhook",
          HOST,
          "block",
          `a webhook to ${url} is set: the old bot receives the updates (${pending} pending${lastError === undefined ? "" : `, last error: ${lastError}`})`,
          `stop the old bot for good; the new bot sets ${ours} when it starts`,
        ),
      );
      return rows;
    }
    rows.push(row("telegram webhook", HOST, "ok", `none set; the new bot sets ${ours}`));

    const poll = await call("getUpdates", { timeout: pollSeconds, limit: 1 });
    if (poll.status === 409) {
      rows.push(
        row(
          "telegram poller",
          HOST,
          "block",
          `another process polls with this token: getUpdates was cut off by another (${describe(poll)})`,
          "stop the old bot (its service, container or screen session) and disable it, then run preflight again",
        ),
      );
    } else if (poll.status === 200) {
      const waiting = answerSchema.safeParse(poll.body);
      const count = waiting.success && Array.isArray(waiting.data.result) ? waiting.data.result.length : 0;
      rows.push(
        row(
          "telegram poller",
          HOST,
          "ok",
          `no other poller within ${pollSeconds} s${count > 0 ? `; updates are waiting that nobody takes (the new bot will answer them)` : ""}`,
        ),
      );
    } else {
      rows.push(
        row(
          "telegram poller",
          HOST,
          "warn",
          `getUpdates answered ${describe(poll)}`,
          "run preflight again in a minute",
        ),
      );
    }
    return rows;
  } catch (error) {
    if (!(error instanceof HttpUnreachableError)) throw error;
    return [
      row(
        "telegram",
        HOST,
        "warn",
        error.message,
        "check this machine's internet access, then run preflight again",
      ),
    ];
  }
}
