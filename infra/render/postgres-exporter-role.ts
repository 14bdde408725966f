import { derivedRolePassword, loginRoleSql } from "./postgres-login-role.js";

/** postgres_exporter's PostgreSQL role: it reads the server's statistics, nothing else. */
export const EXPORTER_DB_ROLE = "tapbot_exporter";

/** The exporter role's password, derived from the stack's `postgresPassword` (see derivedRolePassword). */
export function exporterDbPassword(postgresPassword: string): string {
  return derivedRolePassword("exporter", postgresPassword);
}

/**
 * SQL for psql, run by the superuser: the exporter's role, a login with PostgreSQL's `pg_monitor` role (the
 * statistics views and settings postgres_exporter reads, other sessions' queries included) and nothing
 * else: it can read no table, write nothing and run no program, so the monitoring host's exporter, whose
 * password sits in its environment, is no way into the data. Idempotent.
 */
export function renderExporterRoleSql(database: string, password: string): string {
  // Granted only when missing: a second GRANT would print a NOTICE on every deploy.
  return `${loginRoleSql(EXPORTER_DB_ROLE, password, database)}SELECT format('GRANT pg_monitor TO %I', :'role')
  WHERE NOT pg_has_role(:'role', 'pg_monitor', 'MEMBER') \\gexec
`;
}
