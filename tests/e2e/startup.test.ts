import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppRole, type AppStack, spawnApp, startAppStack } from "../support/app-stack.js";
import { freePort } from "../support/free-port.js";
import { type RedisServer, startRedis } from "../support/redis-server.js";
import { dumpLogsOnFailure } from "./e2e-kit.js";

/** How the processes start and report: refusals at start, and /healthz when a dependency goes away. */
let stack: AppStack;
let evicting: RedisServer;
dumpLogsOnFailure(() => stack);

beforeAll(async () => {
  [stack, evicting] = await Promise.all([
    startAppStack(),
    startRedis({ args: ["--maxmemory-policy", "allkeys-lru"] }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([stack?.stop(), evicting?.stop()]);
}, 60_000);

function runApp(role: AppRole, env: Record<string, string>) {
  return spawnApp(role, {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    ...env,
  });
}

describe("starting up", () => {
  it("the worker refuses a Redis that may evict keys, with a clear message", async () => {
    const worker = runApp("worker", { ...stack.baseEnv, REDIS_URL: evicting.url, HTTP_PORT: "0" });
    const code = await worker.exited;
    expect(code).not.toBe(0);
    expect(worker.logTail()).toMatch(/noeviction/);
    expect(worker.logTail()).not.toMatch(/worker ready/);
    expect(worker.logTail()).not.toMatch(/\n\s+at /);
  }, 60_000);

  it.each(["bot", "worker"] as const)(
    "the %s names an unreachable PostgreSQL by its variable and address, exits 1, no stack trace",
    async (role) => {
      const port = await freePort();
      const child = runApp(role, {
        ...stack.baseEnv,
        DATABASE_URL: `postgres://tapbot:db-password-never-printed@127.0.0.1:${port}/tapbot`,
        HTTP_PORT: "0",
      });
      expect(await child.exited).toBe(1);
      const output = child.logTail();
      expect(output).toContain(
        `${role} failed to start: cannot use PostgreSQL (DATABASE_URL): connection refused at 127.0.0.1:${port}`,
      );
      expect(output).not.toContain("db-password-never-printed");
      expect(output).not.toMatch(/\n\s+at /);
    },
    60_000,
  );

  it("a bad environment is reported all at once, naming each variable, never echoing a secret", async () => {
    const falKey = "fal-key-that-must-not-be-printed";
    const bot = runApp("bot", {
      TELEGRAM_BOT_TOKEN: "not a token secret-ish",
      FAL_KEY: falKey,
      REDIS_URL: "http://wrong-scheme",
      WORKER_CONCURRENCY: "zero",
    });
    const code = await bot.exited;
    const output = bot.logTail();
    expect(code).not.toBe(0);
    for (const variable of ["TELEGRAM_BOT_TOKEN", "REDIS_URL", "DATABASE_URL", "WORKER_CONCURRENCY"]) {
      expect(output).toContain(variable);
    }
    expect(output).not.toContain(falKey);
    expect(output).not.toContain("not a token secret-ish");
    expect(output).not.toMatch(/\n\s+at .*\.ts:\d+/);
  }, 60_000);
});

describe("/healthz", () => {
  it("answers 200 while Redis and PostgreSQL answer, and 503 naming PostgreSQL once it is gone", async () => {
    const bot = await stack.startBot();
    const healthy = await fetch(`http://127.0.0.1:${bot.port}/healthz`);
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toMatchObject({ status: "ok", checks: { redis: "ok", postgres: "ok" } });

    await stack.postgres.stop();
    const sick = await fetch(`http://127.0.0.1:${bot.port}/healthz`);
    expect(sick.status).toBe(503);
    const body = JSON.stringify(await sick.json());
    expect(body).toMatch(/postgres/);
    expect(body).not.toContain(stack.telegram.token);
  }, 60_000);
});
