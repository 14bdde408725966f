import { chmod, mkdir, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderPgDumpScript } from "../../infra/render/pg-backup.js";
import { findBinary, postgresBinDirs } from "../support/find-binary.js";
import { type PostgresServer, startPostgres } from "../support/postgres-server.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool } from "./helpers/run-tool.js";

let server: PostgresServer;
let dir: string;
let binDir: string;
let pgRestore: string;

/**
 * The dump script calls `docker exec tapbot-postgres pg_dump …`. There is no Docker here, so a `docker` on
 * PATH stands in for exactly that call: it checks the container name and runs the real pg_dump against a
 * throwaway PostgreSQL with the script's own arguments. `FAIL=1` makes it fail like a dead container.
 */
beforeAll(async () => {
  server = await startPostgres();
  dir = await makeTempDir("pg-backup");
  binDir = join(dir, "bin");
  await mkdir(binDir);
  const pgDump = await findBinary("pg_dump", await postgresBinDirs());
  pgRestore = await findBinary("pg_restore", await postgresBinDirs());
  await writeFile(
    join(binDir, "docker"),
    `#!/usr/bin/env bash
set -euo pipefail
[ "$1" = exec ] && [ "$2" = tapbot-postgres ] && [ "$3" = pg_dump ] || { echo "unexpected docker call: $*" >&2; exit 97; }
[ "\${FAIL:-0}" = 1 ] && { echo "Error response from daemon: container is not running" >&2; exit 1; }
shift 3
exec ${pgDump} --host=127.0.0.1 --port=${server.port} "$@"
`,
  );
  await chmod(join(binDir, "docker"), 0o755);
  const client = await import("pg").then((pg) => new pg.default.Client({ connectionString: server.url }));
  await client.connect();
  await client.query(
    "CREATE TABLE users (id int primary key, name text); INSERT INTO users VALUES (1, 'owner')",
  );
  await client.end();
}, 60_000);
afterAll(async () => {
  await server?.stop();
  if (dir !== undefined) await removeTempDir(dir);
});

async function ageFile(path: string, days: number): Promise<void> {
  await writeFile(path, "old dump");
  const when = new Date(Date.now() - days * 86_400_000);
  await utimes(path, when, when);
}

describe("the daily pg_dump script", () => {
  const backups = () => join(dir, "backups");
  const script = () =>
    renderPgDumpScript({
      dir: backups(),
      retentionDays: 7,
      container: "tapbot-postgres",
      database: "tapbot",
      user: "postgres",
    });
  const run = (env: Record<string, string> = {}) =>
    runTool("bash", ["-c", script()], {
      env: { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ""}`, ...env },
    });

  it("writes a restorable dump and deletes only dumps older than the retention", async () => {
    await mkdir(backups(), { recursive: true });
    await ageFile(join(backups(), "tapbot-20200101T000000Z.dump"), 30);
    await ageFile(join(backups(), "tapbot-20200102T000000Z.dump"), 8);
    await ageFile(join(backups(), "tapbot-20200103T000000Z.dump"), 3);
    await writeFile(join(backups(), "notes.txt"), "not a dump; never touched");
    const result = await run();
    expect(result.code, result.stderr).toBe(0);
    const files = (await readdir(backups())).sort();
    const fresh = files.filter((f) => !f.startsWith("tapbot-2020") && f.endsWith(".dump"));
    expect(fresh).toHaveLength(1);
    expect(files).toContain("tapbot-20200103T000000Z.dump");
    expect(files).not.toContain("tapbot-20200101T000000Z.dump");
    expect(files).not.toContain("tapbot-20200102T000000Z.dump");
    expect(files).toContain("notes.txt");
    expect(files.some((f) => f.includes("partial"))).toBe(false);
    const listing = await runTool(pgRestore, ["--list", join(backups(), fresh[0] ?? "")]);
    expect(listing.code, listing.stderr).toBe(0);
    expect(listing.stdout).toMatch(/TABLE public users/);
  });

  it("fails loudly when the dump fails, leaves no partial file and prunes nothing", async () => {
    await rm(backups(), { recursive: true, force: true });
    await mkdir(backups());
    await ageFile(join(backups(), "tapbot-20200101T000000Z.dump"), 30);
    const result = await run({ FAIL: "1" });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("container is not running");
    expect(await readdir(backups())).toEqual(["tapbot-20200101T000000Z.dump"]);
  });
});
