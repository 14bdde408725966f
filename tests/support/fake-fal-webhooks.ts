import { generateKeyPairSync, type KeyObject, randomUUID, sign } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { signedMessage } from "../../app/fal/webhook-signature.js";

/**
 * A fault the fake injects into the next completion's webhook (`times` completions, default 1):
 * - `drop`: nothing is ever posted (fal lost it);
 * - `delay`: the first attempt goes out `delayMs` late;
 * - `duplicate`: the delivery is posted twice, the copy right after the first answer;
 * - `mis-sign`: every attempt is signed with a key fal does not publish (a forgery: it never verifies);
 * - `stale`: every attempt carries a timestamp 10 minutes old (a replay from outside fal's ±5-min window).
 */
export interface WebhookFault {
  kind: "drop" | "delay" | "duplicate" | "mis-sign" | "stale";
  /** For `delay`. @defaultValue 1000 */
  delayMs?: number;
  /** @defaultValue 1 */
  times?: number;
}

/** One POST to a webhook URL (or one that was dropped on purpose), as the fake made it. */
export interface WebhookDelivery {
  requestId: string;
  /** 1 for the first attempt, 2… for retries; duplicates and replays repeat the attempt's number. */
  attempt: number;
  at: number;
  /** The receiver's HTTP status, "timeout" (no answer within the timeout) or "error" (refused, reset). */
  answer: number | "timeout" | "error" | "dropped";
  /** The fault injected into it, if any; "replay" for {@link FakeFalWebhooks.replay}. */
  fault?: WebhookFault["kind"] | "replay";
}

/** Options of {@link createFakeFalWebhooks}. */
export interface FakeFalWebhookOptions {
  /** X-Fal-Webhook-User-Id of every delivery: the account the key belongs to. */
  userId: string;
  /**
   * Waits before each retry after a failed attempt (non-2xx, timeout, network error); one entry per retry.
   * fal documents up to 10 retries within two hours; the default compresses that schedule for tests.
   * @defaultValue 100 ms doubling, 10 retries
   */
  retryDelaysMs?: number[];
  /** How long an attempt may take before it counts as failed (fal's is 15 s). @defaultValue 15000 */
  timeoutMs?: number;
}

/** fal's webhook side of the fake: its signing keys, the JWKS it publishes, and deliveries with retries. */
export interface FakeFalWebhooks {
  /** The JSON Web Key Set served at /.well-known/jwks.json (public keys only). */
  jwks(): { keys: Record<string, unknown>[] };
  /** Signs with a new key from now on and publishes only it (the previous key is withdrawn). */
  rotateKey(): void;
  /** Injects a fault into the next completions' deliveries. */
  fault(fault: WebhookFault): void;
  /** Posts a completion to `url`, retrying on failure; resolves when it was answered 2xx or gave up. */
  deliver(url: string, requestId: string, body: unknown): Promise<void>;
  /** Posts the last delivery made for `requestId` again, byte for byte (headers included); its status. */
  replay(requestId: string): Promise<number | "timeout" | "error">;
  readonly deliveries: readonly WebhookDelivery[];
  /** Deliveries still retrying (for a clean stop). */
  pending(): number;
  stop(): void;
}

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { kid: randomUUID(), privateKey, publicKey };
}

/**
 * Webhooks as fal sends them: a POST of `{request_id, gateway_request_id, status, payload}` with the headers
 * X-Fal-Webhook-Request-Id, -User-Id, -Timestamp (Unix seconds) and -Signature (hex ED25519 signature of
 * the app's `signedMessage`, which fake-fal-webhooks.test.ts checks against fal's documented format), whose
 * public key is in the JWKS; retried on a non-2xx answer, a timeout or a
 * network error.
 */
export function createFakeFalWebhooks(options: FakeFalWebhookOptions): FakeFalWebhooks {
  const retryDelays = options.retryDelaysMs ?? Array.from({ length: 10 }, (_, i) => 100 * 2 ** i);
  const timeoutMs = options.timeoutMs ?? 15_000;
  let key = newKey();
  const forger = newKey();
  const faults: (WebhookFault & { left: number })[] = [];
  const deliveries: WebhookDelivery[] = [];
  const last = new Map<string, { url: string; headers: Record<string, string>; bytes: Buffer }>();
  const stopping = new AbortController();
  let pending = 0;

  const takeFault = (): WebhookFault | undefined => {
    const fault = faults[0];
    if (fault === undefined) return undefined;
    fault.left -= 1;
    if (fault.left <= 0) faults.shift();
    return fault;
  };

  const signed = (
    requestId: string,
    bytes: Buffer,
    fault: WebhookFault | undefined,
  ): Record<string, string> => {
    const seconds = Math.floor(Date.now() / 1000) - (fault?.kind === "stale" ? 600 : 0);
    const timestamp = String(seconds);
    const signer = fault?.kind === "mis-sign" ? forger : key;
    const signature = sign(
      null,
      signedMessage({ requestId, userId: options.userId, timestamp }, bytes),
      signer.privateKey,
    );
    return {
      "content-type": "application/json",
      "x-fal-webhook-request-id": requestId,
      "x-fal-webhook-user-id": options.userId,
      "x-fal-webhook-timestamp": timestamp,
      "x-fal-webhook-signature": signature.toString("hex"),
    };
  };

  const post = async (
    url: string,
    headers: Record<string, string>,
    bytes: Buffer,
  ): Promise<number | "timeout" | "error"> => {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers,
        body: bytes,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stopping.signal]),
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.status;
    } catch (error) {
      return (error as Error).name === "TimeoutError" ? "timeout" : "error";
    }
  };

  return {
    jwks: () => ({
      keys: [{ ...key.publicKey.export({ format: "jwk" }), kid: key.kid, alg: "EdDSA", use: "sig" }],
    }),
    rotateKey() {
      key = newKey();
    },
    fault(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    async deliver(url, requestId, body) {
      const fault = takeFault();
      const bytes = Buffer.from(JSON.stringify(body), "utf8");
      const record = (attempt: number, answer: WebhookDelivery["answer"], kind = fault?.kind): void => {
        deliveries.push({
          requestId,
          attempt,
          at: Date.now(),
          answer,
          ...(kind === undefined ? {} : { fault: kind }),
        });
      };
      if (fault?.kind === "drop") {
        record(1, "dropped");
        return;
      }
      pending += 1;
      try {
        const pause = (ms: number): Promise<void> =>
          delay(ms, undefined, { signal: stopping.signal }).catch(() => undefined);
        if (fault?.kind === "delay") await pause(fault.delayMs ?? 1000);
        for (let attempt = 1; attempt <= retryDelays.length + 1 && !stopping.signal.aborted; attempt += 1) {
          // Each attempt is signed afresh (a new timestamp), as fal does.
          const headers = signed(requestId, bytes, fault);
          last.set(requestId, { url, headers, bytes });
          const answer = await post(url, headers, bytes);
          record(attempt, answer);
          if (fault?.kind === "duplicate" && attempt === 1) record(attempt, await post(url, headers, bytes));
          if (typeof answer === "number" && answer >= 200 && answer < 300) return;
          const wait = retryDelays[attempt - 1];
          if (wait === undefined) return;
          await pause(wait);
        }
      } finally {
        pending -= 1;
      }
    },
    async replay(requestId) {
      const previous = last.get(requestId);
      if (previous === undefined) throw new Error(`no webhook was delivered for request ${requestId}`);
      const answer = await post(previous.url, previous.headers, previous.bytes);
      deliveries.push({ requestId, attempt: 0, at: Date.now(), answer, fault: "replay" });
      return answer;
    },
    deliveries,
    pending: () => pending,
    stop() {
      stopping.abort();
    },
  };
}
