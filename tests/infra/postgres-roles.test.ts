import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMigrations } from "../../app/storage/migrate.js";
import { UserStore } from "../../app/storage/user-store.js";
import { APP_DB_ROLE, appDbPassword } from "../../infra/render/postgres-app-role.js";
import { DIRECTUS_DB_ROLE, directusDbPassword } from "../../infra/render/postgres-directus-role.js";
import { EXPORTER_DB_ROLE, exporterDbPassword } from "../../infra/render/postgres-exporter-role.js";
import { renderPostgresRolesSql } from "../../infra/render/postgres-roles-script.js";
import { type PostgresServer, startPostgres } from "../support/postgres-server.js";
import { runTool } from "./helpers/run-tool.js";

/**
 * The app's PostgreSQL role, created by the rendered SQL through the real psql on a throwaway PostgreSQL
 * that an earlier deploy left as it was (the app's tables created by the superuser, a Directus table
 * beside them): what the bot and the workers can still do as that role, and what they no longer can.
 */
let server: PostgresServer;
const pools: pg.Pool[] = [];
const password = appDbPassword("postgres-password-of-the-test-0123456789");
const directusPassword = directusDbPassword("postgres-password-of-the-test-0123456789");
const exporterPassword = exporterDbPassword("postgres-password-of-the-test-0123456789");

/** The database's name in the test server's URL (the deploy's is `tapbot`). */
const database = () => new URL(server.url).pathname.slice(1);

function urlAs(user: string): string {
  const url = new URL(server.url);
  url.username = user;
  const passwords: Record<string, string> = {
    [APP_DB_ROLE]: password,
    [DIRECTUS_DB_ROLE]: directusPassword,
    [EXPORTER_DB_ROLE]: exporterPassword,
  };
  url.password = passwords[user] ?? "";
  return url.href;
}

function poolAs(user: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: urlAs(user), max: 2 });
  // The server's shutdown at the end may reach a connection still closing: nothing to report then.
  pool.on("error", () => undefined);
  pools.push(pool);
  return pool;
}

/** Runs the rendered SQL of both roles as the deploy does: psql, the superuser, the SQL on stdin. */
function applyRoleSql() {
  return runTool("psql", ["-X", "-q", "-d", server.url], {
    input: renderPostgresRolesSql(database(), {
      app: password,
      directus: directusPassword,
      exporter: exporterPassword,
    }),
  });
}

/** The SQLSTATE a statement fails with, or "ok". */
async function outcome(pool: pg.Pool, sql: string): Promise<string> {
  try {
    await pool.query(sql);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** What no role but the superuser may do: run programs on the host, read passwords, reconfigure, make roles. */
const SERVER_ESCAPES = [
  "COPY (SELECT 1) TO PROGRAM 'id'",
  "SELECT rolpassword FROM pg_authid",
  "ALTER SYSTEM SET max_connections = 5",
  "CREATE ROLE intruder SUPERUSER",
  "CREATE DATABASE elsewhere",
  "SELECT pg_read_file('/etc/passwd')",
];

/** Each statement fails for `pool`'s role with insufficient_privilege (42501), named when it does not. */
async function expectRefused(pool: pg.Pool, statements: readonly string[]): Promise<void> {
  for (const sql of statements) expect(await outcome(pool, sql), sql).toBe("42501");
}

beforeAll(async () => {
  server = await startPostgres();
  // As an earlier deploy left it: migrations run as the superuser, Directus's tables beside the app's.
  await runMigrations(server.url);
  const superuser = poolAs("postgres");
  await superuser.query("CREATE TABLE directus_users (id serial PRIMARY KEY, email text)");
  await superuser.query("INSERT INTO directus_users (email) VALUES ('admin@tapbot.kz')");
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await server?.stop();
});

describe("the app's PostgreSQL role", () => {
  it("is created by psql from the rendered SQL, twice without error, and holds no password in clear", async () => {
    for (let run = 0; run < 2; run += 1) {
      const result = await applyRoleSql();
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe("");
    }
    const { rows } = await poolAs("postgres").query(
      `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin,
              rolpassword LIKE 'SCRAM-SHA-256$%' AS hashed
         FROM pg_authid WHERE rolname = $1`,
      [APP_DB_ROLE],
    );
    expect(rows).toEqual([
      {
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolreplication: false,
        rolbypassrls: false,
        rolcanlogin: true,
        hashed: true,
      },
    ]);
  });

  it("runs the app: its migrations (taking over the tables the superuser created) and its stores", async () => {
    await applyRoleSql();
    await runMigrations(urlAs(APP_DB_ROLE));
    const app = poolAs(APP_DB_ROLE);
    const user = await new UserStore(app).upsert({ telegramId: 4242, firstName: "Ada", languageCode: "en" });
    expect(user).toMatchObject({ telegramId: 4242, tier: "free" });
    const { rows } = await app.query(
      "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    expect(rows).toEqual([
      { tablename: "directus_users", tableowner: DIRECTUS_DB_ROLE },
      { tablename: "generations", tableowner: APP_DB_ROLE },
      { tablename: "pgmigrations", tableowner: APP_DB_ROLE },
      { tablename: "users", tableowner: APP_DB_ROLE },
    ]);
    // A future migration can still add a table.
    expect(await outcome(app, "CREATE TABLE app_future (id int)")).toBe("ok");
  });

  it("cannot run programs on the database host, read passwords, reconfigure the server or touch Directus", async () => {
    await applyRoleSql();
    const app = poolAs(APP_DB_ROLE);
    await expectRefused(app, [
      ...SERVER_ESCAPES,
      "SELECT email FROM directus_users",
      "DROP TABLE directus_users",
    ]);
  });
});

describe("Directus's PostgreSQL role", () => {
  it("is no superuser, takes over Directus's tables from the superuser, and creates its own", async () => {
    const result = await applyRoleSql();
    expect(result.code, result.stderr).toBe(0);
    const { rows } = await poolAs("postgres").query(
      "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = $1",
      [DIRECTUS_DB_ROLE],
    );
    expect(rows).toEqual([{ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolcanlogin: true }]);
    const directus = poolAs(DIRECTUS_DB_ROLE);
    // What Directus does at its bootstrap and when the owner adds a collection.
    expect(await outcome(directus, "INSERT INTO directus_users (email) VALUES ('editor@tapbot.kz')")).toBe(
      "ok",
    );
    expect(await outcome(directus, "CREATE TABLE directus_settings (id serial PRIMARY KEY)")).toBe("ok");
    expect(await outcome(directus, "CREATE TABLE promo_texts (id serial PRIMARY KEY, body text)")).toBe("ok");
  });

  it("reads the app's tables, those a later migration adds too, and writes none of them", async () => {
    await applyRoleSql();
    await runMigrations(urlAs(APP_DB_ROLE));
    const app = poolAs(APP_DB_ROLE);
    await new UserStore(app).upsert({ telegramId: 777, firstName: "Grace", languageCode: "ru" });
    // A migration after the deploy: the default privileges reach it without another run of the SQL.
    await app.query("CREATE TABLE IF NOT EXISTS app_later (id int)");
    const directus = poolAs(DIRECTUS_DB_ROLE);
    const { rows } = await directus.query("SELECT first_name FROM users WHERE telegram_id = 777");
    expect(rows).toEqual([{ first_name: "Grace" }]);
    expect(await outcome(directus, "SELECT count(*) FROM generations")).toBe("ok");
    expect(await outcome(directus, "SELECT count(*) FROM app_later")).toBe("ok");
    await expectRefused(directus, [
      "UPDATE users SET tier = 'vip'",
      "DELETE FROM generations",
      "INSERT INTO app_later VALUES (1)",
      "DROP TABLE users",
      "TRUNCATE generations",
    ]);
  });

  it("cannot run programs on the database host, read passwords or reconfigure the server; the app cannot read Directus", async () => {
    await applyRoleSql();
    const directus = poolAs(DIRECTUS_DB_ROLE);
    await expectRefused(directus, SERVER_ESCAPES);
    await expectRefused(poolAs(APP_DB_ROLE), [
      "SELECT email FROM directus_users",
      "SELECT body FROM promo_texts",
    ]);
  });
});

describe("postgres_exporter's PostgreSQL role", () => {
  it("reads the server's statistics, other sessions' queries included, and no table", async () => {
    const result = await applyRoleSql();
    expect(result.code, result.stderr).toBe(0);
    const exporter = poolAs(EXPORTER_DB_ROLE);
    // What postgres_exporter queries: sessions (with their queries), database sizes, settings, the WAL position.
    const app = poolAs(APP_DB_ROLE);
    await app.query("SELECT 1");
    const sessions = await exporter.query("SELECT usename, query FROM pg_stat_activity WHERE usename = $1", [
      APP_DB_ROLE,
    ]);
    expect(sessions.rows.length).toBeGreaterThan(0);
    expect(sessions.rows.every((r: { query: string }) => r.query !== "<insufficient privilege>")).toBe(true);
    for (const sql of [
      "SELECT pg_database_size(current_database())",
      "SELECT name, setting FROM pg_settings WHERE name = 'max_connections'",
      "SELECT * FROM pg_stat_database",
      "SELECT pg_current_wal_lsn()",
    ]) {
      expect(await outcome(exporter, sql), sql).toBe("ok");
    }
    await expectRefused(exporter, [
      ...SERVER_ESCAPES,
      "SELECT * FROM users",
      "SELECT * FROM generations",
      "SELECT * FROM directus_users",
      "CREATE TABLE exporter_table (id int)",
    ]);
  });
});
