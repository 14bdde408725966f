import { createHash } from "node:crypto";

/** Where the ACL file sits inside the Redis container (uploaded by the deploy, read by `--aclfile`). */
export const REDIS_ACL_PATH = "/etc/redis-users.acl";

/** The Redis users of the deployment, by what connects as them. */
export const REDIS_USERS = {
  /** The bot and the workers: the queue, the fal slots, the limits, the caches. */
  app: "tapbot-app",
  /** redis_exporter on the same network, for Prometheus. */
  exporter: "tapbot-exporter",
  /** The queue dashboard (Bull Board): the generation queue's keys only. */
  board: "tapbot-board",
} as const;

/**
 * QUEUE_NAME of every app process the program runs, the bot's, the workers' and the board's (the app's own
 * default): the board's Redis user is confined to this queue's keys.
 */
export const GENERATION_QUEUE = "generations";

/** The keys of a BullMQ queue under BullMQ's default prefix, which the app keeps: `bull:<queue>:…`. */
export function queueKeyPattern(queueName: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(queueName)) {
    throw new Error(`queue name must be 1-64 characters of A-Z, a-z, 0-9, _ and -; got ${queueName}`);
  }
  return `bull:${queueName}:*`;
}

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
 * The board's rights: the generation queue's keys and nothing else (not the app's rate limits, fal slots,
 * outcomes, caches or update log), reading and writing them directly or through Lua (BullMQ's scripts move a
 * job back from failed; Redis checks a script's commands against these same key patterns), with INFO (Bull
 * Board's Redis panel, BullMQ's version check) and CLIENT LIST (BullMQ's count of the queue's workers; without it the
 * board says "No workers" while they run) given back. No administrative or dangerous command (FLUSHALL, CONFIG, KEYS, …), no FUNCTION, no SCRIPT FLUSH or
 * KILL, no channel.
 */
function boardRules(queueName: string): string {
  return [
    "resetkeys",
    `~${queueKeyPattern(queueName)}`,
    "resetchannels",
    "-@all +@connection +@read +@write +@scripting -@dangerous -@admin",
    "-function -script|flush -script|kill +info +client|list",
  ].join(" ");
}

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
 * write; the board touches only `queueName`'s keys; an unauthenticated connection can only PING and read the
 * configuration. Refuses an empty password.
 */
export function renderRedisAcl(passwords: RedisPasswords, queueName: string = GENERATION_QUEUE): string {
  for (const [role, password] of Object.entries(passwords)) {
    if (password.length === 0) throw new Error(`the Redis password of ${role} must not be empty`);
  }
  return [
    `user default ${DEFAULT_RULES}`,
    `user ${REDIS_USERS.app} on #${sha256(passwords.app)} ${APP_RULES}`,
    `user ${REDIS_USERS.exporter} on #${sha256(passwords.exporter)} ${EXPORTER_RULES}`,
    `user ${REDIS_USERS.board} on #${sha256(passwords.board)} ${boardRules(queueName)}`,
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

/** The board's password, derived from `redisPassword` as the exporter's is: its container holds only this one. */
export function redisBoardPassword(redisPassword: string): string {
  return sha256(`tapbot-redis-board:${redisPassword}`);
}
