import type { PreflightRow } from "./preflight/row.js";

/** The rows that find another deployment of the bot (rather than a bad token). */
const REPLACEABLE = new Set(["telegram webhook", "telegram poller"]);

/** What the deploy's old-bot check decided, and the lines it prints. */
export interface OldBotVerdict {
  /** 0: the new bot may start; 1: stop the deploy before it does. */
  exit: 0 | 1;
  lines: string[];
}

/**
 * Judges preflight's Telegram rows (token, webhook, poller) for the deploy itself, right before the new bot
 * starts. Two bots on one token take the updates from each other: the new one's setWebhook silences an old
 * poller (every getUpdates then fails with 409) until the old one deletes the webhook on its next start, and
 * an old webhook owner takes the updates back whenever it re-registers. So a block row stops the deploy,
 * unless the owner said `tapbot:replaceOldBot` (he stopped the old bot, or wants the new one to win): then the
 * new bot's setWebhook replaces whatever was there, and the lines say what it replaced. A check that could not
 * run (Telegram unreachable from this machine: warn) lets the deploy go on and says so, since the servers may
 * well reach Telegram and `npm run preflight` is where the owner looks first.
 */
export function oldBotVerdict(rows: readonly PreflightRow[], replaceOldBot: boolean): OldBotVerdict {
  const blocks = rows.filter((r) => r.status === "block");
  const rest = rows.filter((r) => r.status !== "block").map((r) => `${r.check}: ${r.found}`);
  if (blocks.length === 0) return { exit: 0, lines: rest };
  // Only another deployment can be replaced; a token Telegram refuses stops the deploy whatever the stack says.
  if (replaceOldBot && blocks.every((r) => REPLACEABLE.has(r.check))) {
    return {
      exit: 0,
      lines: [
        ...rest,
        ...blocks.map(
          (r) => `${r.check}: ${r.found}; replaced (tapbot:replaceOldBot): the new bot takes the updates`,
        ),
      ],
    };
  }
  return {
    exit: 1,
    lines: [
      ...rest,
      ...blocks.map((r) => `${r.check}: ${r.found}`),
      ...blocks.map((r) => r.todo).filter((todo) => todo !== ""),
      "the new bot was not started. When the old one is stopped for good, run `pulumi up` again; to start the new bot anyway, pulumi config set replaceOldBot true",
    ],
  };
}
