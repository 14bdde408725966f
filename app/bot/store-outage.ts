/**
 * Socket errors of a store that is down or restarting (refused, reset, timed out), by Node's error code.
 * A Telegram call failing the same way never reaches here bare: grammY wraps it in its HttpError.
 */
const socketCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * PostgreSQL's SQLSTATEs for a server that cannot serve right now: class 08 (connection exception),
 * 57P01–57P03 (shutting down, crash recovery, "not yet accepting connections"), 53300 (too many clients).
 */
const unavailableStates = /^(08|57P0[123]$|53300$)/;

/** node-postgres's own words when a connection dies or the pool cannot get one in time. */
const poolMessages =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i;

/**
 * Whether a handler failed because Redis or PostgreSQL was unreachable for a moment (a restart, a
 * failover), not because of the request. Such an update is better handled again once the store is back
 * (Telegram redelivers it) than answered with an apology for a request nothing was wrong with.
 */
export function isStoreOutage(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (socketCodes.has(code) || unavailableStates.test(code))) return true;
  return typeof message === "string" && (poolMessages.test(message) || message === "Connection is closed.");
}
