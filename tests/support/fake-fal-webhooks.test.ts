import { createHash, createPublicKey, verify } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeFal, startFakeFal } from "./fake-fal.js";
import { type LoopbackServer, listenLoopback, readBody } from "./http-kit.js";
import { waitUntil } from "./wait-until.js";

/** What the receiver got: headers and the raw body, in arrival order. */
interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let fal: FakeFal;
let receiver: LoopbackServer;
let received: Received[];
/** The receiver's answers, one per POST in order; 200 once they run out. */
let answers: number[];

beforeEach(async () => {
  fal = await startFakeFal({ queueMs: 20, processingMs: 150, webhooks: { retryDelaysMs: [50, 50, 50] } });
  received = [];
  answers = [];
  receiver = await listenLoopback(async (req, res) => {
    received.push({ headers: req.headers, body: await readBody(req, 1 << 20) });
    res.writeHead(answers.shift() ?? 200).end();
  });
});
afterEach(async () => {
  await Promise.all([fal.stop(), receiver.close()]);
});

async function submit(prompt: string, webhook = `${receiver.origin}/fal/webhook`): Promise<string> {
  const response = await fetch(
    `${fal.queueUrl}/fal-ai/flux/schnell?fal_webhook=${encodeURIComponent(webhook)}`,
    {
      method: "POST",
      headers: { authorization: `Key ${fal.key}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt }),
    },
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { request_id: string }).request_id;
}

/**
 * Checks a delivery as fal's docs tell a receiver to, written out here rather than taken from the app so
 * that the fake and the app cannot agree on a wrong protocol: every public key of the JWKS against an
 * ED25519 signature of "request id\nuser id\ntimestamp\nsha256-hex(body)".
 */
async function signatureVerifies(delivery: Received): Promise<boolean> {
  const { keys } = (await (await fetch(fal.jwksUrl)).json()) as { keys: Record<string, string>[] };
  const header = (name: string): string => String(delivery.headers[name]);
  const message = [
    header("x-fal-webhook-request-id"),
    header("x-fal-webhook-user-id"),
    header("x-fal-webhook-timestamp"),
    createHash("sha256").update(delivery.body).digest("hex"),
  ].join("\n");
  const signature = Buffer.from(header("x-fal-webhook-signature"), "hex");
  return keys.some((jwk) =>
    verify(null, Buffer.from(message), createPublicKey({ key: jwk, format: "jwk" }), signature),
  );
}

const arrivals = (count: number): Promise<Received[]> =>
  waitUntil(async () => (received.length >= count ? received : undefined), {
    timeoutMs: 5_000,
    describe: () => `${count} webhook POSTs; got ${received.length}`,
  });

describe("fake fal webhooks", () => {
  it("posts the completed result to fal_webhook, signed with a key of its JWKS, without any status poll", async () => {
    const requestId = await submit("a lighthouse");
    const [delivery] = await arrivals(1);
    if (delivery === undefined) throw new Error("no delivery");
    const ended = fal.requestTimes()[0]?.endedAt ?? Number.POSITIVE_INFINITY;
    expect(fal.webhookDeliveries[0]?.at).toBeGreaterThanOrEqual(ended);
    expect(delivery.headers["x-fal-webhook-request-id"]).toBe(requestId);
    expect(Math.abs(Number(delivery.headers["x-fal-webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(5);
    expect(await signatureVerifies(delivery)).toBe(true);
    const body = JSON.parse(delivery.body.toString("utf8")) as Record<string, unknown>;
    expect(body).toMatchObject({
      request_id: requestId,
      status: "OK",
      payload: { images: [{ content_type: "image/png" }] },
    });
    expect(fal.pollsFor(requestId)).toBe(0);
    expect(fal.submissions[0]?.webhookUrl).toBe(`${receiver.origin}/fal/webhook`);
  });

  it("retries a delivery answered with an error until it is taken, each attempt signed afresh", async () => {
    answers = [500, 401];
    const requestId = await submit("a harbour");
    await arrivals(3);
    expect(fal.webhookDeliveries.map((d) => [d.requestId, d.attempt, d.answer])).toEqual([
      [requestId, 1, 500],
      [requestId, 2, 401],
      [requestId, 3, 200],
    ]);
    for (const delivery of received) expect(await signatureVerifies(delivery)).toBe(true);
  });

  it("gives up after its last retry when nobody answers (the receiver is gone)", async () => {
    const requestId = await submit("into the void", "http://127.0.0.1:1/fal/webhook");
    await waitUntil(async () => (fal.webhookDeliveries.length >= 4 ? true : undefined), {
      timeoutMs: 5_000,
      describe: () => `4 attempts; got ${fal.webhookDeliveries.length}`,
    });
    expect(fal.webhookDeliveries.map((d) => [d.requestId, d.attempt, d.answer])).toEqual(
      [1, 2, 3, 4].map((attempt) => [requestId, attempt, "error"]),
    );
  });

  it("drops, duplicates, mis-signs and backdates deliveries on demand", async () => {
    fal.failNextWebhook({ kind: "drop" });
    const dropped = await submit("dropped");
    await waitUntil(async () => (fal.webhookDeliveries.length === 1 ? true : undefined), {
      timeoutMs: 5_000,
      describe: () => "the dropped delivery recorded",
    });
    expect(fal.webhookDeliveries[0]).toMatchObject({ requestId: dropped, answer: "dropped" });
    expect(received).toHaveLength(0);

    fal.failNextWebhook({ kind: "duplicate" });
    await submit("twice");
    const [first, second] = await arrivals(2);
    expect(second?.body.equals(first?.body ?? Buffer.alloc(0))).toBe(true);
    expect(second?.headers["x-fal-webhook-signature"]).toBe(first?.headers["x-fal-webhook-signature"]);

    answers = [401];
    fal.failNextWebhook({ kind: "mis-sign" });
    await submit("forged");
    const forged = (await arrivals(4)).slice(2);
    for (const delivery of forged) expect(await signatureVerifies(delivery)).toBe(false);

    fal.failNextWebhook({ kind: "stale" });
    await submit("old");
    const old = (await arrivals(5))[4] as Received;
    expect(await signatureVerifies(old)).toBe(true);
    expect(Date.now() / 1000 - Number(old.headers["x-fal-webhook-timestamp"])).toBeGreaterThan(590);
  });

  it("replays a delivery byte for byte, and signs with a new key after a rotation", async () => {
    const requestId = await submit("again");
    await arrivals(1);
    expect(await fal.replayWebhook(requestId)).toBe(200);
    const [original, replayed] = await arrivals(2);
    expect(replayed?.headers["x-fal-webhook-timestamp"]).toBe(original?.headers["x-fal-webhook-timestamp"]);
    expect(replayed?.body.equals(original?.body ?? Buffer.alloc(0))).toBe(true);

    const before = (await (await fetch(fal.jwksUrl)).json()) as { keys: { kid: string }[] };
    fal.rotateWebhookKey();
    const after = (await (await fetch(fal.jwksUrl)).json()) as { keys: { kid: string }[] };
    expect(after.keys.map((k) => k.kid)).not.toEqual(before.keys.map((k) => k.kid));
    // The old delivery no longer verifies against the published keys; a new one does.
    expect(await signatureVerifies(original as Received)).toBe(false);
    await submit("rotated");
    const fresh = (await arrivals(3))[2] as Received;
    expect(await signatureVerifies(fresh)).toBe(true);
  });
});
