import { fileURLToPath } from "node:url";
import pg from "pg";
import { appEnv } from "./app-env.js";
import { type RunningChild, type StartChildOptions, startChild } from "./child-process.js";
import { type FakeFal, type FakeFalOptions, startFakeFal } from "./fake-fal.js";
import { type FakeTelegram, type FakeTelegramOptions, startFakeTelegram } from "./fake-telegram.js";
import { freePort } from "./free-port.js";
import { type PostgresServer, type StartPostgresOptions, startPostgres } from "./postgres-server.js";
import { rssBytes } from "./proc-status.js";
import { type RedisServer, type StartRedisOptions, startRedis } from "./redis-server.js";
import { waitUntil } from "./wait-until.js";

/** The repository root: app processes run from here so that `--import tsx` and relative paths resolve. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Which entry point a process runs. */
export type AppRole = "bot" | "worker" | "board";

/** A bot or worker running as a real child process (`node --import tsx app/<role>/main.ts`). */
export interface AppProcess {
  readonly role: AppRole;
  /** "bot", "worker-1", "worker-2", … */
  readonly name: string;
  readonly pid: number;
  /** Its ops server port (HTTP_PORT): /healthz, /metrics and, in webhook mode, the webhook. */
  readonly port: number;
  readonly child: RunningChild;
  /** SIGTERM (graceful), SIGKILL after `timeoutMs`; resolves when it has exited. */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL: no shutdown code runs, as when the kernel's OOM killer or a power cut ends it. */
  kill(): Promise<void>;
  /** GET /metrics as text. */
  metrics(): Promise<string>;
  /** Resident set size now, in bytes (VmRSS from /proc; Linux only). */
  rssBytes(): Promise<number>;
}

/** Options for {@link startAppStack}. */
export interface AppStackOptions {
  /**
   * Environment for every app process, over the defaults of {@link AppStack.baseEnv}. Keep LOG_LEVEL at info
   * or lower: readiness is the "bot ready" / "worker ready" info line.
   */
  env?: Record<string, string>;
  fal?: FakeFalOptions;
  telegram?: FakeTelegramOptions;
  /** Options of the stack's Redis (`appendOnly` for a soak that restarts it). */
  redis?: StartRedisOptions;
  /** Options of the stack's PostgreSQL (durable commits for a soak that crashes it). */
  postgres?: StartPostgresOptions;
  /** Called with every log line of every app process (the demo prints some; tests can echo them). */
  onLog?: (name: string, line: string) => void;
  /** How long a process may take to log that it is ready. @defaultValue 60000 */
  readyTimeoutMs?: number;
}

/** Redis, PostgreSQL, both fakes and the app processes started on them; `stop()` ends all of it. */
export interface AppStack {
  readonly redis: RedisServer;
  readonly postgres: PostgresServer;
  readonly telegram: FakeTelegram;
  readonly fal: FakeFal;
  /** A small pool on the stack's database, for assertions on what the app stored. */
  readonly db: pg.Pool;
  /** The environment every app process gets (before per-process overrides). */
  readonly baseEnv: Record<string, string>;
  readonly processes: readonly AppProcess[];
  /** Starts the bot and waits for "bot ready". */
  startBot(env?: Record<string, string>): Promise<AppProcess>;
  /** Starts a worker and waits for "worker ready". */
  startWorker(env?: Record<string, string>): Promise<AppProcess>;
  /** The log tails of every process started, for failure messages. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * Spawns `node --import tsx app/<role>/main.ts` from the repository root with exactly `env`, without waiting
 * for it (see {@link waitForAppReady}); the stack's processes and the start-up refusal tests start this way.
 */
export function spawnApp(
  role: AppRole,
  env: Record<string, string>,
  opts: Pick<StartChildOptions, "keepLines" | "onLine"> = {},
): RunningChild {
  return startChild(process.execPath, ["--import", "tsx", `app/${role}/main.ts`], {
    cwd: repoRoot,
    env,
    ...opts,
  });
}

const READY_LINE: Record<AppRole, RegExp> = {
  bot: /bot ready/,
  worker: /worker ready/,
  board: /board ready/,
};

/**
 * Waits until a started bot or worker has logged its ready line (within `timeoutMs`, default 60 s) and its
 * /healthz on `port` answers 200. If it does not, kills it and throws naming `name` (default: the role),
 * with its log tail.
 */
export async function waitForAppReady(
  child: RunningChild,
  role: AppRole,
  port: number,
  opts: { name?: string; timeoutMs?: number | undefined } = {},
): Promise<void> {
  const name = opts.name ?? role;
  try {
    await child.waitForLine(READY_LINE[role], opts.timeoutMs ?? 60_000);
    await waitUntil(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        return response?.status === 200 ? true : undefined;
      },
      { timeoutMs: 10_000, describe: () => `${name} /healthz on port ${port} did not answer 200` },
    );
  } catch (error) {
    await child.stop("SIGKILL");
    throw new Error(`${name} did not become ready: ${(error as Error).message}\n${child.logTail(40)}`);
  }
}

/**
 * Starts a throwaway Redis and PostgreSQL, the fake Telegram and fal, and returns a stack that starts bot and
 * worker processes against them with short poll intervals, so that a request goes end to end in about a
 * second. The processes get only the variables listed here (plus PATH and HOME), never this process's own.
 */
export async function startAppStack(opts: AppStackOptions = {}): Promise<AppStack> {
  const started: { stop(): Promise<void> }[] = [];
  try {
    const [redis, postgres, telegram, fal] = await Promise.all([
      startRedis(opts.redis),
      startPostgres(opts.postgres),
      startFakeTelegram(opts.telegram),
      startFakeFal(opts.fal),
    ]);
    started.push(redis, postgres, telegram, fal);
    return buildStack(redis, postgres, telegram, fal, opts);
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw error;
  }
}

function buildStack(
  redis: RedisServer,
  postgres: PostgresServer,
  telegram: FakeTelegram,
  fal: FakeFal,
  opts: AppStackOptions,
): AppStack {
  const db = new pg.Pool({ connectionString: postgres.url, max: 3 });
  db.on("error", () => {});
  const processes: AppProcess[] = [];
  let workerCount = 0;
  const baseEnv: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    NODE_ENV: "test",
    ...appEnv({ telegram, fal, redis, postgres }),
    WORKER_CONCURRENCY: "4",
    LOG_LEVEL: "info",
    POLL_INITIAL_SECONDS: "0.2",
    POLL_MAX_SECONDS: "0.5",
    SHUTDOWN_GRACE_SECONDS: "5",
    QUEUE_NAME: "generations",
    ...opts.env,
  };

  async function start(role: AppRole, env: Record<string, string> = {}): Promise<AppProcess> {
    const name = role === "bot" ? "bot" : `worker-${++workerCount}`;
    const port = Number(env.HTTP_PORT ?? (await freePort()));
    const child = spawnApp(
      role,
      { ...baseEnv, HTTP_PORT: String(port), ...env },
      {
        keepLines: 400,
        onLine: (line) => opts.onLog?.(name, line),
      },
    );
    const appProcess: AppProcess = {
      role,
      name,
      pid: child.pid,
      port,
      child,
      stop: (timeoutMs = 15_000) => child.stop("SIGTERM", timeoutMs),
      async kill() {
        child.child.kill("SIGKILL");
        await child.exited;
      },
      async metrics() {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        return response.text();
      },
      rssBytes: () => rssBytes(child.pid),
    };
    processes.push(appProcess);
    await waitForAppReady(child, role, port, { name, timeoutMs: opts.readyTimeoutMs });
    return appProcess;
  }

  return {
    redis,
    postgres,
    telegram,
    fal,
    db,
    baseEnv,
    processes,
    startBot: (env) => start("bot", env),
    startWorker: (env) => start("worker", env),
    logs: (lines = 60) =>
      processes.map((p) => `----- ${p.name} (pid ${p.pid}) -----\n${p.child.logTail(lines)}`).join("\n"),
    async stop() {
      await Promise.allSettled(processes.map((p) => p.stop(10_000)));
      await Promise.allSettled([telegram.stop(), fal.stop(), db.end()]);
      await Promise.allSettled([redis.stop(), postgres.stop()]);
    },
  };
}
