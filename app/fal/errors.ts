import { redactSecrets } from "../observability/logger.js";

/** What fal said when it refused a request: status and (shortened, redacted) body, never the key. */
export class FalHttpError extends Error {
  override readonly name = "FalHttpError";
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`fal ${operation} answered ${status}: ${redactSecrets(body).slice(0, 300)}`);
  }

  /** 5xx, 429 and 408 pass; other 4xx (bad input, content policy, auth) fail the same way every time. */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }

  /** True when fal refused the content itself (its moderation), as opposed to malformed input. */
  get contentPolicy(): boolean {
    return /content[_ ]policy|nsfw|safety/i.test(this.body);
  }

  /** fal's own words on what was wrong with the input (FastAPI-style `detail`), for the user. */
  get reason(): string {
    try {
      const parsed = JSON.parse(this.body) as { detail?: unknown; message?: unknown };
      const detail = parsed.detail;
      if (typeof detail === "string") return detail.slice(0, 200);
      if (Array.isArray(detail)) {
        const first = detail[0] as { msg?: unknown } | undefined;
        if (typeof first?.msg === "string") return first.msg.slice(0, 200);
      }
      if (typeof parsed.message === "string") return parsed.message.slice(0, 200);
    } catch {
      // Not JSON: fall through to the status.
    }
    return `HTTP ${this.status}`;
  }
}

/** The request never got an HTTP answer (connection refused or reset, timeout); always retryable. */
export class FalNetworkError extends Error {
  override readonly name = "FalNetworkError";
  readonly retryable = true;
  constructor(
    readonly operation: string,
    cause: unknown,
  ) {
    super(
      `fal ${operation} failed: ${redactSecrets(cause instanceof Error ? cause.message : String(cause))}`,
    );
  }
}

/** An answer that does not match fal's protocol (missing request_id, no image in the result). */
export class FalProtocolError extends Error {
  override readonly name = "FalProtocolError";
}
