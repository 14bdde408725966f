import { chmod, chown, readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { startChild } from "./child-process.js";
import { findBinary, postgresBinDirs } from "./find-binary.js";
import { freePort } from "./free-port.js";
import { makeTempDir, removeTempDir } from "./temp-dir.js";
import { waitUntil } from "./wait-until.js";

/** Options for {@link startPostgres}. */
export interface StartPostgresOptions {
  /** Extra server settings (`-c name=value`), applied after the fast defaults so they override them. */
  settings?: Record<string, string>;
  /** How long to wait for the server to accept connections. @defaultValue 20000 */
  startTimeoutMs?: number;
}

/** A throwaway PostgreSQL cluster with a `tapbot` database; `stop()` kills it and removes its files. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/tapbot` (trust auth, no password). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** The server's log so far (for failure messages). */
  logTail(): string;
  /**
   * A crash and a restart on the same port and data: `SIGQUIT` (PostgreSQL's immediate shutdown, no
   * checkpoint, crash recovery at the next start), `downMs` of nothing listening, then the server again.
   */
  crashAndRestart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** The database every test and the demo use; the app's migrations create its tables. */
const TEST_DATABASE = "tapbot";

/**
 * Settings that make a disposable cluster start and run fast; durability does not matter for a cluster
 * that is deleted after the test.
 */
const FAST_SETTINGS: Record<string, string> = {
  listen_addresses: "127.0.0.1",
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  shared_buffers: "16MB",
  max_connections: "100",
  max_wal_size: "64MB",
  log_min_messages: "warning",
};

/** Who runs the server: PostgreSQL refuses to run as root, so root hands it to the `postgres` user. */
interface RunAs {
  uid?: number;
  gid?: number;
}

async function runAsForCurrentUser(): Promise<RunAs> {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return {};
  const passwd = await readFile("/etc/passwd", "utf8");
  const entry = passwd.split("\n").find((line) => line.startsWith("postgres:"));
  const fields = entry?.split(":");
  const uid = Number(fields?.[2]);
  const gid = Number(fields?.[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(
      "running as root, and PostgreSQL refuses to run as root, but there is no `postgres` user in /etc/passwd " +
        "to run it as; install the postgresql package or run the tests as a normal user",
    );
  }
  return { uid, gid };
}

async function tryQuery(url: string, sql: string): Promise<true | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query(sql);
    return true;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Starts a real PostgreSQL: `initdb` into a fresh temp dir (trust auth, UTF8, no sync), the server on a
 * free loopback port with its unix socket inside that dir and the {@link FAST_SETTINGS}, then creates the
 * `tapbot` database. Binaries come from /usr/lib/postgresql/<newest>/bin or PATH. When this process is
 * root the cluster runs as the `postgres` system user (the dir is chowned to it). Throws with the log
 * tail of initdb or the server when either fails.
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const binDirs = await postgresBinDirs();
  const hint = "Install PostgreSQL (Debian/Ubuntu: apt-get install postgresql).";
  const initdb = await findBinary("initdb", binDirs, hint);
  const postgres = await findBinary("postgres", binDirs, hint);
  const runAs = await runAsForCurrentUser();

  const dir = await makeTempDir("postgres");
  const dataDir = join(dir, "data");
  await chmod(dir, 0o700);
  if (runAs.uid !== undefined && runAs.gid !== undefined) await chown(dir, runAs.uid, runAs.gid);
  const env = { ...process.env, LC_ALL: "C", LANG: "C" };

  try {
    const init = startChild(
      initdb,
      ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"],
      { ...runAs, cwd: dir, env },
    );
    const code = await init.exited;
    if (code !== 0) throw new Error(`initdb exited with ${code}; log tail:\n${init.logTail()}`);
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }

  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const settings = { ...FAST_SETTINGS, ...opts.settings };
    const args = ["-D", dataDir, "-p", String(port), "-k", dir];
    for (const [name, value] of Object.entries(settings)) args.push("-c", `${name}=${value}`);
    let server = startChild(postgres, args, { ...runAs, cwd: dir, env });
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    try {
      await waitUntil(() => tryQuery(adminUrl, "SELECT 1"), {
        timeoutMs: opts.startTimeoutMs ?? 20_000,
        intervalMs: 100,
        describe: () =>
          `PostgreSQL on port ${port} did not accept connections; log tail:\n${server.logTail()}`,
        abort: () => (server.hasExited() ? "postgres exited during startup" : undefined),
      });
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${TEST_DATABASE}`);
      } finally {
        await admin.end();
      }
      return {
        url: `postgres://postgres@127.0.0.1:${port}/${TEST_DATABASE}`,
        port,
        dataDir,
        logTail: () => server.logTail(),
        async crashAndRestart(downMs) {
          await server.stop("SIGQUIT", 10_000);
          await new Promise((resolve) => setTimeout(resolve, downMs));
          server = startChild(postgres, args, { ...runAs, cwd: dir, env });
          await waitUntil(() => tryQuery(adminUrl, "SELECT 1"), {
            timeoutMs: 30_000,
            intervalMs: 100,
            describe: () => `PostgreSQL did not come back on port ${port}; log tail:\n${server.logTail()}`,
          });
        },
        async stop() {
          // SIGINT is PostgreSQL's "fast" shutdown: it disconnects clients instead of waiting for them.
          await server.stop("SIGINT", 10_000);
          await removeTempDir(dir);
        },
      };
    } catch (error) {
      await server.stop("SIGINT", 5_000);
      lastError = error as Error;
      if (!/already in use/i.test(server.logTail())) break;
    }
  }
  await removeTempDir(dir);
  throw lastError ?? new Error("PostgreSQL did not start");
}
