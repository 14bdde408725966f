import { createHash } from "node:crypto";

/** The app's own PostgreSQL role: the bot and the workers connect as it, never as the superuser. */
export const APP_DB_ROLE = "tapbot_app";

/** The tables the app's migrations create (app/storage/migrations, and node-pg-migrate's own record). */
export const APP_TABLES = ["users", "generations", "pgmigrations"] as const;

/**
 * The app role's password, derived from the stack's `postgresPassword` so the owner keeps one secret; the
 * app's containers hold only this one, which is not a superuser's.
 */
export function appDbPassword(postgresPassword: string): string {
  return createHash("sha256").update(`tapbot-postgres-app:${postgresPassword}`).digest("hex");
}

/** A psql single-quoted argument: a quote is doubled. */
export function psqlQuoted(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * SQL for psql, run by the superuser (the image's POSTGRES_USER) on every deploy: the app's role exists,
 * can log in with `password`, and is no superuser and cannot create roles or databases or replicate, so a
 * compromised bot or worker cannot run programs on the database host (`COPY … TO PROGRAM`), read other
 * roles' passwords, change the server's settings or touch what it does not own (Directus's tables). It
 * may create tables in `public` (its migrations) and owns its tables, those an earlier deploy created as
 * the superuser included (their sequences follow). Idempotent: a second run changes nothing.
 */
export function renderAppRoleSql(database: string, password: string): string {
  if (password.length === 0) throw new Error("the app role's password must not be empty");
  const tables = APP_TABLES.map((t) => `'${t}'`).join(", ");
  return `\\set ON_ERROR_STOP on
\\set role ${APP_DB_ROLE}
\\set password ${psqlQuoted(password)}
SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'password';
GRANT CONNECT ON DATABASE "${database}" TO :"role";
GRANT USAGE, CREATE ON SCHEMA public TO :"role";
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'role') FROM pg_tables
  WHERE schemaname = 'public' AND tablename IN (${tables}) AND tableowner <> :'role' \\gexec
`;
}
