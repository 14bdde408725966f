import pg from "pg";

/**
 * The process's PostgreSQL pool. Small on purpose: the bot and a worker each make a few short queries
 * per request; the data host's max_connections is shared by every replica and Directus.
 */
export function createPool(databaseUrl: string, max = 5): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: "tapbot",
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", () => {});
  return pool;
}

/** Resolves when PostgreSQL answers; the /healthz check. */
export async function pingPostgres(pool: pg.Pool): Promise<void> {
  await pool.query("SELECT 1");
}
