import { ConfigError } from "../config.js";
import { createLogger, redactSecrets } from "../observability/logger.js";
import { runMigrations } from "./migrate.js";

/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL and says which. Reads only DATABASE_URL
 * (and LOG_LEVEL), so it runs before the rest of the environment is filled in.
 */
async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl === undefined || !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(["DATABASE_URL: required: a postgres or postgresql URL"]);
  }
  const logger = createLogger(process.env.LOG_LEVEL ?? "info", "migrate");
  const applied = await runMigrations(databaseUrl, logger);
  logger.info(
    { applied },
    applied.length === 0 ? "database is up to date" : `applied ${applied.length} migration(s)`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${redactSecrets(error instanceof Error ? error.message : String(error))}\n`);
  process.exit(1);
});
