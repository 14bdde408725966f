import { afterEach } from "vitest";
import { translate } from "../../app/i18n/index.js";
import type { AppStack } from "../support/app-stack.js";
import type { FalSubmission } from "../support/fake-fal.js";
import { ScriptedUser } from "../support/scripted-user.js";
import { waitUntil } from "../support/wait-until.js";

/** What the bot says in English for `key`: the text a user with an English Telegram sees. */
export function en(key: string, vars: Record<string, string | number> = {}): string {
  return translate("en", key, vars);
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The English text of `key` as a pattern, with each of `numbers` standing for any number. */
export function enPattern(key: string, numbers: readonly string[]): RegExp {
  const vars = Object.fromEntries(numbers.map((name, i) => [name, `@@${i}@@`]));
  const escaped = escapeRegExp(en(key, vars)).replace(/@@\d+@@/g, "(\\d+(?:\\.\\d+)?)");
  return new RegExp(`^${escaped}$`);
}

let nextUserId = 6_100_000 + Math.floor(Math.random() * 100_000) * 10;

/**
 * A new user with an id no other test uses (rate limits and chats stay apart), English by default;
 * `languageCode` "" means the client reported none.
 */
export function newUser(stack: AppStack, firstName: string, languageCode = "en"): ScriptedUser {
  nextUserId += 1;
  return new ScriptedUser(stack.telegram, {
    id: nextUserId,
    first_name: firstName,
    username: `user_${nextUserId}`,
    ...(languageCode === "" ? {} : { language_code: languageCode }),
  });
}

/** Prints every app process's log tail when a test fails, so a failure explains itself. */
export function dumpLogsOnFailure(stack: () => AppStack | undefined): void {
  afterEach((ctx) => {
    if (ctx.task.result?.state === "fail") process.stderr.write(`\n${stack()?.logs(80) ?? "(no stack)"}\n`);
  });
}

export { sleep } from "../support/http-kit.js";

/** The `generations` rows of one Telegram user, oldest first. */
export async function generationsOf(stack: AppStack, telegramId: number): Promise<Record<string, unknown>[]> {
  const { rows } = await stack.db.query(
    `SELECT g.* FROM generations g JOIN users u ON u.id = g.user_id
      WHERE u.telegram_id = $1 ORDER BY g.created_at`,
    [telegramId],
  );
  return rows;
}

/**
 * The user's rows once every one of them satisfies `settled`. The worker tells the user first and
 * records after (see app/worker/outcome-log.ts), so a row follows what the chat shows by a moment.
 */
export function rowsOnceSettled(
  stack: AppStack,
  telegramId: number,
  settled: (row: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>[]> {
  return waitUntil(
    async () => {
      const rows = await generationsOf(stack, telegramId);
      return rows.length > 0 && rows.every(settled) ? rows : undefined;
    },
    { timeoutMs: 10_000, describe: () => `the rows of user ${telegramId} recorded` },
  );
}

/** fal submissions whose prompt is exactly `prompt`. */
export function submissionsWithPrompt(stack: AppStack, prompt: string) {
  return stack.fal.submissions.filter((s) => s.input.prompt === prompt);
}

/** Waits until fal has received a submission whose prompt is exactly `prompt`, and returns it. */
export function waitForSubmission(
  stack: AppStack,
  prompt: string,
  timeoutMs = 10_000,
): Promise<FalSubmission> {
  return waitUntil(async () => submissionsWithPrompt(stack, prompt)[0], {
    timeoutMs,
    describe: () => "the job submitted to fal",
  });
}
