import type { Job } from "bullmq";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import { generationJobSchema } from "../queue/generation-job.js";
import { finalStatuses, type Generation, type GenerationStore } from "../storage/generation-store.js";
import { HandledFailure, LockLostError } from "./generation-processor.js";
import type { OutcomeLog } from "./outcome-log.js";
import { type UserNotifier, workerMessages } from "./user-messages.js";

/**
 * Called for every failed attempt (BullMQ's `failed` event). When the job has failed for good and nobody
 * has told the user (the processor never got to: the job stalled more often than allowed after repeated
 * crashes, or it failed while telling), tells the user first and records it after (see OutcomeLog), so
 * an accepted request never ends in silence, not even while PostgreSQL is down: the decision needs only
 * Redis, and a row PostgreSQL cannot read counts as open. A no-op for failures the processor told.
 */
export function createFailureBackstop(deps: {
  generations: GenerationStore;
  outcomes: OutcomeLog;
  notifier: UserNotifier;
  logger: Logger;
}): (job: Job, error: Error) => Promise<void> {
  return async (job, error) => {
    if (error instanceof HandledFailure || error instanceof LockLostError) return;
    if ((await job.getState()) !== "failed") return;
    const parsed = generationJobSchema.safeParse(job.data);
    if (!parsed.success) {
      deps.logger.error({ jobId: job.id, issues: parsed.error.issues }, "failed job with an invalid payload");
      return;
    }
    const input = parsed.data;
    const told = await deps.outcomes.told(input.generationId);
    if (told !== null) {
      await deps.outcomes.settle(input.generationId, told);
      return;
    }
    let row: Generation | null | undefined;
    try {
      row = await deps.generations.get(input.generationId);
    } catch (readError) {
      deps.logger.warn(
        { err: readError },
        "PostgreSQL unavailable; telling the user without reading the row",
      );
    }
    if (
      row === null ||
      (row !== undefined && (finalStatuses.includes(row.status) || row.resultFileId !== null))
    ) {
      return;
    }
    deps.logger.error(
      { generationId: input.generationId, reason: error.message },
      "job failed without an outcome; telling the user",
    );
    const outcome = { status: "failed" as const, error: `worker: ${error.message}`.slice(0, 500) };
    await deps.notifier.outcome(
      { chatId: input.chatId, locale: input.locale, ackMessageId: row?.ackMessageId ?? null },
      workerMessages.failed,
    );
    await deps.outcomes.record(input.generationId, outcome);
    await deps.outcomes.settle(input.generationId, outcome);
    metrics.jobsFailed.inc({ kind: input.kind, reason: "unhandled" });
  };
}
