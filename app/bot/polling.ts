import { run } from "@grammyjs/runner";
import type { Bot, Context } from "grammy";
import type { Update } from "grammy/types";
import type { Logger } from "../observability/logger.js";

/** Options of {@link startPolling}. */
export interface PollingOptions {
  /** How long {@link Polling.stop} waits for handlers still running. */
  graceMs: number;
  /** The update types the bot handles; others are never fetched. */
  allowedUpdates: readonly Exclude<keyof Update, "update_id">[];
  /**
   * Called when polling has stopped for good on its own: Telegram refused the token (401), another
   * poller or a webhook holds the updates (409), or the network stayed down for the runner's whole retry
   * time. The process should exit so that it is restarted and the reason is seen.
   */
  onFatal: (error: unknown) => void;
}

/** A running long-polling loop. */
export interface Polling {
  /**
   * Stops fetching, waits (up to the grace period) for the handlers of fetched updates, then confirms
   * the last fetched update to Telegram, so the next start does not receive them again.
   */
  stop(): Promise<void>;
}

/**
 * Long polling with @grammyjs/runner (updates handled concurrently). The runner starts every process at
 * offset 0 and only confirms a batch by its *next* getUpdates call, which `stop()` aborts: without the
 * final confirming call, a restarted bot would receive (and answer) the last batch again. grammY's own
 * `bot.stop()` makes the same call; the runner does not.
 */
export function startPolling<C extends Context>(
  bot: Bot<C>,
  logger: Logger,
  options: PollingOptions,
): Polling {
  let lastFetched: number | undefined;
  bot.api.config.use(async (prev, method, payload, signal) => {
    const result = await prev(method, payload, signal);
    if (method === "getUpdates" && result.ok) {
      const last = (result.result as Update[]).at(-1)?.update_id;
      if (last !== undefined) lastFetched = Math.max(last, lastFetched ?? last);
    }
    return result;
  });

  // `silent`: the runner would print each failed fetch with console.error, and grammY's error for it
  // carries the request URL, `…/bot<TOKEN>/getUpdates`. Every failed call is logged (redacted) by the
  // API client's error counter instead (app/telegram/api.ts).
  const runner = run(bot, {
    runner: { fetch: { allowed_updates: [...options.allowedUpdates] }, silent: true },
  });
  runner.task()?.catch(options.onFatal);

  return {
    async stop() {
      await runner.stop();
      const deadline = Date.now() + options.graceMs;
      while (runner.size() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (runner.size() > 0) {
        logger.warn({ unfinished: runner.size() }, "shutdown grace ran out with updates still being handled");
      }
      if (lastFetched === undefined) return;
      await bot.api.getUpdates({ offset: lastFetched + 1, limit: 1, timeout: 0 });
      logger.info({ confirmedUpTo: lastFetched }, "confirmed handled updates to Telegram");
    },
  };
}
