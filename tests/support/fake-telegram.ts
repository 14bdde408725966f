import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Chat, File, Message, PhotoSize, Update, User, UserFromGetMe } from "grammy/types";
import { BodyTooLargeError, listenLoopback, readBody, sendBytes, sendJson, sleep } from "./http-kit.js";
import { sniffImage } from "./image-bytes.js";
import { MultipartError, multipartBoundary, parseMultipart } from "./multipart.js";
import { applyParseMode } from "./telegram-formatting.js";

/** A Telegram user that the scripted test user plays. Their private chat has the same id. */
export interface FakeUser {
  id: number;
  first_name: string;
  username?: string;
  /** IETF tag as Telegram reports it ("ru", "en", "en-US"); omitted means the client did not say. */
  language_code?: string;
}

/** What a scripted user can send. `replyTo` is the message_id they reply to in their chat. */
export type UserInput =
  | { text: string; replyTo?: number }
  | { photo: Buffer; caption?: string; replyTo?: number }
  | { document: Buffer; mimeType: string; fileName: string; caption?: string; replyTo?: number };

/** An injected failure for the next call(s) of a method. */
export type TelegramFailure =
  | { status: 429; retryAfter: number }
  | { status: 500 | 502 | 503 }
  /** The connection is dropped before Telegram acts on the request: a network error to the client. */
  | { status: "reset" };

/** One Bot API call as the fake received and answered it. */
export interface ApiCall {
  method: string;
  /** The parameters; uploaded files appear as `{ upload: filename, bytes: length }`. */
  params: Record<string, unknown>;
  /** Milliseconds since the epoch when the request arrived. */
  at: number;
  /** HTTP status of the answer. */
  status: number;
  /** The answer body. */
  response: { ok: boolean; result?: unknown; error_code?: number; description?: string };
}

/** A message of a chat as the user sees it now: its latest text or caption and every edit with its time. */
export interface ChatMessageView {
  message_id: number;
  from: "bot" | "user";
  sentAt: number;
  /** The text or caption as first sent, before any edit. */
  sentText?: string;
  text?: string;
  caption?: string;
  /** file_id of the largest size, for photos. */
  photoFileId?: string;
  /** file_unique_id of the largest size, for photos. */
  photoUniqueId?: string;
  /** file_id of a file sent as a document. */
  documentFileId?: string;
  edits: { at: number; text: string }[];
  deleted: boolean;
  message: Message;
}

/** Something the user would notice in a chat, in the order it happened. */
export interface ChatEvent {
  at: number;
  chatId: number;
  kind: "sent" | "edited" | "deleted";
  from: "bot" | "user";
  messageId: number;
  text?: string;
  photoFileId?: string;
  documentFileId?: string;
}

/** Options for {@link startFakeTelegram}. */
export interface FakeTelegramOptions {
  /** The bot token the fake accepts. @defaultValue a random well-formed token */
  token?: string;
  /**
   * Where to deliver webhook updates for a registered URL. The Bot API only accepts https URLs; in
   * production a TLS proxy forwards them to the bot's HTTP port, which this function stands in for.
   */
  webhookTarget?: (registeredUrl: string) => string;
  /** Called with every user-visible event as it happens (the demo prints its timeline from these). */
  onEvent?: (event: ChatEvent) => void;
}

/** A running fake Bot API; see the README of tests/support for what it checks. */
export interface FakeTelegram {
  /** Pass this as grammY's `client.apiRoot` (TELEGRAM_API_ROOT). */
  readonly apiRoot: string;
  readonly token: string;
  readonly botInfo: UserFromGetMe;
  /** Every call, in arrival order. */
  readonly calls: readonly ApiCall[];
  /** Every user-visible event in every chat, in order. */
  readonly events: readonly ChatEvent[];
  /** Webhook deliveries: update id, the HTTP status the bot answered (0 for a network error), when. */
  readonly webhookDeliveries: readonly { updateId: number; status: number; at: number }[];
  /** The user sends something: the fake stores it and queues the update. Returns the user's message. */
  userSends(user: FakeUser, input: UserInput): Message;
  /** The user presses an inline button under a bot message. Returns the callback query id. */
  userPresses(user: FakeUser, messageId: number, data: string): string;
  /**
   * Queues an update exactly as given, however odd (what a fuzzer feeds): its own `update_id` when it has a
   * number there (a duplicate keeps the id of the update it copies), the next id otherwise. With `user`, the
   * user's private chat is opened, and a `message` with a numeric `message_id` is stored in it as the
   * user's, so that the bot can answer and reply to it. A `callback_query` id becomes answerable. Returns
   * the update id. An update of a kind outside the bot's `allowed_updates` is dropped, as Telegram does.
   */
  injectUpdate(update: Record<string, unknown>, opts?: { user?: FakeUser }): number;
  /** Calls of one method (case-insensitive). */
  callsTo(method: string): ApiCall[];
  /** Resolves with the first call (already made or future) of `method` that matches `predicate`. */
  waitForCall(method: string, predicate?: (call: ApiCall) => boolean, timeoutMs?: number): Promise<ApiCall>;
  /** The next `times` calls of `method` fail with `failure` (HTTP status and Bot API error body). */
  failNext(method: string, failure: TelegramFailure, times?: number): void;
  /**
   * Delays every request (or those of one method) by `ms` before Telegram acts on it, as transit time: a
   * request whose client disconnects meanwhile is never acted on (e.g. a getUpdates that would confirm an
   * offset, from a bot killed before it arrived).
   */
  setLatency(ms: number, method?: string): void;
  /** Stores a file as if a user had sent it; returns its file_id. */
  addFile(bytes: Buffer, opts: { mime: string; kind?: "photos" | "documents" }): string;
  /** Bytes of a stored file (a user's upload or one the bot sent). */
  fileBytes(fileId: string): Buffer | undefined;
  /** How many times the file's download URL was requested. */
  fileDownloads(fileId: string): number;
  /** The user's view of a chat, oldest message first. */
  chat(chatId: number): ChatMessageView[];
  /** Resolves with the first message in the chat (now or later, sent or edited) that matches. */
  waitForMessage(
    chatId: number,
    predicate: (view: ChatMessageView) => boolean,
    timeoutMs?: number,
  ): Promise<ChatMessageView>;
  /** Updates queued and not yet confirmed by an offset (or a 2xx webhook answer). */
  pendingUpdates(): Update[];
  /** The registered webhook, if any. */
  webhook(): { url: string; secretToken?: string } | undefined;
  stop(): Promise<void>;
}

/** A Bot API error: HTTP status = error_code, as the real server answers. */
class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: { retry_after?: number },
  ) {
    super(description);
    this.name = "ApiError";
  }
}

const badRequest = (detail: string): ApiError => new ApiError(400, `Bad Request: ${detail}`);

/** Bot API limits the fake enforces (https://core.telegram.org/bots/api). */
const LIMITS = {
  messageText: 4096,
  caption: 1024,
  uploadBytes: 50 * 1024 * 1024,
  photoUploadBytes: 10 * 1024 * 1024,
  photoUrlBytes: 5 * 1024 * 1024,
  documentUrlBytes: 20 * 1024 * 1024,
  getFileBytes: 20 * 1024 * 1024,
};

/** Update types delivered when allowed_updates was never given (all but these three). */
const NOT_DELIVERED_BY_DEFAULT = new Set(["chat_member", "message_reaction", "message_reaction_count"]);

const CHAT_ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);

/** Reads method parameters with the Bot API's coercions: form values are strings, JSON may be either. */
class Params {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly files: Record<string, { filename: string; bytes: Buffer }>,
  ) {}

  has(name: string): boolean {
    return this.raw[name] !== undefined && this.raw[name] !== null;
  }

  int(name: string): number | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value === "number" && Number.isInteger(value)) return value;
    if (typeof value === "string" && /^-?\d+$/.test(value.trim())) return Number(value.trim());
    throw badRequest(`field "${name}" must be of type Integer`);
  }

  requiredInt(name: string): number {
    const value = this.int(name);
    if (value === undefined) throw badRequest(`${name} is empty`);
    return value;
  }

  str(name: string): string | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    throw badRequest(`field "${name}" must be of type String`);
  }

  bool(name: string): boolean | undefined {
    const value = this.raw[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value === "boolean") return value;
    if (value === "true" || value === "1" || value === 1) return true;
    if (value === "false" || value === "0" || value === 0) return false;
    throw badRequest(`field "${name}" must be of type Boolean`);
  }

  /** A JSON-serialized object or array field: a real object in JSON bodies, a JSON string in forms. */
  json(name: string): unknown {
    const value = this.raw[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value === "object") return value;
    if (typeof value === "string") {
      try {
        return JSON.parse(value);
      } catch {
        throw badRequest(`can't parse ${name} JSON object`);
      }
    }
    throw badRequest(`field "${name}" must be a JSON-serialized object`);
  }

  chatId(): number {
    const value = this.raw.chat_id;
    if (value === undefined || value === null || value === "") throw badRequest("chat_id is empty");
    const id = this.int("chat_id");
    if (id === undefined) throw badRequest("chat not found");
    return id;
  }
}

function randomToken(): string {
  const id = 1_000_000_000 + Math.floor(Math.random() * 8_000_000_000);
  return `${id}:${randomBytes(26).toString("base64url").slice(0, 35)}`;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

interface StoredFile {
  file_id: string;
  file_unique_id: string;
  file_path: string;
  bytes: Buffer;
  mime: string;
  downloads: number;
}

interface ChatState {
  chat: Chat.PrivateChat;
  user: User;
  nextMessageId: number;
  views: Map<number, ChatMessageView>;
}

interface PollWaiter {
  wake(): void;
  conflict(): void;
}

/**
 * Starts a loopback Bot API server that speaks the real protocol closely enough for grammY, the runner,
 * auto-retry and webhooks, and that refuses what Telegram refuses: a wrong token (401), an unknown
 * method (404), missing or mistyped parameters and bad markup (400), editing a message into the same
 * text (400 "message is not modified"), sending to a chat the user never opened (400), uploads that are
 * not images as photos (400), two pollers at once or polling while a webhook is set (409).
 */
export async function startFakeTelegram(opts: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const token = opts.token ?? randomToken();
  const botId = Number(token.split(":")[0]);
  const botInfo: UserFromGetMe = {
    id: botId,
    is_bot: true,
    first_name: "Tapbot Test",
    username: "tapbot_test_bot",
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
  } as UserFromGetMe;
  const botUser: User = {
    id: botId,
    is_bot: true,
    first_name: botInfo.first_name,
    username: botInfo.username,
  };

  const calls: ApiCall[] = [];
  const events: ChatEvent[] = [];
  const webhookDeliveries: { updateId: number; status: number; at: number }[] = [];
  const callWatchers = new Set<() => void>();
  const failures = new Map<string, TelegramFailure[]>();
  const latency = new Map<string, number>();
  const files = new Map<string, StoredFile>();
  const filesByPath = new Map<string, StoredFile>();
  const chats = new Map<number, ChatState>();
  const callbackQueries = new Set<string>();
  let updates: Update[] = [];
  let nextUpdateId = 100_000 + Math.floor(Math.random() * 100_000);
  let allowedUpdates: string[] | undefined;
  let poller: PollWaiter | undefined;
  let webhook: { url: string; secretToken?: string; lastError?: string; lastErrorAt?: number } | undefined;
  let myCommands: unknown[] = [];
  let fileCounter = 0;
  let stopped = false;

  const emit = (event: ChatEvent): void => {
    events.push(event);
    opts.onEvent?.(event);
  };
  const notifyCallWatchers = (): void => {
    for (const watch of callWatchers) watch();
  };

  function storeFile(bytes: Buffer, mime: string, kind: string, ext: string): StoredFile {
    fileCounter += 1;
    const file: StoredFile = {
      file_id: `AgAC${randomBytes(24).toString("base64url")}`,
      file_unique_id: `AQAD${randomBytes(8).toString("base64url")}`,
      file_path: `${kind}/file_${fileCounter}.${ext}`,
      bytes,
      mime,
      downloads: 0,
    };
    files.set(file.file_id, file);
    filesByPath.set(file.file_path, file);
    return file;
  }

  function extFor(mime: string): string {
    return (
      { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "application/pdf": "pdf" }[mime] ??
      "dat"
    );
  }

  /**
   * The PhotoSize array Telegram attaches to a photo message: a thumbnail for big images, then the full size.
   * The fake does not resize: the thumbnail's bytes are the original's, only its declared size is smaller.
   */
  function photoSizes(file: StoredFile): PhotoSize[] {
    const info = sniffImage(file.bytes);
    const width = info?.width ?? 0;
    const height = info?.height ?? 0;
    const full: PhotoSize = {
      file_id: file.file_id,
      file_unique_id: file.file_unique_id,
      width,
      height,
      file_size: file.bytes.length,
    };
    if (Math.max(width, height) <= 320) return [full];
    const scale = 320 / Math.max(width, height);
    const thumb = storeFile(file.bytes, file.mime, "photos", extFor(file.mime));
    return [
      {
        file_id: thumb.file_id,
        file_unique_id: thumb.file_unique_id,
        width: Math.round(width * scale),
        height: Math.round(height * scale),
        file_size: Math.round(file.bytes.length * scale * scale),
      },
      full,
    ];
  }

  function chatFor(user: FakeUser): ChatState {
    let state = chats.get(user.id);
    if (state === undefined) {
      state = {
        chat: { id: user.id, type: "private", first_name: user.first_name, username: user.username },
        user: { ...user, is_bot: false },
        nextMessageId: 1,
        views: new Map(),
      };
      chats.set(user.id, state);
    } else {
      state.user = { ...user, is_bot: false };
    }
    return state;
  }

  function existingChat(chatId: number): ChatState {
    const state = chats.get(chatId);
    if (state === undefined) throw badRequest("chat not found");
    return state;
  }

  /** The message as Telegram embeds it in `reply_to_message`: without its own reply. */
  function replyTarget(state: ChatState, messageId: number | undefined): Message | undefined {
    if (messageId === undefined) return undefined;
    const view = state.views.get(messageId);
    if (view === undefined || view.deleted) return undefined;
    const { reply_to_message: _nested, ...message } = view.message as Message & {
      reply_to_message?: unknown;
    };
    return message as Message;
  }

  function record(state: ChatState, message: Message, from: "bot" | "user"): void {
    const text = message.text ?? message.caption;
    const photo = message.photo?.at(-1);
    const documentFileId = message.document?.file_id;
    const view: ChatMessageView = {
      message_id: message.message_id,
      from,
      sentAt: Date.now(),
      sentText: text,
      text: message.text,
      caption: message.caption,
      photoFileId: photo?.file_id,
      photoUniqueId: photo?.file_unique_id,
      documentFileId,
      edits: [],
      deleted: false,
      message,
    };
    state.views.set(message.message_id, view);
    emit({
      at: view.sentAt,
      chatId: state.chat.id,
      kind: "sent",
      from,
      messageId: message.message_id,
      text,
      photoFileId: photo?.file_id,
      documentFileId,
    });
    notifyCallWatchers();
  }

  function queueUpdate(update: Update): void {
    updates.push(update);
    poller?.wake();
    void deliverWebhook();
  }

  function pushUpdate(update: Omit<Update, "update_id">): Update {
    const full = { update_id: nextUpdateId, ...update } as Update;
    nextUpdateId += 1;
    queueUpdate(full);
    return full;
  }

  function updateType(update: Update): string {
    return Object.keys(update).find((key) => key !== "update_id") ?? "unknown";
  }

  function deliverable(update: Update): boolean {
    const type = updateType(update);
    if (allowedUpdates === undefined || allowedUpdates.length === 0)
      return !NOT_DELIVERED_BY_DEFAULT.has(type);
    return allowedUpdates.includes(type);
  }

  // --- webhook delivery: one update at a time, in order, retried with backoff until a 2xx answer.
  let delivering = false;
  async function deliverWebhook(): Promise<void> {
    if (delivering || webhook === undefined || stopped) return;
    delivering = true;
    let backoffMs = 100;
    try {
      while (!stopped && webhook !== undefined) {
        const update = updates.find(deliverable);
        if (update === undefined) break;
        const target = opts.webhookTarget?.(webhook.url) ?? webhook.url;
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (webhook.secretToken !== undefined)
          headers["x-telegram-bot-api-secret-token"] = webhook.secretToken;
        let status = 0;
        try {
          const response = await fetch(target, {
            method: "POST",
            headers,
            body: JSON.stringify(update),
            signal: AbortSignal.timeout(10_000),
          });
          status = response.status;
          await response.arrayBuffer();
        } catch (error) {
          webhook.lastError = `Connection refused: ${(error as Error).message}`;
        }
        webhookDeliveries.push({ updateId: update.update_id, status, at: Date.now() });
        if (status >= 200 && status < 300) {
          // This delivery only: a duplicate of its id queued behind it is delivered in its turn.
          updates = updates.filter((u) => u !== update);
          backoffMs = 100;
        } else {
          if (status !== 0) webhook.lastError = `Wrong response from the webhook: ${status}`;
          webhook.lastErrorAt = nowSeconds();
          await sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, 2_000);
        }
      }
    } finally {
      delivering = false;
    }
  }

  // --- methods
  type Handler = (p: Params, res: ServerResponse) => Promise<unknown> | unknown;

  function parseText(
    source: string,
    parseMode: string | undefined,
    limit: number,
    what: "text" | "caption",
  ): string {
    const parsed = applyParseMode(source, parseMode);
    if (!parsed.ok) throw new ApiError(400, parsed.description);
    if (what === "text" && parsed.text.trim() === "") throw badRequest("message text is empty");
    if (parsed.text.length > limit)
      throw badRequest(what === "text" ? "message is too long" : "message caption is too long");
    return parsed.text;
  }

  function replyMarkup(p: Params): Message["reply_markup"] | undefined {
    const markup = p.json("reply_markup");
    if (markup === undefined) return undefined;
    if (typeof markup !== "object" || markup === null || Array.isArray(markup)) {
      throw badRequest("can't parse reply keyboard markup JSON object");
    }
    const keyboard = (markup as { inline_keyboard?: unknown }).inline_keyboard;
    if (keyboard === undefined) return undefined;
    if (!Array.isArray(keyboard) || !keyboard.every((row) => Array.isArray(row))) {
      throw badRequest('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays');
    }
    return markup as Message["reply_markup"];
  }

  /** A media message's `caption` (parsed and length-checked) and `reply_markup`, as message fields. */
  function captionAndMarkup(p: Params): Pick<Message, "caption" | "reply_markup"> {
    const source = p.str("caption");
    const caption =
      source === undefined ? undefined : parseText(source, p.str("parse_mode"), LIMITS.caption, "caption");
    const markup = replyMarkup(p);
    return {
      ...(caption === undefined ? {} : { caption }),
      ...(markup === undefined ? {} : { reply_markup: markup }),
    };
  }

  /** The message to reply to, and whether a missing one is fine (`allow_sending_without_reply`). */
  function replyTo(p: Params): { id: number | undefined; optional: boolean } {
    const parameters = p.json("reply_parameters");
    if (parameters !== undefined) {
      const { message_id: id, allow_sending_without_reply: optional } = parameters as {
        message_id?: unknown;
        allow_sending_without_reply?: unknown;
      };
      if (typeof id !== "number")
        throw badRequest('field "message_id" of reply_parameters must be of type Integer');
      return { id, optional: optional === true };
    }
    return { id: p.int("reply_to_message_id"), optional: p.bool("allow_sending_without_reply") === true };
  }

  function botMessage(
    state: ChatState,
    fields: Partial<Message>,
    reply: { id: number | undefined; optional: boolean },
  ): Message {
    const target = replyTarget(state, reply.id);
    if (reply.id !== undefined && target === undefined && !reply.optional) {
      throw badRequest("message to be replied not found");
    }
    const message = {
      message_id: state.nextMessageId,
      from: botUser,
      chat: state.chat,
      date: nowSeconds(),
      ...(target === undefined ? {} : { reply_to_message: target }),
      ...fields,
    } as Message;
    state.nextMessageId += 1;
    return message;
  }

  /**
   * The file a send method carries in `field`: an upload (a part named after the field, or `attach://<part>`
   * as grammY writes it), an HTTP URL Telegram downloads itself (up to `urlLimit` bytes), or a known file_id.
   */
  async function inputFile(
    p: Params,
    field: "photo" | "document",
    urlLimit: number,
  ): Promise<{ stored: StoredFile } | { bytes: Buffer; filename: string | undefined }> {
    const value = p.str(field);
    const upload =
      p.files[field] ??
      (value?.startsWith("attach://") ? p.files[value.slice("attach://".length)] : undefined);
    if (upload !== undefined) return { bytes: upload.bytes, filename: upload.filename };
    if (value?.startsWith("attach://")) throw badRequest("wrong HTTP URL specified");
    if (value === undefined || value === "") throw badRequest(`there is no ${field} in the request`);
    if (/^https?:\/\//i.test(value)) {
      let bytes: Buffer;
      try {
        const response = await fetch(value, { signal: AbortSignal.timeout(10_000) });
        if (!response.ok) throw new Error(String(response.status));
        bytes = Buffer.from(await response.arrayBuffer());
      } catch {
        throw badRequest("failed to get HTTP URL content");
      }
      if (bytes.length > urlLimit) throw badRequest("failed to get HTTP URL content");
      return { bytes, filename: new URL(value).pathname.split("/").at(-1) };
    }
    const existing = files.get(value);
    if (existing === undefined) throw badRequest("wrong file identifier/HTTP URL specified");
    return { stored: existing };
  }

  async function photoFrom(p: Params): Promise<StoredFile> {
    const input = await inputFile(p, "photo", LIMITS.photoUrlBytes);
    if ("stored" in input) return input.stored;
    const { bytes } = input;
    if (bytes.length > LIMITS.photoUploadBytes) throw badRequest("file is too big");
    const info = sniffImage(bytes);
    if (info === undefined) throw badRequest("IMAGE_PROCESS_FAILED");
    if (
      info.width + info.height > 10_000 ||
      Math.max(info.width, info.height) / Math.min(info.width, info.height) > 20
    ) {
      throw badRequest("PHOTO_INVALID_DIMENSIONS");
    }
    return storeFile(bytes, info.mime, "photos", extFor(info.mime));
  }

  /** `allowed_updates` of getUpdates or setWebhook: undefined when absent (the last list stays). */
  function allowedUpdatesFrom(p: Params): string[] | undefined {
    const allowed = p.json("allowed_updates");
    if (allowed === undefined) return undefined;
    if (!Array.isArray(allowed) || !allowed.every((t) => typeof t === "string")) {
      throw badRequest("can't parse allowed updates list");
    }
    return allowed;
  }

  function editableMessage(p: Params): ChatMessageView {
    if (p.has("inline_message_id")) throw badRequest("MESSAGE_ID_INVALID");
    const state = existingChat(p.chatId());
    const messageId = p.int("message_id");
    if (messageId === undefined) throw badRequest("message identifier is not specified");
    const view = state.views.get(messageId);
    if (view === undefined || view.deleted) throw badRequest("message to edit not found");
    if (view.from !== "bot") throw badRequest("message can't be edited");
    return view;
  }

  const handlers: Record<string, Handler> = {
    getMe: () => botInfo,

    getUpdates: (p, res) => {
      if (webhook !== undefined) {
        throw new ApiError(
          409,
          "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        );
      }
      const offset = p.int("offset");
      const limit = Math.min(100, Math.max(1, p.int("limit") ?? 100));
      const timeout = Math.max(0, p.int("timeout") ?? 0);
      allowedUpdates = allowedUpdatesFrom(p) ?? allowedUpdates;
      if (offset !== undefined && offset < 0) updates = updates.slice(offset);
      else if (offset !== undefined) updates = updates.filter((u) => u.update_id >= offset);
      updates = updates.filter(deliverable);
      poller?.conflict();
      const ready = (): Update[] => updates.slice(0, limit);
      if (ready().length > 0 || timeout === 0) return ready();
      return new Promise<unknown>((resolve, reject) => {
        const finish = (): void => {
          clearTimeout(timer);
          if (poller === waiter) poller = undefined;
          res.off("close", onClose);
        };
        const waiter: PollWaiter = {
          wake: () => {
            updates = updates.filter(deliverable);
            if (ready().length === 0) return;
            finish();
            resolve(ready());
          },
          conflict: () => {
            finish();
            reject(
              new ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
              ),
            );
          },
        };
        // A poller that hangs up (a bot stopped or killed mid-poll) takes nothing with it.
        const onClose = (): void => {
          finish();
          resolve([]);
        };
        const timer = setTimeout(() => {
          finish();
          resolve(ready());
        }, timeout * 1000);
        poller = waiter;
        res.on("close", onClose);
      });
    },

    setWebhook: (p) => {
      const url = p.str("url") ?? "";
      const secretToken = p.str("secret_token");
      if (secretToken !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secretToken)) {
        throw badRequest("secret token contains unallowed characters");
      }
      allowedUpdates = allowedUpdatesFrom(p) ?? allowedUpdates;
      if (p.bool("drop_pending_updates") === true) updates = [];
      if (url === "") {
        webhook = undefined;
        return true;
      }
      if (!/^https:\/\//i.test(url))
        throw badRequest("bad webhook: An HTTPS URL must be provided for webhook");
      webhook = { url, secretToken };
      void deliverWebhook();
      return true;
    },

    deleteWebhook: (p) => {
      webhook = undefined;
      if (p.bool("drop_pending_updates") === true) updates = [];
      return true;
    },

    getWebhookInfo: () => ({
      url: webhook?.url ?? "",
      has_custom_certificate: false,
      pending_update_count: updates.length,
      ...(webhook?.lastErrorAt === undefined
        ? {}
        : { last_error_date: webhook.lastErrorAt, last_error_message: webhook.lastError }),
      ...(allowedUpdates === undefined ? {} : { allowed_updates: allowedUpdates }),
    }),

    sendMessage: (p) => {
      const state = existingChat(p.chatId());
      const source = p.str("text");
      if (source === undefined) throw badRequest("message text is empty");
      const text = parseText(source, p.str("parse_mode"), LIMITS.messageText, "text");
      const markup = replyMarkup(p);
      const message = botMessage(
        state,
        { text, ...(markup === undefined ? {} : { reply_markup: markup }) },
        replyTo(p),
      );
      record(state, message, "bot");
      return message;
    },

    editMessageText: (p) => {
      const view = editableMessage(p);
      const source = p.str("text");
      if (source === undefined) throw badRequest("text must be non-empty");
      if (view.text === undefined) throw badRequest("there is no text in the message to edit");
      const text = parseText(source, p.str("parse_mode"), LIMITS.messageText, "text");
      const markup = replyMarkup(p);
      const sameMarkup = JSON.stringify(markup) === JSON.stringify(view.message.reply_markup);
      if (text === view.text && sameMarkup) {
        throw badRequest(
          "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
      }
      const at = Date.now();
      const { reply_markup: _old, ...rest } = view.message;
      view.message = {
        ...rest,
        text,
        edit_date: Math.floor(at / 1000),
        ...(markup === undefined ? {} : { reply_markup: markup }),
      } as Message;
      view.text = text;
      view.edits.push({ at, text });
      emit({
        at,
        chatId: view.message.chat.id,
        kind: "edited",
        from: "bot",
        messageId: view.message_id,
        text,
      });
      notifyCallWatchers();
      return view.message;
    },

    sendPhoto: async (p) => {
      const state = existingChat(p.chatId());
      const reply = replyTo(p);
      const extras = captionAndMarkup(p);
      const file = await photoFrom(p);
      const message = botMessage(state, { photo: photoSizes(file), ...extras }, reply);
      record(state, message, "bot");
      return message;
    },

    sendDocument: async (p) => {
      const state = existingChat(p.chatId());
      const reply = replyTo(p);
      const extras = captionAndMarkup(p);
      const input = await inputFile(p, "document", LIMITS.documentUrlBytes);
      let file: StoredFile;
      let fileName: string | undefined;
      if ("stored" in input) {
        file = input.stored;
      } else {
        if (input.bytes.length > LIMITS.uploadBytes) throw badRequest("file is too big");
        const mime =
          sniffImage(input.bytes)?.mime ??
          (input.bytes.subarray(0, 5).toString("latin1") === "%PDF-"
            ? "application/pdf"
            : "application/octet-stream");
        file = storeFile(input.bytes, mime, "documents", extFor(mime));
        fileName = input.filename;
      }
      const message = botMessage(
        state,
        {
          document: {
            file_id: file.file_id,
            file_unique_id: file.file_unique_id,
            ...(fileName === undefined ? {} : { file_name: fileName }),
            mime_type: file.mime,
            file_size: file.bytes.length,
          },
          ...extras,
        },
        reply,
      );
      record(state, message, "bot");
      return message;
    },

    sendChatAction: (p) => {
      existingChat(p.chatId());
      const action = p.str("action");
      if (action === undefined || !CHAT_ACTIONS.has(action))
        throw badRequest("wrong parameter action in request");
      return true;
    },

    deleteMessage: (p) => {
      const state = existingChat(p.chatId());
      const view = state.views.get(p.requiredInt("message_id"));
      if (view === undefined || view.deleted) throw badRequest("message to delete not found");
      view.deleted = true;
      emit({
        at: Date.now(),
        chatId: state.chat.id,
        kind: "deleted",
        from: view.from,
        messageId: view.message_id,
      });
      notifyCallWatchers();
      return true;
    },

    getFile: (p) => {
      const fileId = p.str("file_id");
      if (fileId === undefined || fileId === "") throw badRequest("file_id not specified");
      const file = files.get(fileId);
      if (file === undefined) throw badRequest("invalid file_id");
      if (file.bytes.length > LIMITS.getFileBytes) throw badRequest("file is too big");
      const result: File = {
        file_id: file.file_id,
        file_unique_id: file.file_unique_id,
        file_size: file.bytes.length,
        file_path: file.file_path,
      };
      return result;
    },

    answerCallbackQuery: (p) => {
      const id = p.str("callback_query_id");
      if (id === undefined || !callbackQueries.has(id)) {
        throw badRequest("query is too old and response timeout expired or query ID is invalid");
      }
      callbackQueries.delete(id);
      return true;
    },

    setMyCommands: (p) => {
      const commands = p.json("commands");
      if (!Array.isArray(commands)) throw badRequest("can't parse commands JSON object");
      for (const command of commands as { command?: unknown; description?: unknown }[]) {
        if (typeof command.command !== "string" || !/^[a-z0-9_]{1,32}$/.test(command.command)) {
          throw badRequest("BOT_COMMAND_INVALID");
        }
        if (
          typeof command.description !== "string" ||
          command.description.length < 1 ||
          command.description.length > 256
        ) {
          throw badRequest("BOT_COMMAND_DESCRIPTION_INVALID");
        }
      }
      myCommands = commands;
      return true;
    },
    getMyCommands: () => myCommands,
    deleteMyCommands: () => {
      myCommands = [];
      return true;
    },
  };
  const handlerByLowerName = new Map(
    Object.entries(handlers).map(([name, handler]) => [name.toLowerCase(), { name, handler }]),
  );

  // --- HTTP
  async function readParams(req: IncomingMessage, url: URL): Promise<Params> {
    const raw: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const uploads: Record<string, { filename: string; bytes: Buffer }> = {};
    if (req.method === "GET" || req.method === "HEAD") return new Params(raw, uploads);
    let body: Buffer;
    try {
      body = await readBody(req, LIMITS.uploadBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new ApiError(413, "Request Entity Too Large");
      throw error;
    }
    if (body.length === 0) return new Params(raw, uploads);
    const type = req.headers["content-type"] ?? "";
    const boundary = multipartBoundary(type);
    if (/^application\/json/i.test(type)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        throw badRequest("can't parse JSON request");
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw badRequest("can't parse JSON request");
      Object.assign(raw, parsed);
    } else if (/^application\/x-www-form-urlencoded/i.test(type)) {
      Object.assign(raw, Object.fromEntries(new URLSearchParams(body.toString("utf8"))));
    } else if (boundary !== undefined) {
      try {
        const form = parseMultipart(body, boundary);
        Object.assign(raw, form.fields);
        Object.assign(uploads, form.files);
      } catch (error) {
        if (error instanceof MultipartError)
          throw badRequest(`can't parse multipart/form-data request: ${error.message}`);
        throw error;
      }
    } else {
      throw badRequest(`unsupported Content-Type "${type}"`);
    }
    return new Params(raw, uploads);
  }

  function loggedParams(p: Params): Record<string, unknown> {
    const out: Record<string, unknown> = { ...p.raw };
    for (const [name, file] of Object.entries(p.files))
      out[name] = { upload: file.filename, bytes: file.bytes.length };
    return out;
  }

  async function handleMethod(
    req: IncomingMessage,
    res: ServerResponse,
    methodName: string,
    url: URL,
  ): Promise<void> {
    const at = Date.now();
    const entry = handlerByLowerName.get(methodName.toLowerCase());
    const name = entry?.name ?? methodName;
    let params: Params = new Params({}, {});
    let status = 200;
    let body: ApiCall["response"];
    try {
      params = await readParams(req, url);
      const delay = latency.get(name) ?? latency.get("*") ?? 0;
      if (delay > 0) {
        await sleep(delay);
        // Latency is the request's transit time: a request whose sender died on the way never arrived.
        if (req.socket.destroyed) return;
      }
      if (entry === undefined) throw new ApiError(404, "Not Found: method not found");
      const failure = failures.get(name)?.shift();
      if (failure?.status === "reset") {
        calls.push({ method: name, params: loggedParams(params), at, status: 0, response: { ok: false } });
        notifyCallWatchers();
        req.socket.destroy();
        return;
      }
      if (failure?.status === 429) {
        throw new ApiError(429, `Too Many Requests: retry after ${failure.retryAfter}`, {
          retry_after: failure.retryAfter,
        });
      }
      if (failure !== undefined)
        throw new ApiError(failure.status, failure.status === 500 ? "Internal Server Error" : "Bad Gateway");
      body = { ok: true, result: await entry.handler(params, res) };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      status = error.code;
      body = {
        ok: false,
        error_code: error.code,
        description: error.description,
        ...(error.parameters === undefined ? {} : { parameters: error.parameters }),
      };
    }
    calls.push({ method: name, params: loggedParams(params), at, status, response: body });
    notifyCallWatchers();
    sendJson(res, status, body);
  }

  function handleFileDownload(res: ServerResponse, path: string): void {
    const file = filesByPath.get(decodeURIComponent(path));
    if (file === undefined) {
      sendJson(res, 404, { ok: false, error_code: 404, description: "Not Found" });
      return;
    }
    file.downloads += 1;
    sendBytes(res, 200, file.bytes, "application/octet-stream");
  }

  const server = await listenLoopback(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://fake-telegram");
    const api = /^\/bot([^/]+)\/(?:test\/)?([^/]+)$/.exec(url.pathname);
    const download = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    const givenToken = api?.[1] ?? download?.[1];
    if (givenToken === undefined) {
      sendJson(res, 404, { ok: false, error_code: 404, description: "Not Found" });
      return;
    }
    if (decodeURIComponent(givenToken) !== token) {
      await readBody(req, LIMITS.uploadBytes).catch(() => Buffer.alloc(0));
      sendJson(res, 401, { ok: false, error_code: 401, description: "Unauthorized" });
      return;
    }
    if (download?.[2] !== undefined) handleFileDownload(res, download[2]);
    else await handleMethod(req, res, api?.[2] ?? "", url);
  });

  function view(state: ChatState): ChatMessageView[] {
    return [...state.views.values()].sort((a, b) => a.message_id - b.message_id);
  }

  function waitFor<T>(find: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const watch = (): void => {
        const value = find();
        if (value === undefined) return;
        clearTimeout(timer);
        callWatchers.delete(watch);
        resolve(value);
      };
      const timer = setTimeout(() => {
        callWatchers.delete(watch);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`));
      }, timeoutMs);
      callWatchers.add(watch);
    });
  }

  function describeCalls(): string {
    const tail = calls
      .filter((c) => c.method !== "getUpdates")
      .slice(-15)
      .map((c) => `  ${c.method} ${c.status} ${JSON.stringify(c.params).slice(0, 200)}`);
    return `; last calls:\n${tail.join("\n")}`;
  }

  return {
    apiRoot: server.origin,
    token,
    botInfo,
    calls,
    events,
    webhookDeliveries,
    userSends(user, input) {
      const state = chatFor(user);
      const replyTo = replyTarget(state, input.replyTo);
      if (input.replyTo !== undefined && replyTo === undefined) {
        throw new Error(`message ${input.replyTo} does not exist in chat ${user.id}`);
      }
      const base = {
        message_id: state.nextMessageId,
        from: state.user,
        chat: state.chat,
        date: nowSeconds(),
        ...(replyTo === undefined ? {} : { reply_to_message: replyTo }),
      };
      state.nextMessageId += 1;
      let message: Message;
      if ("text" in input) {
        const command = /^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/.exec(input.text);
        message = {
          ...base,
          text: input.text,
          ...(command === null
            ? {}
            : { entities: [{ type: "bot_command", offset: 0, length: command[0].length }] }),
        } as Message;
      } else if ("photo" in input) {
        const info = sniffImage(input.photo);
        const file = storeFile(input.photo, info?.mime ?? "image/jpeg", "photos", "jpg");
        const sizes = photoSizes(file);
        message = {
          ...base,
          photo: sizes,
          ...(input.caption === undefined ? {} : { caption: input.caption }),
        } as Message;
      } else {
        const file = storeFile(input.document, input.mimeType, "documents", extFor(input.mimeType));
        message = {
          ...base,
          document: {
            file_id: file.file_id,
            file_unique_id: file.file_unique_id,
            file_name: input.fileName,
            mime_type: input.mimeType,
            file_size: input.document.length,
          },
          ...(input.caption === undefined ? {} : { caption: input.caption }),
        } as Message;
      }
      record(state, message, "user");
      pushUpdate({ message } as Omit<Update, "update_id">);
      return message;
    },
    userPresses(user, messageId, data) {
      const state = chatFor(user);
      const message = replyTarget(state, messageId);
      if (message === undefined) throw new Error(`message ${messageId} does not exist in chat ${user.id}`);
      const id = randomBytes(8).toString("hex");
      callbackQueries.add(id);
      pushUpdate({
        callback_query: { id, from: state.user, message, chat_instance: String(state.chat.id), data },
      } as Omit<Update, "update_id">);
      return id;
    },
    injectUpdate(update, opts = {}) {
      const given = update.update_id;
      const updateId = typeof given === "number" && Number.isSafeInteger(given) ? given : nextUpdateId;
      nextUpdateId = Math.max(nextUpdateId, updateId + 1);
      if (opts.user !== undefined) {
        const state = chatFor(opts.user);
        const message = update.message as Message | undefined;
        if (typeof message?.message_id === "number") {
          state.nextMessageId = Math.max(state.nextMessageId, message.message_id + 1);
          record(state, message, "user");
        }
      }
      const query = update.callback_query as { id?: unknown } | undefined;
      if (typeof query?.id === "string") callbackQueries.add(query.id);
      const full = { ...update, update_id: updateId } as Update;
      // Telegram keeps no update of a kind the bot did not subscribe to (allowed_updates).
      if (deliverable(full)) queueUpdate(full);
      return updateId;
    },
    callsTo: (method) => calls.filter((c) => c.method.toLowerCase() === method.toLowerCase()),
    waitForCall(method, predicate = () => true, timeoutMs = 10_000) {
      return waitFor(
        () => calls.find((c) => c.method.toLowerCase() === method.toLowerCase() && predicate(c)),
        timeoutMs,
        () => `a matching ${method} call${describeCalls()}`,
      );
    },
    failNext(method, failure, times = 1) {
      const entry = handlerByLowerName.get(method.toLowerCase());
      if (entry === undefined) throw new Error(`the fake does not implement ${method}`);
      const queue = failures.get(entry.name) ?? [];
      for (let i = 0; i < times; i += 1) queue.push(failure);
      failures.set(entry.name, queue);
    },
    setLatency(ms, method = "*") {
      latency.set(method === "*" ? "*" : (handlerByLowerName.get(method.toLowerCase())?.name ?? method), ms);
    },
    addFile(bytes, { mime, kind = "documents" }) {
      return storeFile(bytes, mime, kind, extFor(mime)).file_id;
    },
    fileBytes: (fileId) => files.get(fileId)?.bytes,
    fileDownloads: (fileId) => files.get(fileId)?.downloads ?? 0,
    chat: (chatId) => {
      const state = chats.get(chatId);
      return state === undefined ? [] : view(state);
    },
    waitForMessage(chatId, predicate, timeoutMs = 10_000) {
      return waitFor(
        () => {
          const state = chats.get(chatId);
          return state === undefined ? undefined : view(state).find((v) => !v.deleted && predicate(v));
        },
        timeoutMs,
        () => {
          const state = chats.get(chatId);
          const seen =
            state === undefined
              ? []
              : view(state).map(
                  (v) =>
                    `  #${v.message_id} ${v.from}: ${v.photoFileId === undefined ? "" : "[photo] "}${v.text ?? v.caption ?? ""}`,
                );
          return `a matching message in chat ${chatId}; chat so far:\n${seen.join("\n")}${describeCalls()}`;
        },
      );
    },
    pendingUpdates: () => [...updates],
    webhook: () =>
      webhook === undefined ? undefined : { url: webhook.url, secretToken: webhook.secretToken },
    async stop() {
      stopped = true;
      await server.close();
    },
  };
}
