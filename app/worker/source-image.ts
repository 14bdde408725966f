import { Readable } from "node:stream";
import { type Api, GrammyError } from "grammy";
import { type Dispatcher, request } from "undici";
import type { FalClient } from "../fal/fal-client.js";
import { sniffImageType, sniffLength } from "./image-type.js";

/** Why a user's source image cannot be used; each has its own message to the user. Never retried. */
export class SourceImageError extends Error {
  override readonly name = "SourceImageError";
  constructor(
    readonly reason: "too-big" | "not-image" | "unavailable",
    detail: string,
  ) {
    super(`source image ${reason}: ${detail}`);
  }
}

/** Telegram's file host answered with a server error or the connection failed; worth another attempt. */
export class SourceDownloadError extends Error {
  override readonly name = "SourceDownloadError";
}

/** What {@link uploadSourceImage} needs. */
export interface SourceImageDeps {
  telegram: Api;
  /** TELEGRAM_API_ROOT and the token: the file URL is `<root>/file/bot<token>/<path>` and stays in this process. */
  telegramApiRoot: string;
  telegramBotToken: string;
  fal: FalClient;
  dispatcher: Dispatcher;
  maxBytes: number;
}

/**
 * Moves the user's photo from Telegram to fal's storage and returns the fal file URL for the model
 * input. The bytes stream through this process (never held whole unless Telegram gives no size), are
 * refused beyond `maxBytes` (by Telegram's metadata first, then by counting), and must be JPEG, PNG or
 * WebP by their magic numbers. fal never sees the Telegram file URL, which contains the bot token.
 */
export async function uploadSourceImage(deps: SourceImageDeps, fileId: string): Promise<string> {
  let file: Awaited<ReturnType<Api["getFile"]>>;
  try {
    file = await deps.telegram.getFile(fileId);
  } catch (error) {
    if (error instanceof GrammyError && error.error_code < 500 && error.error_code !== 429) {
      throw new SourceImageError("unavailable", error.description);
    }
    throw new SourceDownloadError(
      `getFile failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (file.file_size !== undefined && file.file_size > deps.maxBytes) {
    throw new SourceImageError("too-big", `Telegram reports ${file.file_size} bytes`);
  }
  if (file.file_path === undefined) throw new SourceImageError("unavailable", "Telegram gave no file path");

  const url = `${deps.telegramApiRoot}/file/bot${deps.telegramBotToken}/${file.file_path}`;
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { method: "GET", dispatcher: deps.dispatcher });
  } catch (error) {
    throw new SourceDownloadError(
      `download failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (response.statusCode !== 200) {
    await response.body.dump();
    if (response.statusCode >= 500 || response.statusCode === 429) {
      throw new SourceDownloadError(`file download answered ${response.statusCode}`);
    }
    throw new SourceImageError("unavailable", `file download answered ${response.statusCode}`);
  }
  const declared = Number(response.headers["content-length"]);
  if (Number.isFinite(declared) && declared > deps.maxBytes) {
    response.body.destroy();
    throw new SourceImageError("too-big", `download is ${declared} bytes`);
  }

  // Counts bytes on the way through and fails the stream the moment there are more than allowed; the
  // error is kept because the HTTP client reports a failed request body as its own error.
  let overflow: SourceImageError | undefined;
  async function* bounded(
    head: Buffer,
    rest: AsyncIterable<Buffer>,
    maxBytes: number,
  ): AsyncGenerator<Buffer> {
    let size = head.length;
    yield head;
    for await (const chunk of rest) {
      size += chunk.length;
      if (size > maxBytes) {
        overflow = new SourceImageError("too-big", `more than ${maxBytes} bytes`);
        throw overflow;
      }
      yield chunk;
    }
  }

  const chunks = response.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const rest: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => chunks };
  let head = Buffer.alloc(0);
  while (head.length < sniffLength) {
    const next = await chunks.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  const type = sniffImageType(head);
  if (type === undefined) {
    response.body.destroy();
    throw new SourceImageError("not-image", "not JPEG, PNG or WebP");
  }

  let size = Number.isFinite(declared) ? declared : file.file_size;
  let body: Readable;
  if (size === undefined) {
    // No length announced anywhere: collect (bounded) to learn it; signed upload URLs need Content-Length.
    const whole: Buffer[] = [];
    for await (const chunk of bounded(head, rest, deps.maxBytes)) whole.push(chunk);
    const bytes = Buffer.concat(whole);
    size = bytes.length;
    body = Readable.from([bytes]);
  } else {
    body = Readable.from(bounded(head, rest, Math.min(deps.maxBytes, size)));
  }
  try {
    return await deps.fal.upload(body, {
      contentType: type.mime,
      fileName: `source.${type.extension}`,
      size,
    });
  } catch (error) {
    throw overflow ?? error;
  }
}
