import { createHash, type KeyObject, verify } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { FalWebhookKeys } from "./webhook-keys.js";

/** How far a webhook's timestamp may be from this clock, either way (fal's documented tolerance). */
export const webhookToleranceSeconds = 300;

/** The signed headers of a fal webhook. */
export interface FalWebhookHeaders {
  requestId: string;
  userId: string;
  /** Unix seconds, as sent (the signed text). */
  timestamp: string;
  /** Hex ED25519 signature. */
  signature: string;
}

/** A webhook's verdict: verified for `requestId`, or refused for `reason` (said in the 401's body). */
export type WebhookVerdict = { ok: true; requestId: string } | { ok: false; reason: string };

const headerNames = {
  requestId: "x-fal-webhook-request-id",
  userId: "x-fal-webhook-user-id",
  timestamp: "x-fal-webhook-timestamp",
  signature: "x-fal-webhook-signature",
} as const;

/** The four signed headers, or the names of those missing. */
export function readWebhookHeaders(headers: IncomingHttpHeaders): FalWebhookHeaders | { missing: string[] } {
  const values: Partial<Record<keyof FalWebhookHeaders, string>> = {};
  const missing: string[] = [];
  for (const [field, name] of Object.entries(headerNames) as [keyof FalWebhookHeaders, string][]) {
    const value = headers[name];
    if (typeof value === "string" && value !== "") values[field] = value;
    else missing.push(name);
  }
  return missing.length > 0 ? { missing } : (values as FalWebhookHeaders);
}

/** The text fal signs: request id, user id, timestamp and the hex SHA-256 of the raw body, one per line. */
export function signedMessage(headers: Omit<FalWebhookHeaders, "signature">, body: Buffer): Buffer {
  const digest = createHash("sha256").update(body).digest("hex");
  return Buffer.from(`${headers.requestId}\n${headers.userId}\n${headers.timestamp}\n${digest}`, "utf8");
}

/** Why a timestamp is refused, or undefined when it is within ±{@link webhookToleranceSeconds} of `nowMs`. */
export function timestampProblem(timestamp: string, nowMs: number): string | undefined {
  if (!/^\d{1,12}$/.test(timestamp)) return "x-fal-webhook-timestamp is not Unix seconds";
  const skew = Math.abs(nowMs / 1000 - Number(timestamp));
  return skew > webhookToleranceSeconds
    ? `x-fal-webhook-timestamp is ${Math.round(skew)} s away from now; at most ${webhookToleranceSeconds} s is allowed`
    : undefined;
}

/** Whether one of `keys` made `headers.signature` over the signed message of `body`. */
export function signedByOneOf(headers: FalWebhookHeaders, body: Buffer, keys: readonly KeyObject[]): boolean {
  if (!/^(?:[0-9a-f]{2})+$/i.test(headers.signature)) return false;
  const message = signedMessage(headers, body);
  const signature = Buffer.from(headers.signature, "hex");
  return keys.some((key) => {
    try {
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  });
}

/**
 * Verifies a fal webhook as fal documents it: the four headers present, the timestamp within ±5 min (a
 * replay from later is refused), and an ED25519 signature by one of fal's published keys over the request
 * id, the user id, the timestamp and the raw body's SHA-256. When no cached key verifies, the keys are
 * fetched again once (a rotation) before the webhook is refused. Throws WebhookKeysUnavailable when the
 * keys cannot be read at all (not the sender's fault: the receiver answers 503 and fal retries).
 */
export async function verifyFalWebhook(
  rawHeaders: IncomingHttpHeaders,
  body: Buffer,
  keys: FalWebhookKeys,
  nowMs: number = Date.now(),
): Promise<WebhookVerdict> {
  const headers = readWebhookHeaders(rawHeaders);
  if ("missing" in headers) return { ok: false, reason: `missing ${headers.missing.join(", ")}` };
  const stale = timestampProblem(headers.timestamp, nowMs);
  if (stale !== undefined) return { ok: false, reason: stale };
  if (signedByOneOf(headers, body, await keys.current())) return { ok: true, requestId: headers.requestId };
  const refreshed = await keys.refresh();
  if (refreshed !== undefined && signedByOneOf(headers, body, refreshed)) {
    return { ok: true, requestId: headers.requestId };
  }
  return { ok: false, reason: "x-fal-webhook-signature does not verify with fal's published keys" };
}
