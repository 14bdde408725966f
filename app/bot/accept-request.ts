import type { GenerationKind } from "../config.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import { tierPriority } from "../queue/generation-job.js";
import { cacheKeyFor } from "../queue/result-cache.js";
import { finalStatuses, type Generation, type NewGeneration } from "../storage/generation-store.js";
import type { BotContext } from "./context.js";
import type { QuotaDecision } from "./generation-quota.js";
import { defaultParams, estimateMinutes, generationIdFor } from "./generation-request.js";
import type { ImageRef } from "./input-checks.js";
import type { BotPorts } from "./ports.js";
import { resendImage } from "./resend-image.js";
import { isStoreOutage } from "./store-outage.js";

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
 * The acknowledgement with the place in the queue, and its message id on the row (the worker edits it).
 * When every fal slot is taken, so that the job will wait for one, it also says about how long.
 * The request is queued by now, so nothing here may turn into an apology: a failure to send or to record
 * the acknowledgement is logged, and the worker still delivers (it sends its messages anew when it has
 * no acknowledgement to edit).
 */
async function acknowledge(
  ctx: BotContext,
  ports: BotPorts,
  logger: Logger,
  generationId: string,
  position: number,
): Promise<void> {
  try {
    const limit = ports.settings.falConcurrency;
    const inUse = (await ports.queue.slotUse())?.inUse ?? 0;
    const text =
      position > limit - inUse
        ? ctx.t("ack-queued-wait", {
            position,
            minutes: estimateMinutes(position, limit, inUse, ports.settings.falSlotSeconds),
          })
        : ctx.t("ack-queued", { position });
    const ack = await ctx.reply(text, {
      reply_parameters: { message_id: ctx.msgId as number, allow_sending_without_reply: true },
    });
    observeAckLatency(ctx);
    if (await ports.generations.setAckMessage(generationId, ack.message_id)) {
      // The picture went out before the acknowledgement's id was stored (a slow Telegram answer), so the
      // worker could not mark it done; without this it would still say "will update when I start".
      await ctx.api.editMessageText(ack.chat.id, ack.message_id, ctx.t("ack-done")).catch(() => undefined);
    }
  } catch (error) {
    logger.warn(
      { err: error, generationId },
      "request queued, but its acknowledgement could not be sent or recorded",
    );
  }
}

/** Whole hours and the minutes past them, rounded up to the minute, for "in 3 h 12 min". */
function hoursAndMinutes(seconds: number): { hours: number; minutes: number } {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  return { hours: Math.floor(minutes / 60), minutes: minutes % 60 };
}

/**
 * Tells the user which spending cap refused the request and when it lifts. The hour's first refusal by the
 * global budget is also logged for the owner (once across replicas), with the counter for alerts.
 */
async function refuseOverQuota(
  ctx: BotContext,
  logger: Logger,
  refusal: Extract<QuotaDecision, { allowed: false }>,
): Promise<void> {
  metrics.quotaRefused.inc({ reason: refusal.reason === "daily-quota" ? "daily_quota" : "hourly_budget" });
  if (refusal.reason === "daily-quota") {
    await ctx.reply(
      ctx.t("quota-daily-used", { limit: refusal.limit, ...hoursAndMinutes(refusal.resetsInSeconds) }),
    );
    return;
  }
  if (refusal.pausedNow) {
    logger.warn(
      { budgetPerHour: refusal.limit, resumesInSeconds: refusal.resetsInSeconds },
      "hourly generation budget spent: new requests are paused until the next UTC hour (GENERATION_BUDGET_PER_HOUR)",
    );
  }
  await ctx.reply(
    ctx.t("generation-paused", { minutes: Math.max(1, Math.ceil(refusal.resetsInSeconds / 60)) }),
  );
}

/**
 * The same message again (Telegram redelivered it after the process that handled it died): continue
 * where that process stopped, without a second rate-limit charge, row or job. A request that ended or
 * was acknowledged needs nothing more; one that has a row but no acknowledgement is (re-)enqueued, which
 * adds nothing if its job exists (jobId = generation id), and acknowledged.
 */
async function resumeRequest(
  ctx: BotContext,
  ports: BotPorts,
  logger: Logger,
  row: Generation,
): Promise<void> {
  if (finalStatuses.includes(row.status) || row.ackMessageId !== null) {
    logger.info({ generationId: row.id, status: row.status }, "request accepted before; nothing to repeat");
    return;
  }
  const { position } = await ports.queue.enqueue(
    {
      generationId: row.id,
      telegramUserId: ctx.user.telegramId,
      chatId: row.chatId,
      kind: row.kind,
      model: row.model,
      prompt: row.prompt,
      params: row.params,
      sourceFileId: row.sourceFileId ?? undefined,
      cacheKey: row.cacheKey,
      locale: ctx.locale,
      tier: ctx.user.tier,
    },
    { priority: tierPriority[ctx.user.tier] },
  );
  logger.info({ generationId: row.id }, "request accepted before its acknowledgement; resuming");
  await acknowledge(ctx, ports, logger, row.id, position);
}

/**
 * Takes a request that passed the input checks (they run first, so a refused input costs no quota) to
 * the acknowledgement: rate limit (a refusal is told when to retry and goes no further) → result cache (a
 * hit is answered at once with the cached file_id and recorded as delivered, no job, no quota) → the
 * spending caps (the user's daily quota by tier, everyone's hourly budget; a refusal says which and when
 * it lifts, and gives the rate-limit place back) → a `generations` row and a BullMQ job, both keyed by the
 * generation id derived from the message, with priority by tier → the acknowledgement with the place in
 * the queue. If queueing fails the rate-limit place and the quota are given back, unless the row exists
 * and Redis was only restarting: the redelivered update then resumes from the row, charged once.
 * The same message handled again (redelivered after a crash) resumes instead of starting over.
 */
export async function acceptRequest(
  ctx: BotContext,
  ports: BotPorts,
  logger: Logger,
  request: GenerationRequest,
): Promise<void> {
  const user = ctx.user;
  const chatId = ctx.chatId as number;
  const generationId = generationIdFor(chatId, ctx.msgId as number);
  const existing = await ports.generations.get(generationId);
  if (existing !== null) return resumeRequest(ctx, ports, logger, existing);

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
  const generation: NewGeneration = { id: generationId, userId: user.id, ...shared };

  const cachedFileId = await ports.cache.get(cacheKey);
  if (cachedFileId !== null && (await deliverFromCache(ctx, ports, generation, cachedFileId))) return;

  // Only a request that will reach fal is charged: a cache hit above costs nothing.
  const quota = await ports.quota.consume(user.telegramId, user.tier);
  if (!quota.allowed) {
    // Refused, so it does not count against the per-minute limit either.
    await ports.rateLimit.refund(user.telegramId, decision.ticket);
    await refuseOverQuota(ctx, logger, quota);
    return;
  }

  let position: number;
  let created = false;
  try {
    await ports.generations.create(generation);
    created = true;
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
    if (created && isStoreOutage(error)) {
      // Redis is restarting: the update will be delivered again (see apologiseOnError) and resume from
      // the row (resumeRequest), already charged, so the charge and the row stay as they are.
      throw error;
    }
    // Best effort, all: the queueing error below is the one worth logging, not a second one from here.
    await ports.rateLimit.refund(user.telegramId, decision.ticket).catch(() => undefined);
    await ports.quota.refund(user.telegramId, quota.ticket).catch(() => undefined);
    if (created) {
      await ports.generations
        .markFailed(generation.id, { error: "could not be queued", status: "failed" })
        .catch(() => undefined);
    }
    throw error;
  }
  metrics.jobsEnqueued.inc({ kind: request.kind, tier: user.tier });
  await acknowledge(ctx, ports, logger, generation.id, position);
}
