import type { IncomingMessage, ServerResponse } from "node:http";
import { type FalWebhookKeys, WebhookKeysUnavailable } from "../fal/webhook-keys.js";
import { verifyFalWebhook } from "../fal/webhook-signature.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import type { FalCompletions } from "../queue/fal-completions.js";
import { answer, BodyTooLarge, readBody } from "./webhook.js";

/** Options of {@link createFalWebhookEndpoint}. */
export interface FalWebhookOptions {
  /** The path of FAL_WEBHOOK_URL (behind the TLS proxy it is the same). */
  path: string;
  /** fal's published keys (FAL_JWKS_URL), cached. */
  keys: FalWebhookKeys;
  completions: FalCompletions;
  /** Moves sleeping jobs to the front: their next step runs at once (GenerationQueue.wake). */
  wake: (jobIds: string[]) => Promise<void>;
  logger: Logger;
  /** Largest body accepted; fal's completions carry result URLs, not images. @defaultValue 1 MiB */
  maxBodyBytes?: number;
}

/** fal's webhook, mounted on the bot's HTTP server next to Telegram's. */
export interface FalWebhookEndpoint {
  /**
   * A POST to the path: 401 naming what failed when the signature, a header or the timestamp does not
   * verify (nothing else happens); 503 when fal's keys cannot be read (fal retries); else 200 once the
   * completion is recorded and its job woken. Any other request falls through (resolves false).
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

/**
 * Where fal posts a finished request. It verifies the signature, records the completion in Redis and
 * wakes the job that waits on it (its delayed step runs at once, and finding the completion goes straight
 * to delivery), and answers: a few Redis calls, far inside fal's 15-s timeout. It never delivers
 * anything itself: the worker's step does, fenced by the job's lock and outcome log, so a duplicated,
 * replayed or late webhook, or one for a request no job waits on (unknown, cancelled, already delivered),
 * is acknowledged and changes nothing.
 */
export function createFalWebhookEndpoint(options: FalWebhookOptions): FalWebhookEndpoint {
  const limit = options.maxBodyBytes ?? 1024 * 1024;
  const log = options.logger.child({ endpoint: "fal-webhook" });
  return {
    async handle(req, res) {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (req.method !== "POST" || path !== options.path) return false;
      let body: Buffer;
      try {
        body = await readBody(req, limit);
      } catch (error) {
        if (!(error instanceof BodyTooLarge)) throw error;
        answer(res, 413, `a fal webhook is at most ${limit} bytes`);
        req.destroy();
        return true;
      }
      let verdict: Awaited<ReturnType<typeof verifyFalWebhook>>;
      try {
        verdict = await verifyFalWebhook(req.headers, body, options.keys);
      } catch (error) {
        if (!(error instanceof WebhookKeysUnavailable)) throw error;
        metrics.falWebhooks.inc({ outcome: "unavailable" });
        log.warn({ err: error }, "fal webhook not verified: fal's keys are unavailable; fal will retry");
        answer(res, 503, "cannot verify now; deliver it again");
        return true;
      }
      if (!verdict.ok) {
        metrics.falWebhooks.inc({ outcome: "refused" });
        log.warn({ reason: verdict.reason }, "fal webhook refused");
        answer(res, 401, `unauthorized: ${verdict.reason}`);
        return true;
      }
      try {
        const jobId = await options.completions.complete(verdict.requestId);
        if (jobId !== null) await options.wake([jobId]);
        metrics.falWebhooks.inc({ outcome: jobId === null ? "unmatched" : "matched" });
        log.info({ requestId: verdict.requestId, jobId }, "fal webhook: request finished");
        answer(res, 200, "ok");
      } catch (error) {
        log.error({ err: error, requestId: verdict.requestId }, "fal webhook not recorded; fal will retry");
        answer(res, 500, "not recorded; deliver it again");
      }
      return true;
    },
  };
}
