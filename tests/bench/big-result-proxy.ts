import type { IncomingMessage, ServerResponse } from "node:http";
import { listenLoopback, readBody, sendBytes, sendJson } from "../support/http-kit.js";
import { makeJpegLike } from "../support/image-bytes.js";

/** A result fetch: `GET /<owner>/<app>/requests/<id>` (status and cancel have a further segment). */
const RESULT_PATH = /^\/[^/]+\/[^/]+\/requests\/[^/]+$/;

/** The fake fal's queue API behind a proxy that makes every result a realistically sized image. */
export interface BigResultProxy {
  /** Use as FAL_QUEUE_URL. */
  readonly queueUrl: string;
  /** Result images downloaded so far (one per delivered job). */
  downloads(): number;
  stop(): Promise<void>;
}

/**
 * The fake fal renders results as one-colour PNGs of a few kilobytes, while fal's real results are
 * 1024² images of one to two megabytes, which the worker downloads into memory and uploads to Telegram.
 * This proxy forwards every queue call to the fake unchanged, except that a result's image URL is
 * rewritten to a JPEG of `resultBytes` bytes served here, so a job in the worker carries the bytes a real
 * one does.
 */
export async function startBigResultProxy(
  fakeQueueUrl: string,
  resultBytes: number,
): Promise<BigResultProxy> {
  const image = makeJpegLike(resultBytes, 1024, 1024);
  let downloads = 0;
  let origin = "";

  function rewrite(file: unknown, requestId: string): unknown {
    if (file === null || typeof file !== "object") return file;
    return {
      ...file,
      url: `${origin}/results/${requestId}.jpg`,
      content_type: "image/jpeg",
      file_name: `${requestId}.jpg`,
      file_size: image.length,
      width: 1024,
      height: 1024,
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://proxy").pathname;
    if (req.method === "GET" && path.startsWith("/results/")) {
      downloads += 1;
      return sendBytes(res, 200, image, "image/jpeg");
    }
    const body = await readBody(req, 10 * 1024 * 1024);
    const headers: Record<string, string> = {};
    for (const name of ["authorization", "content-type", "accept"]) {
      const value = req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const response = await fetch(`${fakeQueueUrl}${req.url ?? "/"}`, {
      method: req.method ?? "GET",
      headers,
      ...(body.length > 0 ? { body } : {}),
    });
    const answer = (await response.json()) as Record<string, unknown>;
    if (req.method === "GET" && response.status === 200 && RESULT_PATH.test(path)) {
      const requestId = path.split("/").at(-1) ?? "result";
      if (Array.isArray(answer.images)) answer.images = answer.images.map((f) => rewrite(f, requestId));
      if (answer.image !== undefined) answer.image = rewrite(answer.image, requestId);
    }
    sendJson(res, response.status, answer);
  }

  const server = await listenLoopback(handle);
  origin = server.origin;
  return { queueUrl: server.origin, downloads: () => downloads, stop: () => server.close() };
}
