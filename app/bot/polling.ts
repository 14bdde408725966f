import { type Bot, BotError, type Context, GrammyError } from "grammy";
import type { Update } from "grammy/types";
import type { Logger } from "../observability/logger.js";
import { apiSignal } from "../telegram/api.js";
import { worthRedelivering } from "./update-log.js";

/** Options of {@link startPolling}. */
export interface PollingOptions {
  /** How long {@link Polling.stop} waits for the batch being handled. */
  graceMs: number;
  /** The update types the bot handles; others are never fetched. */
  allowedUpdates: readonly Exclude<keyof Update, "update_id">[];
  /** Seconds one getUpdates waits for updates (Telegram's long polling). @defaultValue 25 */
  longPollSeconds?: number;
  /** First wait after a failed getUpdates, doubled per failure up to {@link maxBackoffMs}. @defaultValue 250 */
  minBackoffMs?: number;
  /** @defaultValue 5000 */
  maxBackoffMs?: number;
  /**
   * Called when polling has stopped for good on its own: Telegram refused the token (401). The process
   * should exit so that it is restarted and the reason is seen.
   */
  onFatal: (error: unknown) => void;
}

/** A running long-polling loop. */
export interface Polling {
  /**
   * Stops fetching and waits (up to the grace period) for the batch being handled. When it finished,
   * confirms it to Telegram, so the next start does not receive it again; when it did not, leaves it
   * unconfirmed, so the next start handles what was left (handled updates are skipped by the update log).
   */
  stop(): Promise<void>;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** Updates that cannot even be confirmed (no numeric id) are dropped with a log line, not handled. */
function validUpdates(updates: unknown, logger: Logger): Update[] {
  if (!Array.isArray(updates)) return [];
  return updates.filter((update): update is Update => {
    const ok = Number.isSafeInteger((update as { update_id?: unknown } | null)?.update_id);
    if (!ok) logger.warn("getUpdates returned an update without an update_id; ignored");
    return ok;
  });
}

/**
 * Long polling for local runs (production uses the webhook), with the offset confirmed **only after a
 * batch is handled**: each getUpdates names the offset after the last batch whose handlers all ended, so
 * a bot that dies mid-batch gets the batch again at its next start instead of losing it. The updates of
 * a batch are handled concurrently. A failed getUpdates (5xx, network, 429) is retried after 250 ms,
 * doubling to 5 s, instead of the Bot API client's long waits (a 409, another poller or a webhook, is
 * retried the same way and logged each time); 401 (a revoked token) stops polling and calls `onFatal`.
 * Failed calls are logged (redacted) by the API client's error counter; nothing is printed to the console.
 */
export function startPolling<C extends Context>(
  bot: Bot<C>,
  logger: Logger,
  options: PollingOptions,
): Polling {
  const longPoll = options.longPollSeconds ?? 25;
  const minBackoff = options.minBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 5_000;
  const stopping = new AbortController();
  let offset: number | undefined;
  let batch: Promise<boolean> | undefined;

  /** Handles a batch; false when an update failed before its handler could end (claim, Redis). */
  const handle = async (updates: Update[]): Promise<boolean> => {
    const results = await Promise.all(
      updates.map((update) =>
        bot.handleUpdate(update).then(
          () => true,
          (error: unknown) => {
            // Handler errors end in the bot's error boundary; what reaches here failed outside it: a store
            // outage (the batch is fetched again) or something no retry fixes (confirmed, logged).
            const cause = error instanceof BotError ? error.error : error;
            if (!worthRedelivering(cause)) {
              logger.error(
                { err: cause, updateId: update.update_id },
                "update failed outside the handlers; confirmed so that it cannot hold up the ones behind it",
              );
              return true;
            }
            logger.error({ err: cause, updateId: update.update_id }, "update not handled; fetching it again");
            return false;
          },
        ),
      ),
    );
    return results.every(Boolean);
  };

  const loop = async (): Promise<void> => {
    let backoff = minBackoff;
    while (!stopping.signal.aborted) {
      let updates: Update[];
      try {
        const fetched = await bot.api.getUpdates(
          {
            ...(offset === undefined ? {} : { offset }),
            timeout: longPoll,
            allowed_updates: [...options.allowedUpdates],
          },
          apiSignal(AbortSignal.any([stopping.signal, AbortSignal.timeout((longPoll + 15) * 1000)])),
        );
        updates = validUpdates(fetched, logger);
        backoff = minBackoff;
      } catch (error) {
        if (stopping.signal.aborted) break;
        if (error instanceof GrammyError && error.error_code === 401) {
          options.onFatal(error);
          return;
        }
        logger.warn({ err: error, retryInMs: backoff }, "getUpdates failed; retrying");
        await sleep(backoff, stopping.signal);
        backoff = Math.min(backoff * 2, maxBackoff);
        continue;
      }
      if (updates.length === 0) continue;
      batch = handle(updates);
      const handled = await batch;
      if (handled) {
        offset = (updates.at(-1) as Update).update_id + 1;
      } else {
        // Fetch the same batch again: what was handled is skipped, what failed gets another try.
        await sleep(backoff, stopping.signal);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  };
  const running = loop().catch((error: unknown) => logger.error({ err: error }, "polling loop failed"));

  return {
    async stop() {
      stopping.abort();
      const current = batch;
      let finished = true;
      if (current !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), options.graceMs);
        });
        finished = await Promise.race([current.then(() => true), expired]);
        clearTimeout(timer);
      }
      if (!finished) {
        logger.warn("shutdown grace ran out with updates still being handled; leaving them unconfirmed");
        return;
      }
      await running;
      if (offset === undefined) return;
      await bot.api.getUpdates({ offset, limit: 1, timeout: 0 });
      logger.info({ confirmedUpTo: offset - 1 }, "confirmed handled updates to Telegram");
    },
  };
}
