import { DelayedError, type Job, UnrecoverableError, WaitingError } from "bullmq";
import { type Api, GrammyError, InputFile } from "grammy";
import type { Redis } from "ioredis";
import { z } from "zod";
import type { GenerationKind } from "../config.js";
import { FalHttpError, FalProtocolError } from "../fal/errors.js";
import type { FalClient } from "../fal/fal-client.js";
import { translate } from "../i18n/index.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import type { FalCompletions } from "../queue/fal-completions.js";
import { type FalSlots, slotScore } from "../queue/fal-slots.js";
import { type GenerationJob, generationJobSchema, tierPriority } from "../queue/generation-job.js";
import { cancelFlagKey } from "../queue/generation-queue.js";
import type { ResultCache } from "../queue/result-cache.js";
import { finalStatuses, type Generation, type GenerationStore } from "../storage/generation-store.js";
import { sniffImageType } from "./image-type.js";
import type { Outcome, OutcomeLog } from "./outcome-log.js";
import { pollDelayMs } from "./poll-backoff.js";
import { SourceImageError } from "./source-image.js";
import { type Conversation, type UserNotifier, type WorkerMessage, workerMessages } from "./user-messages.js";

/**
 * Where a job stands, saved in `job.data.step` with `job.updateData` before each move, so a job that
 * is retried or recovered after its worker died resumes at that step instead of starting over:
 * `submit` (upload the source, submit to fal) → `poll` (status requests, spaced by moveToDelayed) →
 * `deliver` (result to the user, once).
 */
const atFal = {
  requestId: z.string(),
  submittedAt: z.number(),
  polls: z.number().int(),
  /** Whether the acknowledgement already says "generating" (it may not exist yet at submit time). */
  announced: z.boolean().default(false),
};
export const stepSchema = z.discriminatedUnion("name", [
  z.object({ name: z.literal("submit"), sourceUrl: z.string().optional() }),
  z.object({ name: z.literal("poll"), ...atFal }),
  z.object({ name: z.literal("deliver"), ...atFal }),
]);
export type Step = z.infer<typeof stepSchema>;

/** A job as stored in the queue: the bot's payload plus the worker's step. */
export type GenerationJobData = GenerationJob & { step?: Step };

/** Telegram's limit for photos; bigger results (upscales) go out as documents. */
const telegramPhotoMaxBytes = 10 * 1024 * 1024;
/** Telegram's answers when an image cannot be a photo (dimensions, size); such an image goes as a file. */
const photoRefusal = /PHOTO_INVALID_DIMENSIONS|PHOTO_SAVE_FILE_INVALID|IMAGE_PROCESS_FAILED|too big/i;

/**
 * A failure already told to the user (and recorded); BullMQ must fail the job without retrying it, and
 * the failure backstop has nothing left to do for it.
 */
export class HandledFailure extends UnrecoverableError {}

/**
 * The job's lock passed to another worker while this one still ran it (its lock was not renewed in
 * time: a stalled event loop, a Redis outage). The other worker owns the job now; this one must not send.
 */
export class LockLostError extends Error {
  override readonly name = "LockLostError";
}

/** The numbers the processor works with. */
export interface ProcessorSettings {
  pollInitialMs: number;
  pollMaxMs: number;
  /** How long fal may take per kind, from submission, before the request is cancelled. */
  deadlineSeconds: Record<GenerationKind, number>;
  /** Largest result image accepted from fal. */
  resultMaxBytes: number;
  /** Largest source image (IMAGE_MAX_BYTES), for the user's message. */
  sourceMaxBytes: number;
  /**
   * How long a job that found no free fal slot sleeps in the delayed set before it asks again; a released
   * slot wakes the first in line at once, so this only bounds the wait when that wake-up is missed.
   */
  slotRetryMs: number;
}

/** Everything the processor uses; one instance of each per process. */
export interface ProcessorDeps {
  fal: FalClient;
  telegram: Api;
  notifier: UserNotifier;
  generations: GenerationStore;
  /** What each user was told, fenced against telling twice (see OutcomeLog). */
  outcomes: OutcomeLog;
  cache: ResultCache;
  redis: Redis;
  /** fal's account limit, shared by every worker (see FalSlots). */
  slots: FalSlots;
  /** Wakes jobs sleeping in the delayed set (the first in line for a slot that was just released). */
  wake: (jobIds: string[]) => Promise<void>;
  /** BullMQ's lock duration (WORKER_LOCK_SECONDS); the send fence renews the lock by this much. */
  lockMs: number;
  /**
   * Aborted when the worker stops and its grace is running out: calls in flight were cut, and a step
   * that fails now hands its job back to the queue (saved step, no attempt counted) instead of failing.
   */
  stopping?: AbortSignal;
  /**
   * fal webhooks (FAL_WEBHOOK_URL): submissions ask fal to post their completion to `url`, the first status
   * poll waits `fallbackMs`, and a completion the webhook recorded goes to delivery without any poll.
   * Undefined: status polls from the first interval on, as without webhooks.
   */
  webhooks?: { url: string; fallbackMs: number; completions: FalCompletions };
  /** Moves the user's photo from Telegram to fal storage; returns the fal URL. */
  uploadSource: (fileId: string) => Promise<string>;
  settings: ProcessorSettings;
  logger: Logger;
  now?: () => number;
  random?: () => number;
}

/** The model input for a job: the prompt, the user's parameters and, for edits and upscales, the source URL. */
function falInput(job: GenerationJob, sourceUrl: string | undefined): Record<string, unknown> {
  const input: Record<string, unknown> = { ...job.params };
  if (job.prompt !== "") input.prompt = job.prompt;
  if (sourceUrl !== undefined) input.image_url = sourceUrl;
  return input;
}

/** How a failure ends: retried by BullMQ, or final with the message the user gets and a metric label. */
type Verdict =
  | { retry: true }
  | { retry: false; reason: string; message: WorkerMessage; vars?: Record<string, string | number> };

function judge(error: unknown, settings: ProcessorSettings): Verdict {
  if (error instanceof SourceImageError) {
    const message =
      error.reason === "too-big"
        ? workerMessages.sourceTooBig
        : error.reason === "not-image"
          ? workerMessages.sourceNotImage
          : workerMessages.sourceUnavailable;
    return {
      retry: false,
      reason: `source-${error.reason}`,
      message,
      vars: { maxMb: Math.round(settings.sourceMaxBytes / 1048576) },
    };
  }
  if (error instanceof FalHttpError && !error.retryable) {
    if (error.status === 400 || error.status === 422) {
      return error.contentPolicy
        ? { retry: false, reason: "content-policy", message: workerMessages.rejectedContentPolicy }
        : {
            retry: false,
            reason: "rejected",
            message: workerMessages.rejected,
            vars: { reason: error.reason },
          };
    }
    return { retry: false, reason: `fal-${error.status}`, message: workerMessages.failed };
  }
  if (error instanceof FalProtocolError)
    return { retry: false, reason: "protocol", message: workerMessages.failed };
  if (error instanceof GrammyError && error.error_code !== 429 && error.error_code < 500) {
    return { retry: false, reason: "telegram", message: workerMessages.failed };
  }
  return { retry: true };
}

/**
 * The step-job processor of the generation queue. Waiting on fal never holds a worker slot: between
 * status requests the job is moved to BullMQ's delayed set (moveToDelayed + DelayedError), so a slot
 * only works for the milliseconds of each step and WORKER_CONCURRENCY bounds work in this process,
 * not requests in flight at fal.
 *
 * Exactly one answer per request: every message that ends a request (the image, or why there is none)
 * is sent only when no outcome is recorded yet (OutcomeLog in Redis, or the row), only while this worker
 * still owns the job's lock (renewed right before the call, so no other worker can take the job while it
 * is on its way), and recorded right after Telegram accepted it. The user is told first and the row
 * follows, so the row is never final before the user knows, and PostgreSQL being down delays the record,
 * never the message. The window that remains (a worker killed between Telegram's answer and the first
 * store's) is measured by `tapbot_outcome_record_seconds`; see app/README.md.
 */
export function createGenerationProcessor(
  deps: ProcessorDeps,
): (job: Job<GenerationJobData>, token?: string) => Promise<void> {
  const now = deps.now ?? Date.now;
  const { settings, generations, notifier, fal, redis, outcomes, slots, webhooks } = deps;

  return async function processGeneration(job, token) {
    const input = generationJobSchema.parse(job.data);
    const id = input.generationId;
    let step: Step = job.data.step === undefined ? { name: "submit" } : stepSchema.parse(job.data.step);
    const log = deps.logger.child({ generationId: id, kind: input.kind, attempt: job.attemptsMade + 1 });
    const deadlineSeconds = settings.deadlineSeconds[input.kind];
    let row: Generation | null | undefined;

    const loadRow = async (): Promise<Generation | null> => {
      row = await generations.get(id);
      return row;
    };
    /**
     * Where to talk to the user. Without PostgreSQL the acknowledgement's id is unknown; the outcome is
     * then sent as a new message rather than not at all.
     */
    const conversation = async (): Promise<Conversation> => {
      let ackMessageId: number | null = null;
      try {
        ackMessageId = (row === undefined ? await loadRow() : row)?.ackMessageId ?? null;
      } catch (error) {
        log.warn({ err: error }, "PostgreSQL unavailable; talking to the user without the acknowledgement");
      }
      return { chatId: input.chatId, locale: input.locale, ackMessageId };
    };
    /**
     * Gives the job's fal slot back (idempotent: a no-op when it holds none) and wakes the first in line.
     * Called wherever the request stops counting at fal: COMPLETED seen, cancelled there, or the job ends.
     */
    const releaseSlot = async (): Promise<void> => {
      const next = await slots.release(id);
      if (next.length > 0) await deps.wake(next);
    };
    const save = async (next: Step): Promise<void> => {
      step = next;
      await job.updateData({ ...input, step: next });
    };
    /**
     * The fence before a call that must happen once (fal's submit, the message that ends a request):
     * renews the job's lock, or throws when another worker owns the job now.
     */
    const fence = async (): Promise<void> => {
      if (token === undefined) return;
      if ((await job.extendLock(token, deps.lockMs)) !== 1) {
        throw new LockLostError(`job ${id} is no longer this worker's; not sending`);
      }
    };
    const cancelAtFal = async (requestId: string): Promise<void> => {
      try {
        log.info({ requestId, answer: await fal.cancel(input.model, requestId) }, "cancelled at fal");
      } catch (error) {
        log.warn({ err: error, requestId }, "could not cancel at fal");
      }
    };
    /**
     * Whether the user already has this request's answer: an outcome in Redis, or a row with the image's
     * file_id or a final status (a row PostgreSQL cannot read counts as not answered).
     */
    const answered = async (): Promise<boolean> => {
      if ((await outcomes.told(id)) !== null) return true;
      try {
        const current = await loadRow();
        return current !== null && (current.resultFileId !== null || finalStatuses.includes(current.status));
      } catch {
        return false;
      }
    };
    /** Tells the user the request ended without an image, then records it (see OutcomeLog); once. */
    const finish = async (
      status: "failed" | "cancelled" | "expired",
      reason: string,
      message: WorkerMessage,
      vars?: Record<string, string | number>,
    ): Promise<void> => {
      const outcome: Outcome = { status, error: reason };
      if (!(await answered())) {
        await fence();
        await notifier.outcome(await conversation(), message, vars);
        await outcomes.record(id, outcome);
        metrics.jobsFailed.inc({ kind: input.kind, reason });
      }
      await outcomes.settle(id, outcome);
      if (step.name !== "submit") await webhooks?.completions.forget(step.requestId);
      await releaseSlot();
    };
    /** Shows "generating" once the bot has stored its acknowledgement (re-reading the row for its id). */
    const announce = async (): Promise<boolean> => {
      await loadRow();
      return notifier.progress(await conversation(), workerMessages.generating);
    };
    /**
     * Parks the job in the delayed set until its next poll, capped at the deadline. Frees the slot. With
     * webhooks the first poll is the fallback (`fallbackMs` after submission): the webhook wakes the job
     * before that. A webhook that came while this step ran found the job active and could not wake it, so
     * the job looks for one itself once parked (the receiver records before it wakes: one of the two sees
     * the other).
     */
    const waitForNextPoll = async (polls: number, submittedAt: number, requestId: string): Promise<never> => {
      const untilDeadline = submittedAt + deadlineSeconds * 1000 - now();
      const nominal =
        webhooks !== undefined && polls === 0
          ? webhooks.fallbackMs
          : pollDelayMs(polls, settings.pollInitialMs, settings.pollMaxMs, deps.random);
      const delay = Math.max(0, Math.min(nominal, untilDeadline + 50));
      await job.moveToDelayed(now() + delay, token);
      if (webhooks !== undefined) {
        try {
          if (await webhooks.completions.completed(requestId)) await deps.wake([id]);
        } catch (error) {
          log.warn({ err: error, requestId }, "could not look for fal's webhook; the fallback poll will");
        }
      }
      throw new DelayedError();
    };

    try {
      // Told it failed already (a rerun after the worker died before recording): record, say nothing.
      const told = await outcomes.told(id);
      if (told !== null && told.status !== "delivered") {
        log.info({ status: told.status }, "the user was told already; recording only");
        await outcomes.settle(id, told);
        await releaseSlot();
        return;
      }
      if (step.name !== "deliver" && (await redis.exists(cancelFlagKey(id))) === 1) {
        if (step.name === "poll") await cancelAtFal(step.requestId);
        await finish("cancelled", "cancelled", workerMessages.cancelled);
        await redis.del(cancelFlagKey(id));
        return;
      }
      for (;;) {
        switch (step.name) {
          case "submit": {
            const current = await loadRow();
            if (current === null || finalStatuses.includes(current.status)) {
              log.info({ status: current?.status ?? "missing" }, "generation already ended; nothing to do");
              await releaseSlot();
              return;
            }
            if (current.falRequestId !== null) {
              // Submitted before, and the row kept the request id while the saved step was lost: poll it.
              step = {
                name: "poll",
                requestId: current.falRequestId,
                submittedAt: current.startedAt?.getTime() ?? now(),
                polls: 0,
                announced: false,
              };
              break;
            }
            // fal's account limit: submit only with a slot; without one, wait in the delayed set (no worker
            // slot held) and keep the place in line, which the score derives from the job itself.
            const slot = await slots.acquire(id, slotScore(tierPriority[input.tier], job.timestamp));
            if (!slot.held) {
              await job.moveToDelayed(now() + settings.slotRetryMs, token);
              throw new DelayedError();
            }
            if (slot.granted) metrics.falSlotWait.observe(Math.max(0, now() - job.timestamp) / 1000);
            const announced = await notifier.progress(await conversation(), workerMessages.generating);
            let sourceUrl = step.sourceUrl;
            if (input.sourceFileId !== undefined && sourceUrl === undefined) {
              sourceUrl = await deps.uploadSource(input.sourceFileId);
              await save({ name: "submit", sourceUrl });
            }
            // The submit fence: a job whose lock lapsed (a stalled event loop) may be running at another
            // worker already, which submits too; fal has no idempotency key, so this one must not.
            await fence();
            const requestId = await fal.submit(input.model, falInput(input, sourceUrl), webhooks?.url);
            const submittedAt = now();
            // Both stores at once: a rerun finds the request id in either and polls it, so a second
            // (billed) submission needs the worker to die before both answered (tapbot_request_id_record_seconds
            // measures that window). The webhook's map from the request to this job too; without it the
            // fallback poll finds the result.
            const answered = performance.now();
            const stores = [
              save({ name: "poll", requestId, submittedAt, polls: 0, announced }),
              generations.markRunning(id, requestId),
            ] as const;
            void Promise.any(stores).then(
              () => metrics.requestIdRecordSeconds.observe((performance.now() - answered) / 1000),
              () => undefined,
            );
            const [saved, recorded, expected] = await Promise.allSettled([
              ...stores,
              webhooks?.completions.expect(requestId, id),
            ]);
            if (saved.status === "rejected") throw saved.reason;
            if (recorded.status === "rejected") {
              log.warn({ err: recorded.reason, requestId }, "could not record the fal request id in the row");
            }
            if (expected.status === "rejected") {
              log.warn(
                { err: expected.reason, requestId },
                "could not map the request to its job for the webhook",
              );
            }
            log.info({ requestId }, "submitted to fal");
            return await waitForNextPoll(0, submittedAt, requestId);
          }
          case "poll": {
            if (!step.announced) step = { ...step, announced: await announce() };
            // fal's signed webhook said it finished: no status request needed.
            const hooked = webhooks !== undefined && (await webhooks.completions.completed(step.requestId));
            if (!hooked) await slots.renew(id);
            const state = hooked ? "COMPLETED" : (await fal.status(input.model, step.requestId)).state;
            const polls = hooked ? step.polls : step.polls + 1;
            if (state === "COMPLETED") {
              metrics.providerLatency.observe({ kind: input.kind }, (now() - step.submittedAt) / 1000);
              metrics.pollsPerJob.observe({ kind: input.kind }, polls);
              await save({ ...step, name: "deliver", polls });
              await releaseSlot();
              break;
            }
            if (now() >= step.submittedAt + deadlineSeconds * 1000) {
              await cancelAtFal(step.requestId);
              metrics.pollsPerJob.observe({ kind: input.kind }, polls);
              await finish("expired", "deadline", workerMessages.deadline, { seconds: deadlineSeconds });
              throw new HandledFailure(`no result from fal within ${deadlineSeconds} s`);
            }
            await save({ ...step, polls });
            return await waitForNextPoll(polls, step.submittedAt, step.requestId);
          }
          case "deliver": {
            await releaseSlot();
            if (!step.announced) await announce();
            await deliver(step.requestId);
            return;
          }
        }
      }
    } catch (error) {
      if (error instanceof DelayedError || error instanceof HandledFailure) throw error;
      if (error instanceof LockLostError) {
        log.warn({ step: step.name }, "lost the job's lock to another worker; leaving the job to it");
        throw error;
      }
      if (deps.stopping?.aborted === true && token !== undefined) {
        // The worker is stopping and cut this step's calls: hand the job back with its saved step.
        log.info({ step: step.name }, "worker stopping; job handed back to the queue");
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (await answered()) {
        // The user has the answer; what failed is bookkeeping after it, which a retry finishes quietly.
        log.warn({ err: error, step: step.name }, "bookkeeping after the answer failed; will retry");
        throw error;
      }
      const verdict = judge(error, settings);
      if (verdict.retry) {
        const attempts = job.opts.attempts ?? 1;
        if (job.attemptsMade + 1 < attempts) {
          log.warn({ err: error, step: step.name }, "step failed; will retry");
          metrics.jobsRetried.inc({ kind: input.kind });
          await notifier.progress(await conversation(), workerMessages.retrying);
          throw error;
        }
        log.error({ err: error, step: step.name }, "step failed on the last attempt");
        if (step.name !== "submit") await cancelAtFal(step.requestId);
        await finish("failed", "exhausted", workerMessages.failed);
        throw new HandledFailure(error instanceof Error ? error.message : String(error));
      }
      log.warn({ err: error, step: step.name, reason: verdict.reason }, "generation failed for good");
      await finish("failed", verdict.reason, verdict.message, verdict.vars);
      throw new HandledFailure(error instanceof Error ? error.message : String(error));
    }

    /**
     * Sends the result once, then records it: the outcome (Redis or the row, whichever answers first),
     * the result cache, "done" on the acknowledgement, and last the row's final status, so a row that
     * says delivered means the user has seen all of it. Sends nothing when the generation ended otherwise
     * (cancelled, expired) before it could be sent.
     */
    async function deliver(requestId: string): Promise<void> {
      const current = await loadRow();
      const told = await outcomes.told(id);
      let fileId = current?.resultFileId ?? (told?.status === "delivered" ? told.resultFileId : null);
      if (fileId === null) {
        if (current === null || finalStatuses.includes(current.status)) {
          log.info({ status: current?.status ?? "missing" }, "generation ended before delivery; not sending");
          return;
        }
        const result = await fal.result(input.model, requestId);
        const bytes = await fal.download(result.url, settings.resultMaxBytes);
        const to = await conversation();
        await fence();
        fileId = await sendImage(to, bytes);
        await outcomes.record(id, { status: "delivered", resultFileId: fileId });
        metrics.jobsCompleted.inc({ kind: input.kind });
        metrics.jobDuration.observe({ kind: input.kind }, (now() - job.timestamp) / 1000);
        log.info({ requestId, bytes: bytes.length }, "delivered");
      }
      // A cancel that came too late (the result was ready) leaves nothing behind either, nor does the webhook.
      await redis.del(cancelFlagKey(id));
      await webhooks?.completions.forget(requestId);
      await deps.cache.set(input.cacheKey, fileId);
      // Read the acknowledgement's id again: the bot may have stored it while the picture was on its way.
      // Either this edit or the bot's (which sees the sent picture when it stores the id) marks it done.
      row = undefined;
      await notifier.progress(await conversation(), workerMessages.done);
      await outcomes.settle(id, { status: "delivered", resultFileId: fileId });
    }

    /**
     * Uploads the image to the user's chat; returns the Telegram file_id for the cache and history. As a
     * photo when Telegram takes it as one; as a file when it is over the 10 MB photo limit or Telegram
     * refuses the photo (an upscale past its width + height ≤ 10000 rule), which delivers nothing.
     */
    async function sendImage(to: Conversation, bytes: Buffer): Promise<string> {
      const type = sniffImageType(bytes.subarray(0, 12));
      if (type === undefined) throw new FalProtocolError("fal's result is not a JPEG, PNG or WebP image");
      const caption = translate(to.locale, workerMessages.resultCaption);
      if (bytes.length <= telegramPhotoMaxBytes) {
        try {
          const message = await deps.telegram.sendPhoto(
            to.chatId,
            new InputFile(bytes, `result.${type.extension}`),
            {
              caption,
            },
          );
          const largest = message.photo.at(-1);
          if (largest === undefined)
            throw new FalProtocolError("Telegram returned a photo message without sizes");
          return largest.file_id;
        } catch (error) {
          if (
            !(
              error instanceof GrammyError &&
              error.error_code === 400 &&
              photoRefusal.test(error.description)
            )
          ) {
            throw error;
          }
          log.warn(
            { description: error.description },
            "Telegram refused the result as a photo; sending it as a file",
          );
        }
      }
      const message = await deps.telegram.sendDocument(
        to.chatId,
        new InputFile(bytes, `result.${type.extension}`),
        {
          caption,
        },
      );
      return message.document.file_id;
    }
  };
}
