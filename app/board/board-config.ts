import { z } from "zod";
import { ConfigError, httpHost, int, logLevels, parseEnvironment, queueName, url } from "../config.js";

/** The board's secrets, each of which may come from a file (`REDIS_URL_FILE`), see parseEnvironment. */
export const BOARD_SECRET_VARIABLES = ["REDIS_URL", "BOARD_PASSWORD_HASH"] as const;

/**
 * A bcrypt hash as `bcryptjs` and `htpasswd -B` write it (`$2a$`, `$2b$` or `$2y$`, cost, 53 characters of salt
 * and hash), of cost 10 to 13: below 10 a stolen hash is cheap to crack; above 13 each first login costs the
 * board's small CPU budget seconds (bcryptjs is plain JavaScript).
 */
const BCRYPT_HASH = /^\$2[aby]\$(1[0-3])\$[./A-Za-z0-9]{53}$/;

const environmentSchema = z.object({
  REDIS_URL: url(["redis", "rediss"]),
  QUEUE_NAME: queueName,
  BOARD_USER: z
    .string()
    .default("owner")
    .refine((u) => /^[A-Za-z0-9._-]{1,64}$/.test(u), "must be 1-64 characters of A-Z, a-z, 0-9, ., _ and -"),
  BOARD_PASSWORD_HASH: z
    .string({ error: "required: the bcrypt hash of the board's password (npm run board:hash-password)" })
    // A hash piped through `pulumi config set --secret` may keep its newline.
    .trim()
    .refine(
      (h) => BCRYPT_HASH.test(h),
      "must be a bcrypt hash of cost 10-13 ($2b$12$ followed by 53 characters), as npm run board:hash-password prints it",
    ),
  HTTP_PORT: int(8090, 0, 65535),
  HTTP_HOST: httpHost,
  LOG_LEVEL: z.enum(logLevels, { error: `must be one of ${logLevels.join(", ")}` }).default("info"),
});

/** Every setting of the queue dashboard (`npm run board`), validated. */
export interface BoardConfig {
  /** The queue's Redis; in production the board's own ACL user, which can touch only the queue's keys. */
  redisUrl: string;
  queueName: string;
  /** The one user name the board admits (HTTP basic auth). */
  user: string;
  /** bcrypt hash of the password; the password itself is never in the environment. */
  passwordHash: string;
  httpPort: number;
  /** Loopback unless set: the board is meant to be reached only through the proxy's allowlist. */
  httpHost: string;
  logLevel: (typeof logLevels)[number];
  /** How long a stop may take; the board has nothing in flight worth waiting for. */
  shutdownGraceSeconds: number;
}

/**
 * Validates the board's environment. Like the app's {@link ConfigError}, the message lists every problem by
 * variable and never contains a value (the hash and the Redis URL's password stay out of it).
 */
export function loadBoardConfig(env: NodeJS.ProcessEnv = process.env): BoardConfig {
  const { data, problems } = parseEnvironment(environmentSchema, env, BOARD_SECRET_VARIABLES);
  if (data === undefined || problems.length > 0) throw new ConfigError(problems);
  const e = data;
  return {
    redisUrl: e.REDIS_URL,
    queueName: e.QUEUE_NAME,
    user: e.BOARD_USER,
    passwordHash: e.BOARD_PASSWORD_HASH,
    httpPort: e.HTTP_PORT,
    httpHost: e.HTTP_HOST,
    logLevel: e.LOG_LEVEL,
    shutdownGraceSeconds: 5,
  };
}
