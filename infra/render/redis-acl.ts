import { createHash } from "node:crypto";

/** Where the ACL file sits inside the Redis container (uploaded by the deploy, read by `--aclfile`). */
export const REDIS_ACL_PATH = "/etc/redis-users.acl";

/** The Redis users of the deployment, by what connects as them. */
export const REDIS_USERS = {
  /** The bot and the workers: the queue, the fal slots, the limits, the caches. */
  app: "tapbot-app",
  /** redis_exporter on the same network, for Prometheus. */
  exporter: "tapbot-exporter",
} as const;

/** The passwords of {@link REDIS_USERS}, in clear: only their SHA-256 reaches the ACL file. */
export type RedisPasswords = Record<keyof typeof REDIS_USERS, string>;

/**
 * The app's rights: every key and channel, every command but the administrative and dangerous ones
 * (FLUSHALL, FLUSHDB, CONFIG, REPLICAOF, SHUTDOWN, BGSAVE, ACL, MODULE, KEYS, MIGRATE, RESTORE, MONITOR,
 * CLIENT KILL/LIST, …), with INFO given back: the app reads `maxmemory_policy` and `aof_enabled` from it at
 * start (app/queue/redis.ts), and BullMQ reads the server's version from it. Lua (EVAL, EVALSHA, SCRIPT LOAD)
 * stays: BullMQ and the app's own atomic operations are scripts.
 */
const APP_RULES = "~* &* +@all -@admin -@dangerous +info";

/**
 * The exporter's rights: no key and no channel, and only the commands that read the server's state
 * (INFO, CONFIG GET, CLIENT LIST, SLOWLOG, LATENCY) besides connecting; it can change nothing.
 */
const EXPORTER_RULES =
  "resetkeys resetchannels -@all +@connection +ping +info +config|get +client|list +slowlog|get +slowlog|len +latency|latest +cluster|info +select";

/**
 * `default` (every connection before AUTH, and redis-cli inside the container): PING for the healthcheck
 * and CONFIG GET for preflight's check of the running Redis's persistence (infra/preflight/queue-redis.ts),
 * without a password, so neither holds a secret. It reads no key and changes nothing; the configuration
 * holds no password (those are hashes in this file, which CONFIG GET does not show).
 */
const DEFAULT_RULES = "on nopass resetkeys resetchannels -@all +ping +config|get";

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Redis's ACL file (`--aclfile`): one `user` line per user, passwords as their SHA-256 (`#<hex>`), so the
 * file holds no password. Holds: the app cannot FLUSHALL, CONFIG SET or REPLICAOF; the exporter cannot
 * write; an unauthenticated connection can only PING and read the configuration. Refuses an empty password.
 */
export function renderRedisAcl(passwords: RedisPasswords): string {
  for (const [role, password] of Object.entries(passwords)) {
    if (password.length === 0) throw new Error(`the Redis password of ${role} must not be empty`);
  }
  return [
    `user default ${DEFAULT_RULES}`,
    `user ${REDIS_USERS.app} on #${sha256(passwords.app)} ${APP_RULES}`,
    `user ${REDIS_USERS.exporter} on #${sha256(passwords.exporter)} ${EXPORTER_RULES}`,
    "",
  ].join("\n");
}

/**
 * The exporter's password, derived from the stack's `redisPassword` so the owner keeps one secret: whoever
 * knows it knows this too, but the exporter's container holds only this one, which cannot write.
 */
export function redisExporterPassword(redisPassword: string): string {
  return sha256(`tapbot-redis-exporter:${redisPassword}`);
}
