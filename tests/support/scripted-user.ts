import type { Message } from "grammy/types";
import type { ChatMessageView, FakeTelegram, FakeUser } from "./fake-telegram.js";

/**
 * A Telegram user driven by a test or the demo: sends through the fake Telegram and reads the chat the way
 * the person would see it (bot messages, their latest text after edits, photos).
 */
export class ScriptedUser {
  constructor(
    readonly telegram: FakeTelegram,
    readonly profile: FakeUser,
  ) {}

  get id(): number {
    return this.profile.id;
  }

  says(text: string): Message {
    return this.telegram.userSends(this.profile, { text });
  }

  repliesTo(messageId: number, text: string): Message {
    return this.telegram.userSends(this.profile, { text, replyTo: messageId });
  }

  sendsPhoto(photo: Buffer, caption?: string): Message {
    return this.telegram.userSends(this.profile, { photo, ...(caption === undefined ? {} : { caption }) });
  }

  sendsDocument(document: Buffer, mimeType: string, fileName: string, caption?: string): Message {
    return this.telegram.userSends(this.profile, {
      document,
      mimeType,
      fileName,
      ...(caption === undefined ? {} : { caption }),
    });
  }

  /** Bot messages in this chat sent after `message`, oldest first. */
  botMessagesAfter(message: Message): ChatMessageView[] {
    return this.telegram
      .chat(this.id)
      .filter((view) => view.from === "bot" && !view.deleted && view.message_id > message.message_id);
  }

  /** Photos the bot sent after `message`. */
  photosAfter(message: Message): ChatMessageView[] {
    return this.botMessagesAfter(message).filter((view) => view.photoFileId !== undefined);
  }

  /** Waits for a bot message that replies to `message` (the acknowledgement) and matches `predicate`. */
  replyTo(message: Message, predicate: (view: ChatMessageView) => boolean = () => true, timeoutMs = 10_000) {
    return this.telegram.waitForMessage(
      this.id,
      (view) =>
        view.from === "bot" &&
        view.message.reply_to_message?.message_id === message.message_id &&
        predicate(view),
      timeoutMs,
    );
  }

  /** Waits for a bot message after `message` that matches `predicate`. */
  nextBotMessage(message: Message, predicate: (view: ChatMessageView) => boolean, timeoutMs = 10_000) {
    return this.telegram.waitForMessage(
      this.id,
      (view) => view.from === "bot" && view.message_id > message.message_id && predicate(view),
      timeoutMs,
    );
  }

  /** Waits for the first photo the bot sends after `message`. */
  nextPhoto(message: Message, timeoutMs = 20_000): Promise<ChatMessageView> {
    return this.nextBotMessage(message, (view) => view.photoFileId !== undefined, timeoutMs);
  }
}
