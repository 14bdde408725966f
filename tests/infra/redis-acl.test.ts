import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import {
  GENERATION_QUEUE,
  REDIS_ACL_PATH,
  REDIS_USERS,
  redisBoardPassword,
  redisExporterPassword,
  renderRedisAcl,
} from "../../infra/render/redis-acl.js";
import { REDIS_HEALTHCHECK, redisContainerCommand, renderRedisArgs } from "../../infra/render/redis-args.js";
import { dumpLogsOnFailure, newUser } from "../e2e/e2e-kit.js";
import { type AppStack, startAppStack } from "../support/app-stack.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool } from "./helpers/run-tool.js";

/**
 * The ACL file the deploy uploads into the Redis container, loaded by a real redis-server with the plan's
 * arguments: what each user can and cannot do, and the real bot and worker running on the app's user.
 */
const appPassword = "app-password-for-the-acl-test-0123456789";
const exporterPassword = redisExporterPassword(appPassword);
const boardPassword = redisBoardPassword(appPassword);
const redisArgs = (aclFile: string) => [
  ...renderRedisArgs(plan(parsePlanInput({ users: 100 })).redis),
  "--aclfile",
  aclFile,
];

let dir: string;
let aclFile: string;
let stack: AppStack;
const clients: Redis[] = [];
const appLog: string[] = [];
dumpLogsOnFailure(() => stack);

beforeAll(async () => {
  dir = await makeTempDir("redis-acl");
  aclFile = join(dir, "users.acl");
  writeFileSync(
    aclFile,
    renderRedisAcl({ app: appPassword, exporter: exporterPassword, board: boardPassword }),
  );
  stack = await startAppStack({
    redis: { args: redisArgs(aclFile) },
    onLog: (name, line) => appLog.push(`${name}: ${line}`),
  });
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
  await stack?.stop();
  await removeTempDir(dir);
}, 60_000);

function connectAs(username: string | undefined, password: string | undefined): Redis {
  const client = new Redis(stack.redis.url, {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    maxRetriesPerRequest: 1,
    // A refused login is an answer here, not a reason to reconnect; INFO is not every user's to run.
    retryStrategy: () => null,
    enableReadyCheck: false,
  });
  client.on("error", () => undefined);
  clients.push(client);
  return client;
}

/** The error Redis answered `command` with, or "OK" when it ran. */
async function outcome(client: Redis, ...command: [string, ...(string | number)[]]): Promise<string> {
  try {
    await client.call(...command);
    return "OK";
  } catch (error) {
    return (error as Error).message.split(" ")[0] ?? "";
  }
}

describe("the rendered ACL file in a real redis-server", () => {
  it("holds no password, only their SHA-256", () => {
    const text = renderRedisAcl({ app: appPassword, exporter: exporterPassword, board: boardPassword });
    expect(text).not.toContain(appPassword);
    expect(text).not.toContain(exporterPassword);
    expect(text).not.toContain(boardPassword);
    expect(text).toMatch(new RegExp(`^user ${REDIS_USERS.app} on #[0-9a-f]{64} `, "m"));
    // The container runs redis-server itself (the image's entrypoint then drops root) on the uploaded file,
    // and neither its command nor its healthcheck carries a secret.
    expect(redisContainerCommand(["--maxmemory", "64mb"])).toEqual([
      "redis-server",
      "--maxmemory",
      "64mb",
      "--aclfile",
      REDIS_ACL_PATH,
    ]);
    expect([...redisContainerCommand(["--maxmemory", "64mb"]), ...REDIS_HEALTHCHECK].join(" ")).not.toMatch(
      /pass|AUTH/i,
    );
  });

  it("the app's user cannot flush, reconfigure, replicate, shut down, list keys or change users", async () => {
    const app = connectAs(REDIS_USERS.app, appPassword);
    expect(await outcome(app, "SET", "tapbot:probe", "1")).toBe("OK");
    expect(await outcome(app, "INFO", "memory")).toBe("OK");
    for (const command of [
      ["FLUSHALL"],
      ["FLUSHDB"],
      ["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
      ["CONFIG", "GET", "requirepass"],
      ["REPLICAOF", "203.0.113.9", "6379"],
      ["SHUTDOWN", "NOSAVE"],
      ["BGSAVE"],
      ["CLIENT", "KILL", "TYPE", "normal"],
      ["KEYS", "*"],
      ["ACL", "SETUSER", "intruder", "on", ">x", "+@all"],
      ["MODULE", "LIST"],
      ["MONITOR"],
    ] as [string, ...string[]][]) {
      expect(await outcome(app, ...command), command.join(" ")).toBe("NOPERM");
    }
    expect(await app.get("tapbot:probe")).toBe("1");
  });

  it("the exporter reads the server's state and can change nothing; a connection without a password can only PING and read the configuration", async () => {
    const exporter = connectAs(REDIS_USERS.exporter, exporterPassword);
    expect(await outcome(exporter, "INFO")).toBe("OK");
    expect(await outcome(exporter, "CONFIG", "GET", "maxmemory")).toBe("OK");
    for (const command of [
      ["SET", "k", "v"],
      ["GET", "tapbot:probe"],
      ["FLUSHALL"],
      ["CONFIG", "SET", "maxmemory", "1"],
    ] as [string, ...string[]][]) {
      expect(await outcome(exporter, ...command), command.join(" ")).toBe("NOPERM");
    }
    const anonymous = connectAs(undefined, undefined);
    expect(await anonymous.ping()).toBe("PONG");
    expect(await outcome(anonymous, "GET", "tapbot:probe")).toBe("NOPERM");
    expect(await outcome(anonymous, "SET", "tapbot:probe", "2")).toBe("NOPERM");
    expect(await outcome(anonymous, "INFO")).toBe("NOPERM");
    expect(await outcome(anonymous, "CONFIG", "SET", "appendonly", "no")).toBe("NOPERM");
    expect(await outcome(anonymous, "FLUSHALL")).toBe("NOPERM");
    // What preflight reads inside the container (queue-redis.ts): the persistence settings, and no password.
    expect(await anonymous.call("CONFIG", "GET", "appendonly")).toEqual(["appendonly", "yes"]);
    expect(await anonymous.call("CONFIG", "GET", "requirepass")).toEqual(["requirepass", ""]);
    // The container's healthcheck, as Docker runs it: redis-cli with no password.
    const health = await runTool("redis-cli", ["-p", String(stack.redis.port), "ping"]);
    expect(health.stdout.trim()).toBe("PONG");
    // A wrong password is refused.
    const wrong = connectAs(REDIS_USERS.app, "not-the-password");
    await expect(wrong.ping()).rejects.toThrow(/WRONGPASS/);
  });

  it("the board's user reaches the generation queue's keys and nothing else of the app's, and changes no setting", async () => {
    await connectAs(REDIS_USERS.app, appPassword).set("tapbot:probe", "1");
    const board = connectAs(REDIS_USERS.board, boardPassword);
    const jobKey = `bull:${GENERATION_QUEUE}:probe-job`;
    expect(await outcome(board, "HSET", jobKey, "name", "generate")).toBe("OK");
    expect(await outcome(board, "ZRANGE", `bull:${GENERATION_QUEUE}:failed`, "0", "-1")).toBe("OK");
    expect(await outcome(board, "EVAL", "return redis.call('HGET', KEYS[1], 'name')", "1", jobKey)).toBe(
      "OK",
    );
    expect(await outcome(board, "INFO")).toBe("OK");
    expect(await outcome(board, "CLIENT", "LIST")).toBe("OK");
    for (const command of [
      ["GET", "tapbot:probe"],
      ["SET", "tapbot:probe", "3"],
      ["HGET", "bull:another-queue:1", "data"],
      ["FLUSHALL"],
      ["FLUSHDB"],
      ["KEYS", "*"],
      ["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
      ["CONFIG", "GET", "maxmemory"],
      ["FUNCTION", "FLUSH"],
      ["SCRIPT", "FLUSH"],
      ["CLIENT", "KILL", "TYPE", "normal"],
      ["SUBSCRIBE", "anything"],
    ] as [string, ...string[]][]) {
      expect(await outcome(board, ...command), command.join(" ")).toBe("NOPERM");
    }
    // Lua runs with the caller's rights: a script cannot reach beyond the queue's keys either.
    await expect(board.call("EVAL", "return redis.call('GET', 'tapbot:probe')", "0")).rejects.toThrow(
      /can't access|NOPERM/,
    );
    expect(await connectAs(REDIS_USERS.app, appPassword).get("tapbot:probe")).toBe("1");
  });

  it("the real bot and a worker, connected as the app's user, turn a prompt into one picture", async () => {
    const url = new URL(stack.redis.url);
    url.username = REDIS_USERS.app;
    url.password = appPassword;
    await Promise.all([stack.startBot({ REDIS_URL: url.href }), stack.startWorker({ REDIS_URL: url.href })]);
    const user = newUser(stack, "Ada");
    const sent = user.says("a lighthouse, drawn on a least-privileged Redis");
    await user.nextPhoto(sent);
    expect(user.photosAfter(sent)).toHaveLength(1);
    // Nothing either process asked Redis for was refused.
    expect(appLog.filter((line) => /NOPERM|WRONGPASS|NOAUTH/.test(line))).toEqual([]);
  }, 90_000);
});
