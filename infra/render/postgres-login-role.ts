import { createHash } from "node:crypto";

/** A psql single-quoted argument: a quote is doubled. */
function psqlQuoted(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * A role's password derived from the stack's `postgresPassword` and the client's label (`app`, `directus`,
 * `exporter`), so the owner keeps one secret while each client holds only its own password, none of them the
 * superuser's, and none revealing another.
 */
export function derivedRolePassword(label: string, postgresPassword: string): string {
  return createHash("sha256").update(`tapbot-postgres-${label}:${postgresPassword}`).digest("hex");
}

/**
 * The head every role's SQL starts with (psql, run by the superuser): stop at the first error, name the role
 * (`:"role"`, `:'role'`), create it when missing, and (again on every run, so a change of password or a role
 * an earlier hand edit widened is brought back) make it a login with `password` and no superuser, CREATEDB,
 * CREATEROLE, REPLICATION or BYPASSRLS, allowed to connect to `database`. What the role may do there follows.
 */
export function loginRoleSql(role: string, password: string, database: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(role)) throw new Error(`a role name must be lower-case SQL; got ${role}`);
  if (password.length === 0) throw new Error(`the ${role} role's password must not be empty`);
  return `\\set ON_ERROR_STOP on
\\set role ${role}
\\set password ${psqlQuoted(password)}
SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'password';
GRANT CONNECT ON DATABASE "${database}" TO :"role";
`;
}
