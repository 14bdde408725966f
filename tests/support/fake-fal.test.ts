import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeFal, startFakeFal } from "./fake-fal.js";
import { makePng, sniffImage } from "./image-bytes.js";

let fal: FakeFal;
beforeEach(async () => {
  fal = await startFakeFal({ queueMs: 100, processingMs: 200 });
});
afterEach(async () => {
  await fal.stop();
});

function auth(): Record<string, string> {
  return { authorization: `Key ${fal.key}`, "content-type": "application/json" };
}

async function submit(
  modelId: string,
  input: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${fal.queueUrl}/${modelId}`, {
    method: "POST",
    headers: auth(),
    body: JSON.stringify(input),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function getJson(
  url: string,
  method = "GET",
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method, headers: auth() });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function untilCompleted(statusUrl: string): Promise<number> {
  let polls = 0;
  for (;;) {
    polls += 1;
    const { status, body } = await getJson(statusUrl);
    if (body.status === "COMPLETED") {
      expect(status).toBe(200);
      return polls;
    }
    expect(status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
}

async function uploadToStorage(bytes: Buffer, contentType: string): Promise<string> {
  const initiate = await fetch(`${fal.restUrl}/storage/upload/initiate?storage_type=fal-cdn-v3`, {
    method: "POST",
    headers: auth(),
    body: JSON.stringify({ content_type: contentType, file_name: "in.png" }),
  });
  const { upload_url, file_url } = (await initiate.json()) as { upload_url: string; file_url: string };
  const put = await fetch(upload_url, {
    method: "PUT",
    headers: { "content-type": contentType },
    body: bytes,
  });
  expect(put.status).toBe(200);
  return file_url;
}

describe("fake fal queue", () => {
  it("refuses requests without the right key", async () => {
    const none = await fetch(`${fal.queueUrl}/fal-ai/flux/schnell`, { method: "POST", body: "{}" });
    expect(none.status).toBe(401);
    const wrong = await fetch(`${fal.queueUrl}/fal-ai/flux/schnell`, {
      method: "POST",
      headers: { authorization: "Key nope", "content-type": "application/json" },
      body: "{}",
    });
    expect(wrong.status).toBe(401);
    expect(fal.submissions).toHaveLength(0);
  });

  it("runs a text-to-image request through IN_QUEUE, IN_PROGRESS and COMPLETED to a real PNG", async () => {
    const { status, body } = await submit("fal-ai/flux/schnell", { prompt: "a red fox" });
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "IN_QUEUE", queue_position: 0 });
    const id = String(body.request_id);
    expect(body.status_url).toBe(`${fal.queueUrl}/fal-ai/flux/requests/${id}/status`);
    expect(body.cancel_url).toBe(`${fal.queueUrl}/fal-ai/flux/requests/${id}/cancel`);
    const early = await getJson(String(body.response_url));
    expect(early).toEqual({ status: 400, body: { detail: "Request is still in progress" } });

    const polls = await untilCompleted(String(body.status_url));
    expect(fal.pollsFor(id)).toBe(polls);
    const result = await getJson(String(body.response_url));
    expect(fal.resultFetchesFor(id)).toBe(2);
    const image = (result.body.images as { url: string; width: number; height: number }[])[0];
    const png = Buffer.from(await (await fetch(image?.url ?? "")).arrayBuffer());
    expect(sniffImage(png)).toEqual({ mime: "image/png", width: image?.width, height: image?.height });
  });

  it("hands out its URLs on the public origins it is given (a relay for clients in containers)", async () => {
    fal.setPublicOrigins({ queue: "http://10.9.8.7:1111", rest: "http://10.9.8.7:2222" });
    const { body } = await submit("fal-ai/flux/schnell", { prompt: "a relay" });
    expect(String(body.status_url)).toMatch(/^http:\/\/10\.9\.8\.7:1111\/fal-ai\/flux\/requests\//);
    fal.setPublicOrigins({});
    const local = String(body.response_url).replace("http://10.9.8.7:1111", fal.queueUrl);
    await untilCompleted(`${local}/status`);
    fal.setPublicOrigins({ rest: "http://10.9.8.7:2222" });
    const result = await getJson(local);
    const image = (result.body.images as { url: string }[])[0];
    expect(image?.url).toMatch(/^http:\/\/10\.9\.8\.7:2222\/cdn\//);
  });

  it("answers 404 when status uses the full model id instead of the app id", async () => {
    const { body } = await submit("fal-ai/flux/dev/image-to-image", {
      prompt: "x",
      image_url: "http://127.0.0.1:1/x",
    });
    const wrong = await getJson(
      `${fal.queueUrl}/fal-ai/flux/dev/image-to-image/requests/${body.request_id}/status`,
    );
    expect(wrong.status).toBe(404);
    const unknownModel = await submit("fal-ai/no-such-model", { prompt: "x" });
    expect(unknownModel.status).toBe(404);
  });

  it("reports queue positions", async () => {
    fal.setQueueMs(5_000);
    await submit("fal-ai/flux/schnell", { prompt: "first" });
    const second = await submit("fal-ai/flux/schnell", { prompt: "second" });
    expect(second.body.queue_position).toBe(1);
    const status = await getJson(String(second.body.status_url));
    expect(status).toMatchObject({ status: 202, body: { status: "IN_QUEUE", queue_position: 1 } });
  });

  it("takes uploads through initiate + a signed PUT and edits and upscales them", async () => {
    const bad = await fetch(`${fal.restUrl}/storage/upload/initiate`, {
      method: "POST",
      headers: auth(),
      body: "{}",
    });
    expect(bad.status).toBe(422);
    const initiate = await fetch(`${fal.restUrl}/storage/upload/initiate`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({ content_type: "image/png", file_name: "a.png" }),
    });
    const { upload_url } = (await initiate.json()) as { upload_url: string };
    const mismatched = await fetch(upload_url, {
      method: "PUT",
      headers: { "content-type": "image/jpeg" },
      body: "x",
    });
    expect(mismatched.status).toBe(403);

    const fileUrl = await uploadToStorage(makePng(300, 200), "image/png");
    expect(fal.uploads).toMatchObject([{ fileUrl, contentType: "image/png" }]);
    const edit = await submit("fal-ai/flux/dev/image-to-image", {
      prompt: "make it blue",
      image_url: fileUrl,
    });
    const upscale = await submit("fal-ai/clarity-upscaler", { image_url: fileUrl, upscale_factor: 2 });
    await untilCompleted(String(upscale.body.status_url));
    const edited = await getJson(String(edit.body.response_url));
    expect(edited.status).toBe(200);
    const upscaled = await getJson(String(upscale.body.response_url));
    expect(upscaled.body.image).toMatchObject({ width: 600, height: 400, content_type: "image/png" });
  });

  it("answers 422 with fal's detail array for input the model rejects", async () => {
    const empty = await submit("fal-ai/flux/schnell", { prompt: "" });
    const noImage = await submit("fal-ai/clarity-upscaler", {});
    const unreachable = await submit("fal-ai/clarity-upscaler", {
      image_url: `${fal.restUrl}/files/none/x.png`,
    });
    await untilCompleted(String(unreachable.body.status_url));
    const results = await Promise.all(
      [empty, noImage, unreachable].map((s) => getJson(String(s.body.response_url))),
    );
    expect(results.map((r) => r.status)).toEqual([422, 422, 422]);
    expect(results.map((r) => (r.body.detail as { type: string }[])[0]?.type)).toEqual([
      "string_too_short",
      "missing",
      "file_download_error",
    ]);
    const notJson = await fetch(`${fal.queueUrl}/fal-ai/flux/schnell`, {
      method: "POST",
      headers: auth(),
      body: "prompt=x",
    });
    expect(notJson.status).toBe(422);
  });

  it("cancels queued and running requests, not completed ones", async () => {
    fal.setProcessingMs(60_000);
    const running = await submit("fal-ai/flux/schnell", { prompt: "slow" });
    const cancel = await getJson(String(running.body.cancel_url), "PUT");
    expect(cancel).toEqual({ status: 202, body: { status: "CANCELLATION_REQUESTED" } });
    expect(fal.cancelled).toEqual([running.body.request_id]);
    expect((await getJson(String(running.body.response_url))).status).toBe(499);

    fal.setProcessingMs(10);
    fal.setQueueMs(0);
    const quick = await submit("fal-ai/flux/schnell", { prompt: "quick" });
    await untilCompleted(String(quick.body.status_url));
    expect(await getJson(String(quick.body.cancel_url), "PUT")).toEqual({
      status: 400,
      body: { status: "ALREADY_COMPLETED" },
    });
    expect(await getJson(`${fal.queueUrl}/fal-ai/flux/requests/nope/cancel`, "PUT")).toEqual({
      status: 404,
      body: { status: "NOT_FOUND" },
    });
  });

  it("injects failures into the next calls of a kind", async () => {
    fal.failNext({ on: "submit", status: 500 });
    expect((await submit("fal-ai/flux/schnell", { prompt: "x" })).status).toBe(500);
    const ok = await submit("fal-ai/flux/schnell", { prompt: "x" });
    expect(ok.status).toBe(200);
    fal.failNext({ on: "status", status: 503, times: 2 });
    expect((await getJson(String(ok.body.status_url))).status).toBe(503);
    expect((await getJson(String(ok.body.status_url))).status).toBe(503);
    await untilCompleted(String(ok.body.status_url));
    fal.failNext({ on: "status", status: "reset" });
    await expect(fetch(String(ok.body.status_url), { headers: auth() })).rejects.toThrow();
    fal.failNext({ on: "result", status: 422 });
    const rejected = await getJson(String(ok.body.response_url));
    expect(rejected.status).toBe(422);
    expect((rejected.body.detail as { type: string }[])[0]?.type).toBe("content_policy_violation");
    expect((await getJson(String(ok.body.response_url))).status).toBe(200);
  });
});

describe("fake fal account concurrency", () => {
  it("runs at most the account's limit at once and queues the rest FIFO with positions", async () => {
    fal.setQueueMs(0);
    fal.setProcessingMs(400);
    fal.setAccountConcurrency(2);
    const submitted = [];
    for (let i = 0; i < 5; i += 1) submitted.push(await submit("fal-ai/flux/schnell", { prompt: `p${i}` }));
    await new Promise((resolve) => setTimeout(resolve, 60));
    const states = await Promise.all(submitted.map((s) => getJson(String(s.body.status_url))));
    expect(states.map((s) => s.body.status)).toEqual([
      "IN_PROGRESS",
      "IN_PROGRESS",
      "IN_QUEUE",
      "IN_QUEUE",
      "IN_QUEUE",
    ]);
    expect(states.slice(2).map((s) => s.body.queue_position)).toEqual([0, 1, 2]);

    await Promise.all(submitted.map((s) => untilCompleted(String(s.body.status_url))));
    expect(fal.peakInProgress).toBe(2);
    expect(fal.peakInFlight).toBe(5);
    const times = fal.requestTimes();
    // Three waves of 400 ms: the first two start at once, the next two when those end, the last after them.
    expect(times.map((t) => Math.round(t.inQueueMs / 400))).toEqual([0, 0, 1, 1, 2]);
    const starts = times.map((t) => t.startedAt ?? Number.NaN);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });

  it("gives a cancelled request's runner to the next in the queue at once", async () => {
    fal.setQueueMs(0);
    fal.setProcessingMs(10_000);
    fal.setAccountConcurrency(1);
    const first = await submit("fal-ai/flux/schnell", { prompt: "long" });
    fal.setProcessingMs(100);
    const second = await submit("fal-ai/flux/schnell", { prompt: "next" });
    expect(second.body.queue_position).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await getJson(String(second.body.status_url))).body.status).toBe("IN_QUEUE");
    await getJson(String(first.body.cancel_url), "PUT");
    await untilCompleted(String(second.body.status_url));
    const [, waited] = fal.requestTimes();
    expect(waited?.inQueueMs).toBeGreaterThanOrEqual(150);
    expect(fal.peakInProgress).toBe(1);
  });

  it("raising the limit starts queued requests; without a limit every request starts after queueMs", async () => {
    fal.setQueueMs(0);
    fal.setProcessingMs(5_000);
    fal.setAccountConcurrency(1);
    const a = await submit("fal-ai/flux/schnell", { prompt: "a" });
    const b = await submit("fal-ai/flux/schnell", { prompt: "b" });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect((await getJson(String(b.body.status_url))).body.status).toBe("IN_QUEUE");
    fal.setAccountConcurrency(undefined);
    expect((await getJson(String(b.body.status_url))).body.status).toBe("IN_PROGRESS");
    expect((await getJson(String(a.body.status_url))).body.status).toBe("IN_PROGRESS");
    expect(fal.peakInProgress).toBe(2);
    expect(() => fal.setAccountConcurrency(0)).toThrow(
      /accountConcurrency must be a whole number >= 1.*got 0/,
    );
  });

  it("draws each request's processing time from a distribution", async () => {
    fal.setQueueMs(0);
    const drawn = [50, 250];
    fal.setProcessingMs(() => drawn.shift() ?? 0);
    const quick = await submit("fal-ai/flux/schnell", { prompt: "quick" });
    const slow = await submit("fal-ai/flux/schnell", { prompt: "slow" });
    await untilCompleted(String(quick.body.status_url));
    expect((await getJson(String(slow.body.status_url))).body.status).toBe("IN_PROGRESS");
    await untilCompleted(String(slow.body.status_url));
    expect(fal.requestTimes().map((t) => t.processingMs)).toEqual([50, 250]);
    const result = await getJson(String(slow.body.response_url));
    expect(result.body.timings).toEqual({ inference: 0.25 });
  });
});
