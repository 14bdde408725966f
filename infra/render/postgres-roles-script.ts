import { renderAppRoleSql } from "./postgres-app-role.js";
import { renderDirectusRoleSql } from "./postgres-directus-role.js";
import { scriptPrelude, shellQuote } from "./shell-script.js";

/** Both roles' SQL, the app's first (Directus's read grants name it): what the script below feeds psql. */
export function renderPostgresRolesSql(
  database: string,
  appPassword: string,
  directusPassword: string,
): string {
  return renderAppRoleSql(database, appPassword) + renderDirectusRoleSql(database, directusPassword);
}

/**
 * The host script that applies the roles' SQL inside the PostgreSQL container as the superuser: the app's
 * role first (Directus's read grants name it), then Directus's. The SQL goes on psql's stdin in a quoted
 * heredoc (nothing in it is expanded), so no password is on a command line. Holds secrets: run it with its
 * output kept out of the log.
 */
export function renderPostgresRolesScript(opts: {
  container: string;
  superuser: string;
  database: string;
  appPassword: string;
  directusPassword: string;
}): string {
  const sql =
    renderAppRoleSql(opts.database, opts.appPassword) +
    renderDirectusRoleSql(opts.database, opts.directusPassword);
  if (sql.split("\n").includes("TAPBOT_SQL_END")) throw new Error("the SQL cannot hold its own delimiter");
  return `${scriptPrelude("PostgreSQL: the app's and Directus's own roles, no superuser")}
docker exec -i ${shellQuote(opts.container)} psql -X -q -U ${shellQuote(opts.superuser)} -d ${shellQuote(opts.database)} <<'TAPBOT_SQL_END'
${sql}TAPBOT_SQL_END
`;
}
