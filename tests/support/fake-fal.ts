import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  createFakeFalWebhooks,
  type FakeFalWebhookOptions,
  type WebhookDelivery,
  type WebhookFault,
} from "./fake-fal-webhooks.js";
import {
  BodyTooLargeError,
  type LoopbackServer,
  listenLoopback,
  readBody,
  sendBytes,
  sendJson,
  sleep,
} from "./http-kit.js";
import { makePng, sniffImage } from "./image-bytes.js";

export type { WebhookDelivery, WebhookFault } from "./fake-fal-webhooks.js";

/** Which fal call a failure is injected into. */
export type FalCallKind = "submit" | "status" | "result" | "cancel" | "initiate" | "upload";

/** An injected failure: the next `times` calls of kind `on` answer `status` with `body`. */
export interface FalFailure {
  on: FalCallKind;
  /** An HTTP status, or "reset": the connection is dropped without an answer (a network error). */
  status: number | "reset";
  /** @defaultValue a body in fal's format for the status (422: a `detail` array; others: `detail` + `error_type`) */
  body?: unknown;
  /** @defaultValue 1 */
  times?: number;
}

/** One accepted submission. */
export interface FalSubmission {
  requestId: string;
  /** The full model id the client posted to, e.g. "fal-ai/flux/dev/image-to-image". */
  modelId: string;
  /** The app id (owner/app) its status, result and cancel URLs use, e.g. "fal-ai/flux". */
  appId: string;
  input: Record<string, unknown>;
  at: number;
  /** The `fal_webhook` query parameter of the submission: where its completion is posted. */
  webhookUrl?: string;
}

/** One HTTP call the fake answered. */
export interface FalCall {
  kind: FalCallKind | "cdn" | "jwks" | "unknown";
  method: string;
  path: string;
  status: number;
  at: number;
  requestId?: string;
  /** The queue state the answer reported (`status` of submit, status and cancel answers). */
  state?: string;
}

/** One submission's life at the fake, for measuring the wait at fal. */
export interface FalRequestTimes {
  requestId: string;
  submittedAt: number;
  /** When a runner took it (IN_PROGRESS); undefined while IN_QUEUE, or if it was cancelled there. */
  startedAt?: number;
  /** When it completed or was cancelled; undefined while IN_QUEUE or IN_PROGRESS. */
  endedAt?: number;
  /** Time spent IN_QUEUE: until it started, was cancelled or (still queued) until now. */
  inQueueMs: number;
  /** Its processing time (drawn at submission). */
  processingMs: number;
}

/** Options for {@link startFakeFal}. */
export interface FakeFalOptions {
  /** The key the fake accepts as `Authorization: Key <key>`. @defaultValue a random `id:secret` */
  key?: string;
  /** How long a request stays IN_QUEUE before a runner takes it. @defaultValue 50 */
  queueMs?: number;
  /**
   * How long a runner works on a request (IN_PROGRESS) before it is COMPLETED: a fixed time, or a function
   * drawn once per submission (a distribution of job times). @defaultValue 300
   */
  processingMs?: number | (() => number);
  /**
   * The account's concurrent request limit, as fal enforces it per key: at most this many requests are
   * IN_PROGRESS at once; the rest stay IN_QUEUE (FIFO, `queue_position` counted over the account's queue) until
   * a running one completes or is cancelled. @defaultValue undefined (no limit: every request starts after `queueMs`)
   */
  accountConcurrency?: number;
  /** Called with every call as it is answered (the demo prints its timeline from these). */
  onCall?: (call: FalCall) => void;
  /** Retry schedule and timeout of webhook deliveries (see {@link FakeFalWebhookOptions}). */
  webhooks?: Omit<FakeFalWebhookOptions, "userId">;
}

/** A running fake of fal's queue API and storage; see {@link startFakeFal}. */
export interface FakeFal {
  /** Use as FAL_QUEUE_URL (stands for https://queue.fal.run). */
  readonly queueUrl: string;
  /** Use as FAL_REST_URL (stands for https://rest.alpha.fal.ai: storage uploads; its /files and /cdn serve bytes). */
  readonly restUrl: string;
  readonly key: string;
  /** Use as FAL_JWKS_URL (stands for https://rest.alpha.fal.ai/.well-known/jwks.json): the webhook keys. */
  readonly jwksUrl: string;
  readonly submissions: readonly FalSubmission[];
  /** Request ids that received a cancel while IN_QUEUE or IN_PROGRESS. */
  readonly cancelled: readonly string[];
  /** Every HTTP call, in order (recorded when answered). */
  readonly calls: readonly FalCall[];
  /** Queue calls received and not yet answered (e.g. held by latency): what a worker is waiting on now. */
  inFlight(): { kind: FalCallKind | "unknown"; requestId?: string }[];
  /** Files uploaded through storage: their URL, type and size. */
  readonly uploads: readonly { fileUrl: string; contentType: string; bytes: number; at: number }[];
  /** How many status requests a request received. */
  pollsFor(requestId: string): number;
  /**
   * The origins clients reach the queue and storage servers at, when that is not their own 127.0.0.1:<port>
   * (a relay for clients in containers, tests/containers): from now on the URLs the fake hands out (status,
   * result, files, uploads) use them.
   */
  setPublicOrigins(origins: { queue?: string; rest?: string }): void;
  /** Every webhook POST made (and every one dropped on purpose), in order. */
  readonly webhookDeliveries: readonly WebhookDelivery[];
  /** Injects a fault into the webhooks of the next completions (drop, delay, duplicate, mis-sign, stale). */
  failNextWebhook(fault: WebhookFault): void;
  /** Posts the last webhook of `requestId` again, byte for byte (a replay); resolves to the answer. */
  replayWebhook(requestId: string): Promise<number | "timeout" | "error">;
  /** Signs webhooks with a new key from now on; the JWKS publishes only the new one. */
  rotateWebhookKey(): void;
  /** When each status request for a request arrived (ms since the epoch). */
  pollTimesFor(requestId: string): number[];
  /** How many result fetches a request received. */
  resultFetchesFor(requestId: string): number;
  /** Processing time of requests submitted from now on: fixed, or a function drawn once per submission. */
  setProcessingMs(ms: number | (() => number)): void;
  /**
   * Changes the account's concurrent request limit from now on (undefined: no limit). Requests already
   * IN_PROGRESS keep running; queued ones start only while fewer than `n` are in progress.
   */
  setAccountConcurrency(n: number | undefined): void;
  /** The most requests that were IN_PROGRESS at the same moment (never above the account's limit). */
  readonly peakInProgress: number;
  /**
   * The most requests that were in flight at fal at the same moment: submitted and not yet completed or
   * cancelled (IN_QUEUE + IN_PROGRESS). An app that enforces the account's limit keeps this at or below it.
   */
  readonly peakInFlight: number;
  /**
   * Each submission's times, in submission order: when it arrived, when a runner took it (undefined while
   * IN_QUEUE or if cancelled there), when it ended (completed or cancelled), and its time IN_QUEUE so far.
   */
  requestTimes(): FalRequestTimes[];
  /** Time in IN_QUEUE of requests submitted from now on. */
  setQueueMs(ms: number): void;
  /** Fixes the pixel size of the results of requests submitted from now on; undefined restores the model's. */
  setResultSize(size: { width: number; height: number } | undefined): void;
  /** Delay before fal acts on each queue request (transit time: a client that dies meanwhile is ignored). */
  setLatencyMs(ms: number): void;
  /**
   * Delay of the answers to calls of `kind` after fal acted on them (the way back is slow): e.g. a submit
   * whose request is queued, and its webhook sent, before the client reads the request id. 0 restores.
   */
  setAnswerDelayMs(kind: FalCallKind, ms: number): void;
  failNext(failure: FalFailure): void;
  /** Resolves when `count` submissions have arrived. */
  waitForSubmissions(count: number, timeoutMs?: number): Promise<FalSubmission[]>;
  stop(): Promise<void>;
}

/** The account limit as given, or a clear error: fal's limit is a whole number of requests, at least 1. */
function checkedLimit(n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`accountConcurrency must be a whole number >= 1 (or undefined for no limit); got ${n}`);
  }
  return n;
}

/** One processing time from a fixed value or a distribution, checked: a job time is a finite ms >= 0. */
function drawProcessingMs(source: number | (() => number)): number {
  const ms = typeof source === "function" ? source() : source;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new Error(`processingMs must be a finite number of milliseconds >= 0; got ${ms}`);
  }
  return ms;
}

/** Models the fake serves, with fal's input schema reduced to what the app sends. */
const MODELS: Record<string, { needsImage: boolean; needsPrompt: boolean; output: "images" | "image" }> = {
  "fal-ai/flux/schnell": { needsImage: false, needsPrompt: true, output: "images" },
  "fal-ai/flux/dev": { needsImage: false, needsPrompt: true, output: "images" },
  "fal-ai/flux/dev/image-to-image": { needsImage: true, needsPrompt: true, output: "images" },
  "fal-ai/clarity-upscaler": { needsImage: true, needsPrompt: false, output: "image" },
};

/** Largest upload the fake's storage takes. */
const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

type ValidationIssue = { loc: (string | number)[]; msg: string; type: string };

interface QueuedRequest extends FalSubmission {
  /** The earliest a runner may take it (submission + queueMs at submission). */
  readyAt: number;
  processingMs: number;
  /** Set once a runner took it (never in the future: see `settle`). */
  startAt?: number;
  /** startAt + processingMs, once started. */
  doneAt?: number;
  cancelledAt?: number;
  /** Set when the model rejects the input: the result endpoint answers 422 with these issues. */
  issues?: ValidationIssue[];
  output?: Record<string, unknown>;
  polls: number[];
  resultFetches: number;
  /** Set once its completion was handed to the webhook sender. */
  webhookSent?: boolean;
}

/** A fal-style 422 body, as the model's pydantic validation writes it. */
function validationBody(issues: ValidationIssue[]): { detail: (ValidationIssue & { url: string })[] } {
  return { detail: issues.map((issue) => ({ ...issue, url: `https://docs.fal.ai/errors/#${issue.type}` })) };
}

/** Drops the connection without an answer, as a network fault would. */
function resetConnection(req: IncomingMessage): void {
  req.socket.destroy();
}

function defaultFailureBody(status: number): unknown {
  if (status === 422) {
    return validationBody([
      {
        loc: ["body", "prompt"],
        msg: "The content was flagged by the safety checker.",
        type: "content_policy_violation",
      },
    ]);
  }
  if (status === 429) return { detail: "Too many requests", error_type: "rate_limited" };
  if (status === 503)
    return { detail: "No runner could be allocated", error_type: "runner_scheduling_failure" };
  if (status === 504) return { detail: "Request timed out", error_type: "request_timeout" };
  return { detail: "Internal server error", error_type: "internal_error" };
}

/**
 * Starts a loopback fake of fal.ai: the queue API (submit → IN_QUEUE with queue_position → IN_PROGRESS →
 * COMPLETED over time; status answers 202 until COMPLETED and 200 then; result; cancel answering 202
 * CANCELLATION_REQUESTED, 400 ALREADY_COMPLETED or 404 NOT_FOUND) on one port, and storage (upload initiate,
 * the presigned PUT, the uploaded files and the generated results as real PNG bytes) on another.
 *
 * It is as strict as fal: no or a wrong `Authorization: Key` → 401; status, result and cancel URLs must use the
 * app id (owner/app), not the full model id → 404; a body that is not a JSON object → 422; a model's missing or
 * mistyped input (prompt, image_url, upscale_factor) → the result answers 422 with a `detail` array; an
 * image_url that cannot be downloaded → 422 `file_download_error`; a PUT whose Content-Type differs from the one
 * initiated → 403, as a signed URL would.
 *
 * A submission with `?fal_webhook=<url>` is also posted to that URL when it completes, signed as fal signs
 * webhooks (ED25519 over request id, user id, timestamp and the body's SHA-256; the public key in the JWKS at
 * the storage origin's /.well-known/jwks.json) and retried on failure (see fake-fal-webhooks.ts); faults on
 * demand: drop, delay, duplicate, mis-sign, stale, replay, key rotation.
 */
export async function startFakeFal(opts: FakeFalOptions = {}): Promise<FakeFal> {
  const key = opts.key ?? `${randomUUID()}:${randomBytes(16).toString("hex")}`;
  let queueMs = opts.queueMs ?? 50;
  let processingMs: number | (() => number) = opts.processingMs ?? 300;
  let accountConcurrency = checkedLimit(opts.accountConcurrency);
  let latencyMs = 0;
  const answerDelays = new Map<FalCallKind | "unknown", number>();
  let resultSize: { width: number; height: number } | undefined;
  const requests = new Map<string, QueuedRequest>();
  const submissions: FalSubmission[] = [];
  const cancelled: string[] = [];
  const calls: FalCall[] = [];
  const uploads: { fileUrl: string; contentType: string; bytes: number; at: number }[] = [];
  const failures: (FalFailure & { left: number })[] = [];
  const pendingUploads = new Map<string, { contentType: string; fileName: string; fileId: string }>();
  const stored = new Map<string, { bytes: Buffer; contentType: string }>();
  const watchers = new Set<() => void>();
  const recordCall = (call: FalCall): void => {
    calls.push(call);
    opts.onCall?.(call);
  };
  const active = new Set<{ kind: FalCallKind | "unknown"; requestId?: string }>();
  let queue: LoopbackServer | undefined;
  let rest: LoopbackServer | undefined;
  let publicOrigins: { queue?: string; rest?: string } = {};
  const queueOrigin = () => publicOrigins.queue ?? queue?.origin;
  const restOrigin = () => publicOrigins.rest ?? rest?.origin;
  const webhooks = createFakeFalWebhooks({ ...opts.webhooks, userId: key.split(":")[0] ?? key });
  let webhookTimer: NodeJS.Timeout | undefined;

  /** Requests no runner has taken yet (not cancelled), in submission order: the account's queue. */
  const waiting: QueuedRequest[] = [];
  /** Started requests that may still hold a runner at a time a queued request could start. */
  const running = new Set<QueuedRequest>();
  /** No start before this: the last start under a limit (FIFO) or the last change of the limit. */
  let floor = 0;

  const endOf = (request: QueuedRequest): number =>
    Math.min(request.doneAt ?? Number.POSITIVE_INFINITY, request.cancelledAt ?? Number.POSITIVE_INFINITY);

  /**
   * Brings the schedule up to `now`: every queued request whose runner would have been free at some moment up
   * to `now` gets that moment as its start, as if fal's scheduler had run continuously. Called before every
   * answer, so a start is never decided in the future (a cancel or a change of the limit can still affect it)
   * and never later than it would have happened (a completion between two calls frees its runner at its time).
   */
  function settle(now: number): void {
    const start = (request: QueuedRequest, at: number): void => {
      request.startAt = at;
      request.doneAt = at + request.processingMs;
      running.add(request);
    };
    if (accountConcurrency === undefined) {
      for (let i = 0; i < waiting.length; ) {
        const request = waiting[i] as QueuedRequest;
        const at = Math.max(request.readyAt, floor);
        if (at > now) {
          i += 1;
          continue;
        }
        start(request, at);
        waiting.splice(i, 1);
      }
      for (const request of running) if (endOf(request) <= now) running.delete(request);
      return;
    }
    const limit = accountConcurrency;
    for (;;) {
      const head = waiting[0];
      if (head === undefined) return;
      const eligible = Math.max(head.readyAt, floor);
      // A runner frees up when a running request ends; the head starts at the first such moment (or when it
      // is ready) at which fewer than `limit` are in progress.
      const moments = [eligible, ...[...running].map(endOf).filter((end) => end > eligible)].sort(
        (a, b) => a - b,
      );
      const at = moments.find(
        (t) => [...running].filter((r) => (r.startAt ?? 0) <= t && endOf(r) > t).length < limit,
      );
      if (at === undefined || at > now) return;
      start(head, at);
      waiting.shift();
      floor = at;
      for (const request of running) if (endOf(request) <= floor) running.delete(request);
    }
  }

  const statusOf = (request: QueuedRequest, now = Date.now()): "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED" => {
    if (request.cancelledAt !== undefined) return "COMPLETED";
    if (request.startAt === undefined || request.doneAt === undefined) return "IN_QUEUE";
    return now >= request.doneAt ? "COMPLETED" : "IN_PROGRESS";
  };

  /** What fal posts to the webhook URL when a request ends: the result, or the model's error. */
  function webhookBody(request: QueuedRequest): Record<string, unknown> {
    const ids = { request_id: request.requestId, gateway_request_id: request.requestId };
    return request.issues === undefined
      ? { ...ids, status: "OK", payload: request.output ?? {} }
      : {
          ...ids,
          status: "ERROR",
          error: "Invalid status code: 422",
          payload: validationBody(request.issues),
        };
  }

  /**
   * Posts the completions that are due to their webhook URLs, then sleeps until the next moment a request
   * with a webhook could complete (its end, a queued one's ready time, a running one's end freeing a runner).
   * Called after every submission and cancel, and by its own timer; the schedule itself stays `settle`'s.
   */
  function armWebhooks(): void {
    clearTimeout(webhookTimer);
    const now = Date.now();
    settle(now);
    const due = [...requests.values()].filter(
      (r) =>
        r.webhookUrl !== undefined &&
        r.webhookSent !== true &&
        r.cancelledAt === undefined &&
        (r.output !== undefined || r.issues !== undefined),
    );
    for (const request of due) {
      if (request.doneAt === undefined || request.doneAt > now) continue;
      request.webhookSent = true;
      void webhooks.deliver(request.webhookUrl as string, request.requestId, webhookBody(request));
    }
    if (!due.some((r) => r.webhookSent !== true)) return;
    const next = [
      ...due.flatMap((r) => (r.doneAt === undefined ? [] : [r.doneAt])),
      ...waiting.map((r) => Math.max(r.readyAt, floor)),
      ...[...running].map(endOf),
    ].filter((t) => t > now && Number.isFinite(t));
    if (next.length === 0) return;
    webhookTimer = setTimeout(armWebhooks, Math.min(...next) - now + 1);
  }

  /** The most intervals open at one moment (an interval ending at t does not overlap one starting at t). */
  function peakOverlap(intervals: { from: number; to: number }[]): number {
    const events = intervals.flatMap(({ from, to }) => [
      { at: from, delta: 1 },
      { at: to, delta: -1 },
    ]);
    events.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let open = 0;
    let peak = 0;
    for (const { delta } of events) {
      open += delta;
      peak = Math.max(peak, open);
    }
    return peak;
  }

  function takeFailure(kind: FalCallKind): FalFailure | undefined {
    const failure = failures.find((f) => f.on === kind && f.left > 0);
    if (failure === undefined) return undefined;
    failure.left -= 1;
    if (failure.left === 0) failures.splice(failures.indexOf(failure), 1);
    return failure;
  }

  function authorized(req: IncomingMessage): boolean {
    return req.headers.authorization === `Key ${key}`;
  }

  async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown> | ValidationIssue[]> {
    const body = await readBody(req, 16 * 1024 * 1024);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      return [{ loc: ["body"], msg: "Expecting value: the body is not valid JSON", type: "json_invalid" }];
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return [{ loc: ["body"], msg: "Input should be a valid dictionary", type: "dict_type" }];
    }
    return parsed as Record<string, unknown>;
  }

  function urls(appId: string, requestId: string): Record<string, string> {
    const base = `${queueOrigin()}/${appId}/requests/${requestId}`;
    return {
      request_id: requestId,
      response_url: base,
      status_url: `${base}/status`,
      cancel_url: `${base}/cancel`,
    };
  }

  /** Requests ahead of it in the account's queue (call after `settle`). */
  function queuePosition(request: QueuedRequest): number {
    return Math.max(0, waiting.indexOf(request));
  }

  /** Checks the input as the model would, downloading image_url as a runner does. */
  async function runModel(request: QueuedRequest): Promise<void> {
    const model = MODELS[request.modelId];
    const input = request.input;
    const issues: ValidationIssue[] = [];
    if (model === undefined) return;
    if (model.needsPrompt || input.prompt !== undefined) {
      if (typeof input.prompt !== "string") {
        issues.push({
          loc: ["body", "prompt"],
          msg: input.prompt === undefined ? "Field required" : "Input should be a valid string",
          type: input.prompt === undefined ? "missing" : "string_type",
        });
      } else if (model.needsPrompt && input.prompt.trim() === "") {
        issues.push({
          loc: ["body", "prompt"],
          msg: "String should have at least 1 character",
          type: "string_too_short",
        });
      }
    }
    if (input.upscale_factor !== undefined) {
      const factor = input.upscale_factor;
      if (typeof factor !== "number" || factor < 1 || factor > 4) {
        issues.push({
          loc: ["body", "upscale_factor"],
          msg: "Input should be between 1 and 4",
          type: "less_than_equal",
        });
      }
    }
    let source: Buffer | undefined;
    if (model.needsImage) {
      if (typeof input.image_url !== "string") {
        issues.push({ loc: ["body", "image_url"], msg: "Field required", type: "missing" });
      } else {
        try {
          const response = await fetch(input.image_url, { signal: AbortSignal.timeout(10_000) });
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          source = Buffer.from(await response.arrayBuffer());
        } catch (error) {
          issues.push({
            loc: ["body", "image_url"],
            msg: `Failed to download the file: ${(error as Error).message}`,
            type: "file_download_error",
          });
        }
        if (source !== undefined && sniffImage(source) === undefined) {
          issues.push({
            loc: ["body", "image_url"],
            msg: "Unsupported image format",
            type: "image_load_error",
          });
        }
      }
    }
    if (issues.length > 0) {
      request.issues = issues;
      return;
    }
    const seed = createHash("sha256").update(JSON.stringify(input)).digest();
    const rgb = [seed[0] ?? 0, seed[1] ?? 0, seed[2] ?? 0] as const;
    const info = source === undefined ? undefined : sniffImage(source);
    const factor = typeof input.upscale_factor === "number" ? input.upscale_factor : 2;
    const [width, height] = resultSize
      ? [resultSize.width, resultSize.height]
      : model.output === "image" && info !== undefined
        ? [Math.min(2048, Math.round(info.width * factor)), Math.min(2048, Math.round(info.height * factor))]
        : [512, 384];
    const png = makePng(width, height, rgb);
    const fileName = `${request.requestId}.png`;
    stored.set(`/cdn/${fileName}`, { bytes: png, contentType: "image/png" });
    const file = {
      url: `${restOrigin()}/cdn/${fileName}`,
      content_type: "image/png",
      file_name: fileName,
      file_size: png.length,
      width,
      height,
    };
    const timings = { inference: request.processingMs / 1000 };
    request.output =
      model.output === "images"
        ? {
            images: [file],
            timings,
            seed: seed.readUInt32BE(0),
            has_nsfw_concepts: [false],
            prompt: input.prompt,
          }
        : { image: file, timings, seed: seed.readUInt32BE(0) };
  }

  /** Splits `/owner/app/requests/<id>[/status|/cancel]`; anything else under /requests is not an app id. */
  function parseRequestPath(
    path: string,
  ): { appId: string; requestId: string; action: "result" | "status" | "cancel" } | "bad-app" | undefined {
    const match = /^\/(.+)\/requests\/([^/]+)(?:\/(status|cancel))?$/.exec(path);
    if (match === null) return undefined;
    const appId = match[1] ?? "";
    if (appId.split("/").length !== 2) return "bad-app";
    return {
      appId,
      requestId: match[2] ?? "",
      action: (match[3] as "status" | "cancel" | undefined) ?? "result",
    };
  }

  async function handleQueue(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake-fal");
    const path = url.pathname;
    const at = Date.now();
    const target = parseRequestPath(path);
    const kind: FalCallKind | "unknown" =
      target === undefined
        ? req.method === "POST"
          ? "submit"
          : "unknown"
        : target === "bad-app"
          ? "unknown"
          : target.action;
    const flight = { kind, ...(typeof target === "object" ? { requestId: target.requestId } : {}) };
    active.add(flight);
    const answer = (status: number, body: unknown, requestId?: string): void => {
      active.delete(flight);
      recordCall({
        kind,
        method: req.method ?? "",
        path,
        status,
        at,
        ...(requestId === undefined ? {} : { requestId }),
        ...(typeof (body as { status?: unknown }).status === "string"
          ? { state: (body as { status: string }).status }
          : {}),
      });
      for (const watch of watchers) watch();
      const delay = answerDelays.get(kind) ?? 0;
      if (delay > 0) setTimeout(() => sendJson(res, status, body), delay);
      else sendJson(res, status, body);
    };
    if (latencyMs > 0) {
      await sleep(latencyMs);
      // Latency is transit time: a request whose client died on the way never reached fal.
      if (req.socket.destroyed) {
        active.delete(flight);
        return;
      }
    }
    if (req.headers.authorization === undefined)
      return answer(401, { detail: "Missing authorization header" });
    if (!authorized(req)) return answer(401, { detail: "Invalid API key" });
    if (kind === "unknown") return answer(404, { detail: "Not Found" });
    const injected = takeFailure(kind);
    if (injected?.status === "reset") {
      active.delete(flight);
      recordCall({ kind, method: req.method ?? "", path, status: 0, at });
      return resetConnection(req);
    }
    if (injected !== undefined) {
      return answer(
        injected.status,
        injected.body ?? defaultFailureBody(injected.status),
        typeof target === "object" ? target.requestId : undefined,
      );
    }

    if (target === undefined || target === "bad-app") {
      const modelId = path.slice(1);
      if (MODELS[modelId] === undefined) return answer(404, { detail: `Application '${modelId}' not found` });
      if (req.headers["content-type"]?.startsWith("application/json") !== true) {
        return answer(
          422,
          validationBody([
            { loc: ["body"], msg: "Content-Type must be application/json", type: "json_invalid" },
          ]),
        );
      }
      const webhookUrl = url.searchParams.get("fal_webhook") ?? undefined;
      if (webhookUrl !== undefined && !/^https?:\/\/[^/]+/.test(webhookUrl)) {
        return answer(
          422,
          validationBody([
            { loc: ["query", "fal_webhook"], msg: "Input should be a valid URL", type: "url_parsing" },
          ]),
        );
      }
      const body = await readJsonObject(req);
      if (Array.isArray(body)) return answer(422, validationBody(body));
      const requestId = randomUUID();
      const appId = modelId.split("/").slice(0, 2).join("/");
      const request: QueuedRequest = {
        requestId,
        modelId,
        appId,
        input: body,
        at,
        ...(webhookUrl === undefined ? {} : { webhookUrl }),
        readyAt: at + queueMs,
        processingMs: drawProcessingMs(processingMs),
        polls: [],
        resultFetches: 0,
      };
      settle(Date.now());
      requests.set(requestId, request);
      waiting.push(request);
      submissions.push({
        requestId,
        modelId,
        appId,
        input: body,
        at,
        ...(webhookUrl === undefined ? {} : { webhookUrl }),
      });
      await runModel(request);
      armWebhooks();
      return answer(
        200,
        { status: "IN_QUEUE", ...urls(appId, requestId), queue_position: queuePosition(request) },
        requestId,
      );
    }

    const request = requests.get(target.requestId);
    if (request === undefined || request.appId !== target.appId) {
      if (target.action === "cancel") return answer(404, { status: "NOT_FOUND" }, target.requestId);
      return answer(404, { detail: "Request not found" }, target.requestId);
    }
    const now = Date.now();
    settle(now);
    const status = statusOf(request, now);
    if (target.action === "status") {
      if (req.method !== "GET") return answer(405, { detail: "Method Not Allowed" }, request.requestId);
      request.polls.push(now);
      const body = {
        status,
        ...urls(request.appId, request.requestId),
        ...(status === "IN_QUEUE" ? { queue_position: queuePosition(request) } : {}),
        ...(url.searchParams.get("logs") === "1" ? { logs: [] } : {}),
        ...(status === "COMPLETED" ? { metrics: { inference_time: request.processingMs / 1000 } } : {}),
      };
      return answer(status === "COMPLETED" ? 200 : 202, body, request.requestId);
    }
    if (target.action === "cancel") {
      if (req.method !== "PUT") return answer(405, { detail: "Method Not Allowed" }, request.requestId);
      if (status === "COMPLETED") return answer(400, { status: "ALREADY_COMPLETED" }, request.requestId);
      request.cancelledAt = now;
      const queued = waiting.indexOf(request);
      if (queued >= 0) waiting.splice(queued, 1);
      cancelled.push(request.requestId);
      armWebhooks();
      return answer(202, { status: "CANCELLATION_REQUESTED" }, request.requestId);
    }
    if (req.method !== "GET") return answer(405, { detail: "Method Not Allowed" }, request.requestId);
    request.resultFetches += 1;
    if (status !== "COMPLETED")
      return answer(400, { detail: "Request is still in progress" }, request.requestId);
    if (request.cancelledAt !== undefined) {
      return answer(
        499,
        { detail: "Request was cancelled", error_type: "client_cancelled" },
        request.requestId,
      );
    }
    if (request.issues !== undefined) return answer(422, validationBody(request.issues), request.requestId);
    return answer(200, request.output ?? {}, request.requestId);
  }

  async function handleRest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake-fal-rest");
    const path = url.pathname;
    const at = Date.now();
    const record = (kind: FalCall["kind"], status: number): void => {
      recordCall({ kind, method: req.method ?? "", path, status, at });
      for (const watch of watchers) watch();
    };
    if (latencyMs > 0) await sleep(latencyMs);
    if (req.method === "GET" && path === "/.well-known/jwks.json") {
      record("jwks", 200);
      return sendJson(res, 200, webhooks.jwks());
    }
    if (req.method === "GET" && (path.startsWith("/files/") || path.startsWith("/cdn/"))) {
      const file = stored.get(path);
      record("cdn", file === undefined ? 404 : 200);
      if (file === undefined) return sendJson(res, 404, { detail: "Not Found" });
      return sendBytes(res, 200, file.bytes, file.contentType);
    }
    if (path === "/storage/upload/initiate" && req.method === "POST") {
      const fail = (status: number, body: unknown): void => {
        record("initiate", status);
        sendJson(res, status, body);
      };
      if (req.headers.authorization === undefined)
        return fail(401, { detail: "Missing authorization header" });
      if (!authorized(req)) return fail(401, { detail: "Invalid API key" });
      const injected = takeFailure("initiate");
      if (injected?.status === "reset") {
        record("initiate", 0);
        return resetConnection(req);
      }
      if (injected !== undefined)
        return fail(injected.status, injected.body ?? defaultFailureBody(injected.status));
      const body = await readJsonObject(req);
      if (Array.isArray(body)) return fail(422, validationBody(body));
      const issues: ValidationIssue[] = [];
      for (const field of ["content_type", "file_name"]) {
        if (typeof body[field] !== "string" || body[field] === "") {
          issues.push({
            loc: ["body", field],
            msg: body[field] === undefined ? "Field required" : "Input should be a valid string",
            type: "missing",
          });
        }
      }
      if (issues.length > 0) return fail(422, validationBody(issues));
      const token = randomBytes(16).toString("hex");
      const fileId = randomBytes(8).toString("hex");
      const fileName = String(body.file_name).replace(/[^A-Za-z0-9._-]/g, "_");
      pendingUploads.set(token, { contentType: String(body.content_type), fileName, fileId });
      record("initiate", 200);
      return sendJson(res, 200, {
        upload_url: `${restOrigin()}/upload/${token}?signature=${randomBytes(8).toString("hex")}`,
        file_url: `${restOrigin()}/files/${fileId}/${fileName}`,
      });
    }
    const upload = /^\/upload\/([0-9a-f]+)$/.exec(path);
    if (upload !== null && req.method === "PUT") {
      const pending = pendingUploads.get(upload[1] ?? "");
      const injected = takeFailure("upload");
      if (injected?.status === "reset") {
        record("upload", 0);
        return resetConnection(req);
      }
      if (injected !== undefined) {
        record("upload", injected.status);
        return sendJson(res, injected.status, injected.body ?? defaultFailureBody(injected.status));
      }
      if (pending === undefined) {
        record("upload", 403);
        return sendJson(res, 403, { detail: "The upload URL is invalid or has expired" });
      }
      if ((req.headers["content-type"] ?? "").split(";")[0]?.trim() !== pending.contentType) {
        record("upload", 403);
        return sendJson(res, 403, {
          detail: "The request signature does not match: Content-Type differs from the initiated one",
        });
      }
      let bytes: Buffer;
      try {
        bytes = await readBody(req, MAX_UPLOAD_BYTES);
      } catch (error) {
        if (!(error instanceof BodyTooLargeError)) throw error;
        record("upload", 413);
        return sendJson(res, 413, { detail: "Payload too large" });
      }
      pendingUploads.delete(upload[1] ?? "");
      const filePath = `/files/${pending.fileId}/${pending.fileName}`;
      stored.set(filePath, { bytes, contentType: pending.contentType });
      uploads.push({
        fileUrl: `${restOrigin()}${filePath}`,
        contentType: pending.contentType,
        bytes: bytes.length,
        at,
      });
      record("upload", 200);
      res.writeHead(200).end();
      return;
    }
    record("unknown", 404);
    sendJson(res, 404, { detail: "Not Found" });
  }

  queue = await listenLoopback(handleQueue);
  rest = await listenLoopback(handleRest);

  return {
    setPublicOrigins(origins) {
      publicOrigins = origins;
    },
    queueUrl: queue.origin,
    restUrl: rest.origin,
    key,
    jwksUrl: `${rest.origin}/.well-known/jwks.json`,
    submissions,
    cancelled,
    calls,
    uploads,
    inFlight: () => [...active],
    pollsFor: (requestId) => requests.get(requestId)?.polls.length ?? 0,
    pollTimesFor: (requestId) => [...(requests.get(requestId)?.polls ?? [])],
    resultFetchesFor: (requestId) => requests.get(requestId)?.resultFetches ?? 0,
    webhookDeliveries: webhooks.deliveries,
    failNextWebhook: (fault) => webhooks.fault(fault),
    replayWebhook: (requestId) => webhooks.replay(requestId),
    rotateWebhookKey: () => webhooks.rotateKey(),
    setProcessingMs(ms) {
      if (typeof ms === "number") drawProcessingMs(ms);
      processingMs = ms;
    },
    setAccountConcurrency(n) {
      const limit = checkedLimit(n);
      const now = Date.now();
      settle(now);
      accountConcurrency = limit;
      floor = Math.max(floor, now);
      settle(now);
      armWebhooks();
    },
    get peakInProgress() {
      settle(Date.now());
      return peakOverlap(
        [...requests.values()].flatMap((r) =>
          r.startAt === undefined ? [] : [{ from: r.startAt, to: endOf(r) }],
        ),
      );
    },
    get peakInFlight() {
      settle(Date.now());
      return peakOverlap([...requests.values()].map((r) => ({ from: r.at, to: endOf(r) })));
    },
    requestTimes() {
      const now = Date.now();
      settle(now);
      return submissions.map(({ requestId }) => {
        const r = requests.get(requestId) as QueuedRequest;
        const end = endOf(r);
        return {
          requestId,
          submittedAt: r.at,
          ...(r.startAt === undefined ? {} : { startedAt: r.startAt }),
          ...(end <= now ? { endedAt: end } : {}),
          inQueueMs: (r.startAt ?? Math.min(r.cancelledAt ?? now, now)) - r.at,
          processingMs: r.processingMs,
        };
      });
    },
    setQueueMs(ms) {
      queueMs = ms;
    },
    setResultSize(size) {
      resultSize = size;
    },
    setLatencyMs(ms) {
      latencyMs = ms;
    },
    setAnswerDelayMs(kind, ms) {
      answerDelays.set(kind, ms);
    },
    failNext(failure) {
      failures.push({ ...failure, left: failure.times ?? 1 });
    },
    waitForSubmissions(count, timeoutMs = 10_000) {
      if (submissions.length >= count) return Promise.resolve(submissions.slice(0, count));
      return new Promise((resolve, reject) => {
        const watch = (): void => {
          if (submissions.length < count) return;
          clearTimeout(timer);
          watchers.delete(watch);
          resolve(submissions.slice(0, count));
        };
        const timer = setTimeout(() => {
          watchers.delete(watch);
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${count} fal submissions; got ${submissions.length}`,
            ),
          );
        }, timeoutMs);
        watchers.add(watch);
      });
    },
    async stop() {
      clearTimeout(webhookTimer);
      webhooks.stop();
      await Promise.all([queue?.close(), rest?.close()]);
    },
  };
}
