import { Composer } from "grammy";
import type { Generation } from "../../storage/generation-store.js";
import type { BotContext } from "../context.js";
import { estimateMinutes } from "../generation-request.js";
import type { BotPorts } from "../ports.js";
import { resendImage } from "../resend-image.js";

/** Telegram's caption limit. */
const captionMax = 1024;

function kindLabel(ctx: BotContext, generation: Pick<Generation, "kind">): string {
  return ctx.t(`kind-${generation.kind}`);
}

/**
 * The status line of one active job: its place in line for a fal slot and an estimate while waiting,
 * "drawing" once submitted.
 */
async function statusLine(ctx: BotContext, ports: BotPorts, generation: Generation): Promise<string> {
  const kind = kindLabel(ctx, generation);
  if (generation.status === "running") return ctx.t("status-running", { kind });
  const position = await ports.queue.positionOf(generation.id);
  if (position === null) return ctx.t("status-waiting", { kind });
  const limit = ports.settings.falConcurrency;
  const inUse = (await ports.queue.slotUse())?.inUse ?? limit;
  const minutes = estimateMinutes(position, limit, inUse, ports.settings.falSlotSeconds);
  return ctx.t("status-queued", { kind, position, minutes });
}

/**
 * Tells the user their job ended, in the acknowledgement the worker would otherwise have edited (a job
 * removed from the queue never reaches a worker). A failed edit (message deleted, too old) is not worth
 * an apology: the reply to /cancel already says it.
 */
async function markAckCancelled(ctx: BotContext, generation: Generation): Promise<void> {
  if (generation.ackMessageId === null) return;
  await ctx.api
    .editMessageText(generation.chatId, generation.ackMessageId, ctx.t("job-cancelled"))
    .catch(() => undefined);
}

/** /status, /cancel and /history: what the user has asked for so far. */
export function jobHandlers(ports: BotPorts): Composer<BotContext> {
  const composer = new Composer<BotContext>();

  composer.command("status", async (ctx) => {
    const active = await ports.generations.listActive(ctx.user.id);
    if (active.length === 0) {
      await ctx.reply(ctx.t("status-empty"));
      return;
    }
    const lines = await Promise.all(active.map((generation) => statusLine(ctx, ports, generation)));
    await ctx.reply([ctx.t("status-header"), ...lines].join("\n"));
  });

  composer.command("cancel", async (ctx) => {
    const active = await ports.generations.listActive(ctx.user.id);
    const lines: string[] = [];
    for (const generation of active) {
      const outcome = await ports.queue.requestCancel(generation.id);
      const kind = kindLabel(ctx, generation);
      if (outcome === "removed") {
        await ports.generations.markFailed(generation.id, {
          error: "cancelled by the user",
          status: "cancelled",
        });
        await markAckCancelled(ctx, generation);
        lines.push(ctx.t("cancel-done", { kind }));
      } else if (outcome === "signalled") {
        lines.push(ctx.t("cancel-requested", { kind }));
      }
    }
    await ctx.reply(lines.length === 0 ? ctx.t("cancel-none") : lines.join("\n"));
  });

  composer.command("history", async (ctx) => {
    const recent = (await ports.generations.listRecent(ctx.user.id, 10)).filter(
      (g) => g.resultFileId !== null,
    );
    if (recent.length === 0) {
      await ctx.reply(ctx.t("history-empty"));
      return;
    }
    const caption = (g: Generation) => (g.prompt === "" ? kindLabel(ctx, g) : g.prompt).slice(0, captionMax);
    // One image each, newest first: re-sending a file_id uploads nothing, and the shared client's
    // auto-retry waits out Telegram's per-chat flood limit if ten in a row trip it. A file_id Telegram
    // no longer knows is skipped.
    for (const generation of recent) {
      await resendImage(ctx, generation.resultFileId as string, caption(generation));
    }
  });

  return composer;
}
