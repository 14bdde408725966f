/** An HTTP answer: the status and the body parsed as JSON (undefined when it is not JSON). */
export interface HttpAnswer {
  status: number;
  body: unknown;
}

/** A request that got no HTTP answer; the message names the API and the cause, never the URL (it may hold a token). */
export class HttpUnreachableError extends Error {
  override name = "HttpUnreachableError";
}

/**
 * GET (or POST a JSON body to) a URL and read its JSON answer. The thin adapter under the Telegram and fal
 * checks: a network failure becomes an {@link HttpUnreachableError} that says what failed without the URL,
 * since the Bot API puts the token in the path.
 */
export async function requestJson(
  what: string,
  url: string,
  options: { headers?: Record<string, string>; body?: unknown; timeoutMs: number },
): Promise<HttpAnswer> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.body === undefined ? "GET" : "POST",
      headers: {
        ...options.headers,
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new HttpUnreachableError(`${what}: no answer (${cause})`);
  }
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}
