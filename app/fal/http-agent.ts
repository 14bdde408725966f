import { Agent } from "undici";

/**
 * The process's one HTTP connection pool for outside services (fal's queue, storage and CDN, and
 * Telegram file downloads): keep-alive connections reused across jobs, at most `connections` per
 * origin, so a burst of jobs opens a handful of TCP/TLS sessions instead of one per request.
 */
export function createHttpAgent(connections = 16): Agent {
  return new Agent({
    connections,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: 30_000,
    bodyTimeout: 60_000,
    connect: { timeout: 10_000 },
  });
}
