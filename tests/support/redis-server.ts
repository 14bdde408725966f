import { connect } from "node:net";
import { startChild } from "./child-process.js";
import { findBinary } from "./find-binary.js";
import { freePort } from "./free-port.js";
import { makeTempDir, removeTempDir } from "./temp-dir.js";
import { waitUntil } from "./wait-until.js";

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /**
   * Extra redis-server arguments, appended after the defaults so that they override them
   * (e.g. `["--maxmemory-policy", "allkeys-lru"]` to test the worker's refusal).
   */
  args?: string[];
  /** How long to wait for the server to answer PING. @defaultValue 10000 */
  startTimeoutMs?: number;
  /**
   * Persist as production does (AOF, fsync every second) instead of keeping nothing, so that
   * {@link RedisServer.crashAndRestart} shows what a restart keeps.
   */
  appendOnly?: boolean;
}

/** A throwaway redis-server; `stop()` kills it and removes its directory. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Its working directory (removed by `stop()`). */
  readonly dir: string;
  /** The server's log so far (for failure messages). */
  logTail(): string;
  /** SIGKILL, `downMs` of nothing listening, then the server again on the same port and directory. */
  crashAndRestart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Answers whether a Redis on `port` replies `+PONG` to an inline PING. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let reply = "";
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => finish(false));
    socket.once("error", () => finish(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("utf8");
      if (reply.includes("\r\n")) finish(reply.startsWith("+PONG"));
    });
  });
}

/**
 * Starts a real redis-server on a free loopback port, with its working directory in a fresh temp dir,
 * no persistence and `maxmemory-policy noeviction` (what BullMQ requires) unless `args` override it.
 * Retries with another port if the chosen one was taken in the meantime. Throws with the server's log
 * tail when it does not come up.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = await findBinary(
    "redis-server",
    ["/usr/bin", "/usr/local/bin"],
    "Install it (Debian/Ubuntu: apt-get install redis-server).",
  );
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const dir = await makeTempDir("redis");
    const port = await freePort();
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      opts.appendOnly === true ? "yes" : "no",
      "--appendfsync",
      "everysec",
      "--maxmemory-policy",
      "noeviction",
      "--daemonize",
      "no",
      "--logfile",
      "",
      ...(opts.args ?? []),
    ];
    let server = startChild(binary, args);
    const stop = async (): Promise<void> => {
      await server.stop("SIGTERM", 5_000);
      await removeTempDir(dir);
    };
    try {
      await waitUntil(async () => ((await ping(port)) ? true : undefined), {
        timeoutMs: opts.startTimeoutMs ?? 10_000,
        describe: () => `redis-server on port ${port} did not answer PING; log tail:\n${server.logTail()}`,
        abort: () => (server.hasExited() ? "redis-server exited during startup" : undefined),
      });
      const crashAndRestart = async (downMs: number): Promise<void> => {
        await server.stop("SIGKILL");
        await new Promise((resolve) => setTimeout(resolve, downMs));
        server = startChild(binary, args);
        await waitUntil(async () => ((await ping(port)) ? true : undefined), {
          timeoutMs: 30_000,
          describe: () => `redis-server did not come back on port ${port}; log tail:\n${server.logTail()}`,
        });
      };
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        dir,
        logTail: () => server.logTail(),
        crashAndRestart,
        stop,
      };
    } catch (error) {
      await stop();
      lastError = error as Error;
      if (!/Address already in use/i.test(server.logTail())) break;
    }
  }
  throw lastError ?? new Error("redis-server did not start");
}
