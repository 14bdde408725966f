import { ConfigError } from "./config.js";
import { redactSecrets } from "./observability/logger.js";
import { EvictingRedisError } from "./queue/redis.js";

/** Network failures an operator fixes by pointing a variable elsewhere or starting the service. */
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "DNS lookup failed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ECONNRESET: "connection reset",
};

/**
 * PostgreSQL refusals at connect time (SQLSTATE classes 28: authorization, 3D: no such database) whose own
 * message ("password authentication failed for user …") already says what to fix.
 */
const POSTGRES_REFUSAL = /^(28|3D)/;

/** A service the process needs at start could not be used; names the variable that points at it. */
export class DependencyUnavailableError extends Error {
  override readonly name = "DependencyUnavailableError";
}

function reason(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, address, port, message } = error as Record<string, unknown>;
  if (typeof code !== "string") return undefined;
  const unreachable = UNREACHABLE[code];
  if (unreachable !== undefined) {
    const where = typeof address === "string" ? ` at ${address}${port === undefined ? "" : `:${port}`}` : "";
    return `${unreachable}${where}`;
  }
  if (POSTGRES_REFUSAL.test(code) && typeof message === "string") return message;
  return undefined;
}

/**
 * Runs one start-up step that needs `service` (reached through `variable`), turning "cannot reach it" and
 * "it refused us" into {@link DependencyUnavailableError} with a one-line reason; anything else (a bug, a
 * refusal with its own message) passes through unchanged.
 */
export async function needs<T>(service: string, variable: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const why = reason(error);
    if (why === undefined) throw error;
    throw new DependencyUnavailableError(`cannot use ${service} (${variable}): ${why}`, { cause: error });
  }
}

/**
 * What a process prints when it cannot start, and its exit code: refusals an operator acts on (bad
 * configuration, an unreachable or refusing service, an evicting Redis) as their message alone; anything
 * else with its stack. Secrets are redacted either way. Exit 2 for bad configuration, 1 otherwise.
 */
export function describeStartupFailure(role: string, error: unknown): { text: string; exitCode: number } {
  const refusal =
    error instanceof ConfigError ||
    error instanceof DependencyUnavailableError ||
    error instanceof EvictingRedisError;
  const detail = refusal
    ? error.message
    : error instanceof Error
      ? (error.stack ?? error.message)
      : String(error);
  return {
    text: `${role} failed to start: ${redactSecrets(detail)}`,
    exitCode: error instanceof ConfigError ? 2 : 1,
  };
}
