import { randomUUID } from "node:crypto";
import type { GenerationKind } from "../config.js";
import { metrics } from "../observability/metrics.js";
import { tierPriority } from "../queue/generation-job.js";
import { cacheKeyFor } from "../queue/result-cache.js";
import type { NewGeneration } from "../storage/generation-store.js";
import type { BotContext } from "./context.js";
import { defaultParams } from "./generation-request.js";
import type { ImageRef } from "./input-checks.js";
import type { BotPorts } from "./ports.js";
import { resendImage } from "./resend-image.js";

/** A request that passed the input checks. */
export interface GenerationRequest {
  kind: GenerationKind;
  /** Cleaned prompt; empty for an upscale without words. */
  prompt: string;
  /** The user's image (image-to-image, upscale), by Telegram ids only. */
  source?: ImageRef | undefined;
}

/** Seconds since the update arrived, into the ack latency histogram. */
function observeAckLatency(ctx: BotContext): void {
  metrics.ackLatency.observe((performance.now() - ctx.receivedAt) / 1000);
}

/**
 * Answers a request with a cached result: the image first, then the record of it (delivered, cached).
 * False when Telegram no longer accepts the cached file_id: the request then goes to the queue like a
 * miss, and the worker's delivery replaces the stale entry.
 */
async function deliverFromCache(
  ctx: BotContext,
  ports: BotPorts,
  generation: NewGeneration,
  cachedFileId: string,
): Promise<boolean> {
  const resultFileId = await resendImage(ctx, cachedFileId, ctx.t("result-caption"));
  if (resultFileId === null) return false;
  observeAckLatency(ctx);
  metrics.cacheHits.inc();
  await ports.generations.create(generation);
  await ports.generations.markDelivered(generation.id, { resultFileId, cached: true });
  return true;
}

/**
 * Takes a request that passed the input checks (they run first, so a refused input costs no quota) to
 * the acknowledgement: rate limit (a refusal is told when to retry and goes no further) → result cache (a hit is answered at
 * once with the cached file_id and recorded as delivered, no job) → a `generations` row and a BullMQ job
 * with jobId = generation id and priority by tier → the acknowledgement with the place in the queue, whose
 * message id the worker needs to edit it. If queueing fails the user's quota is given back.
 */
export async function acceptRequest(
  ctx: BotContext,
  ports: BotPorts,
  request: GenerationRequest,
): Promise<void> {
  const user = ctx.user;
  const chatId = ctx.chatId as number;
  const decision = await ports.rateLimit.consume(user.telegramId);
  if (!decision.allowed) {
    metrics.rateLimited.inc();
    await ctx.reply(ctx.t("rate-limited", { seconds: decision.retryAfterSeconds }));
    return;
  }

  const model = ports.settings.models[request.kind];
  const params = defaultParams[request.kind];
  const cacheKey = cacheKeyFor({
    model,
    prompt: request.prompt,
    params,
    sourceFileUniqueId: request.source?.fileUniqueId,
  });
  // What the `generations` row and the job payload both carry.
  const shared = {
    chatId,
    kind: request.kind,
    model,
    prompt: request.prompt,
    params,
    sourceFileId: request.source?.fileId,
    cacheKey,
  };
  const generation: NewGeneration = { id: randomUUID(), userId: user.id, ...shared };

  const cachedFileId = await ports.cache.get(cacheKey);
  if (cachedFileId !== null && (await deliverFromCache(ctx, ports, generation, cachedFileId))) return;

  let position: number;
  try {
    await ports.generations.create(generation);
    ({ position } = await ports.queue.enqueue(
      {
        ...shared,
        generationId: generation.id,
        telegramUserId: user.telegramId,
        locale: ctx.locale,
        tier: user.tier,
      },
      { priority: tierPriority[user.tier] },
    ));
  } catch (error) {
    await ports.rateLimit.refund(user.telegramId, decision.ticket);
    // Best effort: the queueing error below is the one worth logging, not a second one from here.
    await ports.generations
      .markFailed(generation.id, { error: "could not be queued", status: "failed" })
      .catch(() => undefined);
    throw error;
  }
  metrics.jobsEnqueued.inc({ kind: request.kind, tier: user.tier });

  const ack = await ctx.reply(ctx.t("ack-queued", { position }), {
    reply_parameters: { message_id: ctx.msgId as number, allow_sending_without_reply: true },
  });
  observeAckLatency(ctx);
  await ports.generations.setAckMessage(generation.id, ack.message_id);
}
