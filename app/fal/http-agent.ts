import { Agent } from "undici";

/**
 * The process's one HTTP connection pool for outside services (fal's queue, storage and CDN, and
 * Telegram file downloads): keep-alive connections reused across jobs, at most `connections` per
 * origin, so a burst of jobs opens a handful of TCP/TLS sessions instead of one per request. A call
 * whose answer (or the next chunk of its body) takes longer than `timeoutMs` fails as a network error,
 * so a hung service costs a retry, not a job slot; destroying the agent aborts every call in flight.
 */
export function createHttpAgent(timeoutMs = 60_000, connections = 16): Agent {
  return new Agent({
    connections,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { timeout: 10_000 },
  });
}
