import { redactSecrets } from "../observability/logger.js";

/** Longest piece of fal's text a user is shown. */
const reasonMaxLength = 200;

/** Foreign text made fit for a chat message; see {@link FalHttpError.reason}. */
function userSafe(text: string): string {
  const flat = redactSecrets(text)
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, "<link>")
    .replace(/[\p{Cc}\p{Cf}\s]+/gu, " ")
    .trim();
  const chars = Array.from(flat);
  return chars.length <= reasonMaxLength ? flat : `${chars.slice(0, reasonMaxLength - 1).join("")}…`;
}

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

  /**
   * fal's own words on what was wrong with the input (FastAPI-style `detail`), fit to show the user: secrets
   * redacted, links replaced (a signed URL or an internal address is nobody's business), control characters
   * and runs of whitespace flattened, at most 200 characters. The raw body stays in {@link body} for logs.
   */
  get reason(): string {
    const words = this.rawReason();
    return words === undefined ? `HTTP ${this.status}` : userSafe(words);
  }

  private rawReason(): string | undefined {
    try {
      const parsed = JSON.parse(this.body) as { detail?: unknown; message?: unknown };
      const detail = parsed.detail;
      if (typeof detail === "string") return detail;
      if (Array.isArray(detail)) {
        const first = detail[0] as { msg?: unknown } | undefined;
        if (typeof first?.msg === "string") return first.msg;
      }
      if (typeof parsed.message === "string") return parsed.message;
    } catch {
      // Not JSON: the status says it.
    }
    return undefined;
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
