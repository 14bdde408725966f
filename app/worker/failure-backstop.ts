import type { Job } from "bullmq";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import { generationJobSchema } from "../queue/generation-job.js";
import { finalStatuses, type GenerationStore } from "../storage/generation-store.js";
import { type UserNotifier, workerMessages } from "./user-messages.js";

/**
 * Called for every failed attempt (BullMQ's `failed` event). When the job has failed for good and its row
 * still says queued or running, nobody has told the user: the processor never got to (the job stalled
 * more often than allowed after repeated crashes) or failed while telling. Records the failure and tells
 * the user, so an accepted request never ends in silence. A no-op for failures the processor handled.
 */
export function createFailureBackstop(deps: {
  generations: GenerationStore;
  notifier: UserNotifier;
  logger: Logger;
}): (job: Job, error: Error) => Promise<void> {
  return async (job, error) => {
    if ((await job.getState()) !== "failed") return;
    const parsed = generationJobSchema.safeParse(job.data);
    if (!parsed.success) {
      deps.logger.error({ jobId: job.id, issues: parsed.error.issues }, "failed job with an invalid payload");
      return;
    }
    const input = parsed.data;
    const row = await deps.generations.get(input.generationId);
    if (row === null || finalStatuses.includes(row.status)) return;
    deps.logger.error(
      { generationId: input.generationId, reason: error.message },
      "job failed without an outcome; telling the user",
    );
    await deps.generations.markFailed(input.generationId, {
      status: "failed",
      error: `worker: ${error.message}`.slice(0, 500),
    });
    await deps.notifier.outcome(
      { chatId: input.chatId, locale: input.locale, ackMessageId: row.ackMessageId },
      workerMessages.failed,
    );
    metrics.jobsFailed.inc({ kind: input.kind, reason: "unhandled" });
  };
}
