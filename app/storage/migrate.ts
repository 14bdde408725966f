import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import type { Logger } from "../observability/logger.js";

/**
 * The migration files beside this module: `.ts` under tsx, the compiled `.js` in the image (loaded by
 * node-pg-migrate through jiti in both cases); source maps and declarations are not migrations.
 */
const migrationsDir = fileURLToPath(new URL("./migrations", import.meta.url));
const notMigrations = "(\\..*)|(.*\\.map)|(.*\\.d\\.ts)";

/**
 * Applies every pending migration. Idempotent (applied ones are recorded in `pgmigrations`) and safe
 * when the bot and the workers start together: the advisory lock makes the others wait, then find
 * nothing to do. Returns the names it applied.
 */
export async function runMigrations(databaseUrl: string, logger?: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir,
    ignorePattern: notMigrations,
    direction: "up",
    migrationsTable: "pgmigrations",
    checkOrder: true,
    advisoryLockMode: "wait",
    singleTransaction: true,
    logger: {
      debug: (msg) => logger?.debug(msg),
      info: (msg) => logger?.debug(msg),
      warn: (msg) => logger?.warn(msg),
      error: (msg) => logger?.error(msg),
    },
  });
  return applied.map((m) => m.name);
}
