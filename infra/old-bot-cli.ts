/**
 * The deploy's old-bot check, run by the program (a local command on the machine running `pulumi up`) right
 * before the bot containers are created, so the new bot never starts while another deployment holds the
 * token. The same read-only calls as preflight's Telegram rows; exit 1 stops `pulumi up` there. The token
 * arrives in the environment as a Pulumi secret and every printed line passes the redactor.
 *
 * Environment: TELEGRAM_BOT_TOKEN, TAPBOT_BOT_DOMAIN, TAPBOT_REPLACE_OLD_BOT ("true"/"false"); optionally
 * TELEGRAM_API_ROOT (another Bot API server) and TAPBOT_POLL_SECONDS (how long to listen for another poller,
 * 1–60, default preflight's 10).
 */
import { z } from "zod";
import { oldBotVerdict } from "./old-bot-verdict.js";
import { Redactor } from "./preflight/redact.js";
import { POLL_SECONDS } from "./preflight/run-preflight.js";
import { botApiCall } from "./preflight/telegram-api.js";
import { telegramRows } from "./preflight/telegram-bot.js";

const envSchema = z.object({
  TELEGRAM_BOT_TOKEN: z
    .string({ error: "is missing: the program passes tapbot:telegramBotToken in it" })
    .min(6, {
      error: "is too short to be a bot token",
    }),
  TAPBOT_BOT_DOMAIN: z.string({ error: "is missing: the program passes tapbot:botDomain in it" }).min(1),
  TAPBOT_REPLACE_OLD_BOT: z
    .stringbool({ error: 'expected "true" or "false" (tapbot:replaceOldBot)' })
    .default(false),
  TELEGRAM_API_ROOT: z
    .url({ error: "expected the Bot API's base URL, like https://api.telegram.org" })
    .optional(),
  TAPBOT_POLL_SECONDS: z.coerce.number().int().min(1).max(60).default(POLL_SECONDS),
});

async function main(): Promise<number> {
  const parsed = envSchema.safeParse(process.env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      console.error(`old-bot check: ${issue.path.join(".")} ${issue.message}`);
    return 2;
  }
  const env = parsed.data;
  const redactor = new Redactor();
  redactor.add(env.TELEGRAM_BOT_TOKEN);
  const rows = await telegramRows(
    botApiCall(env.TELEGRAM_BOT_TOKEN, env.TELEGRAM_API_ROOT, (env.TAPBOT_POLL_SECONDS + 15) * 1000),
    env.TAPBOT_BOT_DOMAIN,
    env.TAPBOT_POLL_SECONDS,
  );
  const verdict = oldBotVerdict(rows, env.TAPBOT_REPLACE_OLD_BOT);
  const print = verdict.exit === 0 ? console.log : console.error;
  for (const line of verdict.lines) print(redactor.redact(`old-bot check: ${line}`));
  return verdict.exit;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Nothing here should throw; if it does, say so without a stack that could hold the URL (and the token).
    console.error(`old-bot check failed: ${error instanceof Error ? error.name : "unknown error"}`);
    process.exitCode = 1;
  },
);
