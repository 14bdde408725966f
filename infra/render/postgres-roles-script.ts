import { renderAppRoleSql } from "./postgres-app-role.js";
import { renderDirectusRoleSql } from "./postgres-directus-role.js";
import { renderExporterRoleSql } from "./postgres-exporter-role.js";
import { scriptPrelude, shellQuote } from "./shell-script.js";

/** The passwords of the roles the deploy makes (each derived from the stack's postgresPassword). */
export interface RolePasswords {
  app: string;
  directus: string;
  exporter: string;
}

/** Every role's SQL, the app's first (Directus's read grants name it): what the script below feeds psql. */
export function renderPostgresRolesSql(database: string, passwords: RolePasswords): string {
  return (
    renderAppRoleSql(database, passwords.app) +
    renderDirectusRoleSql(database, passwords.directus) +
    renderExporterRoleSql(database, passwords.exporter)
  );
}

/**
 * The host script that applies the roles' SQL inside the PostgreSQL container as the superuser: the app's
 * role first, then Directus's and postgres_exporter's. The SQL goes on psql's stdin in a quoted heredoc
 * (nothing in it is expanded), so no password is on a command line. Holds secrets: run it with its output
 * kept out of the log.
 */
export function renderPostgresRolesScript(opts: {
  container: string;
  superuser: string;
  database: string;
  passwords: RolePasswords;
}): string {
  const sql = renderPostgresRolesSql(opts.database, opts.passwords);
  if (sql.split("\n").includes("TAPBOT_SQL_END")) throw new Error("the SQL cannot hold its own delimiter");
  return `${scriptPrelude("PostgreSQL: the app's, Directus's and the exporter's own roles, no superuser")}
docker exec -i ${shellQuote(opts.container)} psql -X -q -U ${shellQuote(opts.superuser)} -d ${shellQuote(opts.database)} <<'TAPBOT_SQL_END'
${sql}TAPBOT_SQL_END
`;
}
