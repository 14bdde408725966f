import { type Api, GrammyError } from "grammy";
import { type Locale, type MessageVariables, translate } from "../i18n/index.js";
import type { Logger } from "../observability/logger.js";

/**
 * Every message key the worker shows, in one place (the texts live in app/locales/*.ftl, owned by the
 * bot; the worker only refers to them by these names).
 */
export const workerMessages = {
  generating: "ack-generating",
  retrying: "ack-retrying",
  done: "ack-done",
  resultCaption: "result-caption",
  failed: "job-failed",
  rejected: "job-rejected",
  rejectedContentPolicy: "job-rejected-content-policy",
  deadline: "job-deadline",
  cancelled: "job-cancelled",
  sourceUnavailable: "source-unavailable",
  sourceTooBig: "source-too-big",
  sourceNotImage: "source-not-image",
} as const;

export type WorkerMessage = (typeof workerMessages)[keyof typeof workerMessages];

/** Where a job's user is: their chat, their language and the acknowledgement message, if the bot stored it. */
export interface Conversation {
  chatId: number;
  locale: Locale;
  ackMessageId: number | null;
}

/** Telegram's answer when an edit would not change the text: the user already sees it, so it is success. */
function notModified(error: unknown): boolean {
  return error instanceof GrammyError && /message is not modified/i.test(error.description);
}

/**
 * Talks to the user about their job through the shared Telegram client. Progress goes into the
 * acknowledgement message (edited, best effort: a lost progress edit must not fail a job); an outcome
 * without an image must reach the user, so it falls back to a new message when the edit fails.
 */
export class UserNotifier {
  constructor(
    private readonly telegram: Api,
    private readonly logger: Logger,
  ) {}

  /**
   * Edits the acknowledgement to show progress; never throws. Returns false when there is no
   * acknowledgement to edit yet (the bot stores its id just after enqueueing), so the caller can try later.
   */
  async progress(to: Conversation, key: WorkerMessage, vars?: MessageVariables): Promise<boolean> {
    if (to.ackMessageId === null) return false;
    try {
      await this.telegram.editMessageText(to.chatId, to.ackMessageId, translate(to.locale, key, vars));
    } catch (error) {
      if (!notModified(error)) this.logger.warn({ err: error, key }, "could not edit the acknowledgement");
    }
    return true;
  }

  /** Tells the user how their job ended (without an image): edits the acknowledgement, else sends. */
  async outcome(to: Conversation, key: WorkerMessage, vars?: MessageVariables): Promise<void> {
    const text = translate(to.locale, key, vars);
    if (to.ackMessageId !== null) {
      try {
        await this.telegram.editMessageText(to.chatId, to.ackMessageId, text);
        return;
      } catch (error) {
        if (notModified(error)) return;
        this.logger.warn(
          { err: error, key },
          "could not edit the acknowledgement; sending the outcome instead",
        );
      }
    }
    await this.telegram.sendMessage(to.chatId, text);
  }
}
