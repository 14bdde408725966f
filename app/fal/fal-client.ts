import type { Readable } from "node:stream";
import { type Dispatcher, request } from "undici";
import { z } from "zod";
import { FalHttpError, FalNetworkError, FalProtocolError } from "./errors.js";

/** Where and how to reach fal; tests point the URLs at the loopback fake. */
export interface FalClientOptions {
  /** FAL_QUEUE_URL, e.g. https://queue.fal.run */
  queueUrl: string;
  /** FAL_REST_URL, e.g. https://rest.alpha.fal.ai (storage uploads) */
  restUrl: string;
  key: string;
  /** The process's pooled agent ({@link createHttpAgent}). */
  dispatcher: Dispatcher;
}

export type FalQueueState = "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED";

const submitAnswer = z.object({ request_id: z.string().min(1) });
const statusAnswer = z.object({ status: z.string(), queue_position: z.number().optional() });
const uploadAnswer = z.object({ upload_url: z.url(), file_url: z.url() });
const imageFile = z.object({ url: z.url(), content_type: z.string().optional() });
const imageResult = z.union([
  z.object({ images: z.array(imageFile).min(1) }).transform((r) => r.images[0] as z.infer<typeof imageFile>),
  z.object({ image: imageFile }).transform((r) => r.image),
]);

/**
 * fal's queue API over one pooled agent: submit, status, result, cancel, storage upload and result
 * download. Status, result and cancel live under the app id (`owner/app`), not the model's full path
 * (`fal-ai/flux/dev/image-to-image` → `fal-ai/flux`), as fal's docs require.
 */
export class FalClient {
  constructor(private readonly options: FalClientOptions) {}

  /** `owner/app` of a model id: the first two path segments. */
  static appIdOf(model: string): string {
    return model.split("/").slice(0, 2).join("/");
  }

  private requestUrl(model: string, requestId: string, suffix = ""): string {
    return `${this.options.queueUrl}/${FalClient.appIdOf(model)}/requests/${encodeURIComponent(requestId)}${suffix}`;
  }

  /**
   * fal's refusal as an error, with this client's key cut out of the body wherever fal echoed it (no
   * pattern knows every shape of a fal key; the client knows its own), before any log or user sees it.
   */
  private httpError(operation: string, status: number, body: string): FalHttpError {
    return new FalHttpError(operation, status, body.split(this.options.key).join("<redacted>"));
  }

  private async call(
    operation: string,
    url: string,
    init: { method: Dispatcher.HttpMethod; json?: unknown; auth?: boolean; okStatuses?: number[] },
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (init.auth !== false) headers.authorization = `Key ${this.options.key}`;
    if (init.json !== undefined) headers["content-type"] = "application/json";
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: init.method,
        headers,
        body: init.json === undefined ? null : JSON.stringify(init.json),
        dispatcher: this.options.dispatcher,
      });
    } catch (error) {
      throw new FalNetworkError(operation, error);
    }
    const text = await response.body.text().catch((error: unknown) => {
      throw new FalNetworkError(operation, error);
    });
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    if (!ok && !(init.okStatuses ?? []).includes(response.statusCode)) {
      throw this.httpError(operation, response.statusCode, text);
    }
    try {
      return { status: response.statusCode, body: text === "" ? {} : JSON.parse(text) };
    } catch {
      throw new FalProtocolError(
        `fal ${operation} answered ${response.statusCode} with a body that is not JSON`,
      );
    }
  }

  private parse<T>(operation: string, schema: z.ZodType<T>, body: unknown): T {
    const parsed = schema.safeParse(body);
    if (!parsed.success)
      throw new FalProtocolError(
        `fal ${operation} answer did not match the protocol: ${parsed.error.message}`,
      );
    return parsed.data;
  }

  /**
   * Queues a request for `model`; returns fal's request id. With `webhookUrl`, fal also posts the request's
   * completion there (`fal_webhook`), signed (see webhook-signature.ts).
   */
  async submit(model: string, input: Record<string, unknown>, webhookUrl?: string): Promise<string> {
    const query = webhookUrl === undefined ? "" : `?fal_webhook=${encodeURIComponent(webhookUrl)}`;
    const { body } = await this.call("submit", `${this.options.queueUrl}/${model}${query}`, {
      method: "POST",
      json: input,
    });
    return this.parse("submit", submitAnswer, body).request_id;
  }

  /** Where the request stands. Unknown states are reported as IN_PROGRESS (keep polling until the deadline). */
  async status(model: string, requestId: string): Promise<{ state: FalQueueState; queuePosition?: number }> {
    const { body } = await this.call("status", this.requestUrl(model, requestId, "/status"), {
      method: "GET",
    });
    const answer = this.parse("status", statusAnswer, body);
    const state: FalQueueState =
      answer.status === "COMPLETED" || answer.status === "IN_QUEUE" ? answer.status : "IN_PROGRESS";
    return answer.queue_position === undefined ? { state } : { state, queuePosition: answer.queue_position };
  }

  /** The finished request's output image (first of `images`, or `image` for upscalers). */
  async result(model: string, requestId: string): Promise<{ url: string; contentType?: string | undefined }> {
    const { body } = await this.call("result", this.requestUrl(model, requestId), { method: "GET" });
    const image = this.parse("result", imageResult, body);
    return { url: image.url, contentType: image.content_type };
  }

  /**
   * Asks fal to stop the request. Returns fal's status word; a request that already finished or is
   * unknown is not an error (there is nothing left to stop).
   */
  async cancel(model: string, requestId: string): Promise<string> {
    const { status, body } = await this.call("cancel", this.requestUrl(model, requestId, "/cancel"), {
      method: "PUT",
      okStatuses: [400, 404],
    });
    const word = (body as { status?: unknown }).status;
    return typeof word === "string" ? word : status === 404 ? "NOT_FOUND" : String(status);
  }

  /**
   * Uploads bytes to fal's storage (initiate, then PUT to the signed URL) and returns the file's URL for
   * model inputs. The body is streamed; `size` goes out as Content-Length. The signed URL gets no key.
   */
  async upload(
    body: Readable,
    file: { contentType: string; fileName: string; size: number },
  ): Promise<string> {
    const { body: initiated } = await this.call(
      "upload initiate",
      `${this.options.restUrl}/storage/upload/initiate`,
      {
        method: "POST",
        json: { content_type: file.contentType, file_name: file.fileName },
      },
    );
    const target = this.parse("upload initiate", uploadAnswer, initiated);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(target.upload_url, {
        method: "PUT",
        headers: { "content-type": file.contentType, "content-length": String(file.size) },
        body,
        dispatcher: this.options.dispatcher,
      });
    } catch (error) {
      throw new FalNetworkError("upload", error);
    }
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode >= 300)
      throw this.httpError("upload", response.statusCode, text);
    return target.file_url;
  }

  /** Downloads a result image into memory, refusing more than `maxBytes` (checked while reading). */
  async download(url: string, maxBytes: number): Promise<Buffer> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { method: "GET", dispatcher: this.options.dispatcher });
    } catch (error) {
      throw new FalNetworkError("download", error);
    }
    if (response.statusCode !== 200) {
      throw this.httpError("download", response.statusCode, await response.body.text().catch(() => ""));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          response.body.destroy();
          throw new FalProtocolError(`fal result is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof FalProtocolError) throw error;
      throw new FalNetworkError("download", error);
    }
    return Buffer.concat(chunks);
  }
}
