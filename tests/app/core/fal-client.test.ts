import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FalHttpError, FalNetworkError } from "../../../app/fal/errors.js";
import { FalClient } from "../../../app/fal/fal-client.js";
import { createHttpAgent } from "../../../app/fal/http-agent.js";
import { type FakeFal, startFakeFal } from "../../support/fake-fal.js";
import { freePort } from "../../support/free-port.js";
import { makePng } from "../../support/image-bytes.js";
import { waitUntil } from "../../support/wait-until.js";

let fal: FakeFal;
let client: FalClient;
const agent = createHttpAgent();

beforeAll(async () => {
  fal = await startFakeFal({ queueMs: 20, processingMs: 150 });
  client = new FalClient({ queueUrl: fal.queueUrl, restUrl: fal.restUrl, key: fal.key, dispatcher: agent });
});

afterAll(async () => {
  await agent.close();
  await fal?.stop();
});

async function completed(model: string, requestId: string): Promise<void> {
  await waitUntil(
    async () => ((await client.status(model, requestId)).state === "COMPLETED" ? true : undefined),
    {
      timeoutMs: 5_000,
      intervalMs: 30,
      describe: () => `${requestId} never completed`,
    },
  );
}

describe("FalClient against the fake fal queue", () => {
  it("submits, polls under the app id, and fetches a real image result", async () => {
    const model = "fal-ai/flux/schnell";
    const requestId = await client.submit(model, { prompt: "a kettle" });
    expect(fal.submissions.at(-1)).toMatchObject({
      requestId,
      modelId: model,
      input: { prompt: "a kettle" },
    });
    await completed(model, requestId);
    const result = await client.result(model, requestId);
    const bytes = await client.download(result.url, 10 * 1024 * 1024);
    expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");
  });

  it("reaches status, result and cancel of a sub-path model through its app id", async () => {
    const model = "fal-ai/flux/dev/image-to-image";
    const upload = await client.upload(Readable.from([makePng(8, 8)]), {
      contentType: "image/png",
      fileName: "source.png",
      size: makePng(8, 8).length,
    });
    expect(fal.uploads.at(-1)).toMatchObject({ fileUrl: upload, contentType: "image/png" });
    fal.setProcessingMs(10_000);
    const requestId = await client.submit(model, { prompt: "blue", image_url: upload });
    expect((await client.status(model, requestId)).state).not.toBe("COMPLETED");
    expect(await client.cancel(model, requestId)).toBe("CANCELLATION_REQUESTED");
    expect(fal.cancelled).toContain(requestId);
    fal.setProcessingMs(150);
  });

  it("calls a cancel of a finished request harmless", async () => {
    const model = "fal-ai/flux/schnell";
    const requestId = await client.submit(model, { prompt: "done already" });
    await completed(model, requestId);
    expect(await client.cancel(model, requestId)).toBe("ALREADY_COMPLETED");
  });

  it("marks 5xx and 429 retryable and 422 final, keeping fal's reason", async () => {
    fal.failNext({ on: "submit", status: 503 });
    const unavailable = await client.submit("fal-ai/flux/schnell", { prompt: "x" }).catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(FalHttpError);
    expect((unavailable as FalHttpError).retryable).toBe(true);

    fal.failNext({ on: "status", status: 429 });
    const requestId = await client.submit("fal-ai/flux/schnell", { prompt: "y" });
    const limited = await client.status("fal-ai/flux/schnell", requestId).catch((e: unknown) => e);
    expect((limited as FalHttpError).retryable).toBe(true);

    fal.failNext({ on: "submit", status: 422 });
    const rejected = (await client
      .submit("fal-ai/flux/schnell", { prompt: "z" })
      .catch((e: unknown) => e)) as FalHttpError;
    expect(rejected.retryable).toBe(false);
    expect(rejected.contentPolicy).toBe(true);
    expect(rejected.reason).toBe("The content was flagged by the safety checker.");
  });

  it("reports a missing prompt as fal's validation message, and never puts the key in an error", async () => {
    const requestId = await client.submit("fal-ai/flux/schnell", {});
    await completed("fal-ai/flux/schnell", requestId);
    const invalid = (await client
      .result("fal-ai/flux/schnell", requestId)
      .catch((e: unknown) => e)) as FalHttpError;
    expect(invalid.status).toBe(422);
    expect(invalid.contentPolicy).toBe(false);
    expect(invalid.reason.length).toBeGreaterThan(0);

    const wrongKey = new FalClient({
      queueUrl: fal.queueUrl,
      restUrl: fal.restUrl,
      key: "id:wrong-secret",
      dispatcher: agent,
    });
    const denied = (await wrongKey
      .submit("fal-ai/flux/schnell", { prompt: "x" })
      .catch((e: unknown) => e)) as FalHttpError;
    expect(denied.status).toBe(401);
    expect(denied.retryable).toBe(false);
    expect(`${denied.message} ${denied.body}`).not.toContain("wrong-secret");
  });

  it("gives a user at most 200 characters of fal's reason, and the status when fal's body is not JSON", () => {
    const long = new FalHttpError("submit", 422, JSON.stringify({ detail: "é".repeat(500) }));
    expect(Array.from(long.reason)).toHaveLength(200);
    expect(long.reason.endsWith("…")).toBe(true);
    const html = new FalHttpError("submit", 400, "<html><body>Bad Request at 10.0.0.7</body></html>");
    expect(html.reason).toBe("HTTP 400");
  });

  it("turns a refused connection into a retryable network error", async () => {
    const closed = await freePort();
    const offline = new FalClient({
      queueUrl: `http://127.0.0.1:${closed}`,
      restUrl: fal.restUrl,
      key: fal.key,
      dispatcher: agent,
    });
    const error = await offline.submit("fal-ai/flux/schnell", { prompt: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FalNetworkError);
    expect((error as FalNetworkError).retryable).toBe(true);
  });

  it("refuses a download larger than the limit while reading it", async () => {
    const model = "fal-ai/flux/schnell";
    const requestId = await client.submit(model, { prompt: "big" });
    await completed(model, requestId);
    const result = await client.result(model, requestId);
    await expect(client.download(result.url, 10)).rejects.toThrow(/larger than 10 bytes/);
  });
});
