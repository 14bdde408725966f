import { derivedRolePassword, loginRoleSql } from "./postgres-login-role.js";

/** The app's own PostgreSQL role: the bot and the workers connect as it, never as the superuser. */
export const APP_DB_ROLE = "tapbot_app";

/** The tables the app's migrations create (app/storage/migrations, and node-pg-migrate's own record). */
export const APP_TABLES = ["users", "generations", "pgmigrations"] as const;

/**
 * The app role's password, derived from the stack's `postgresPassword` so the owner keeps one secret; the
 * app's containers hold only this one, which is not a superuser's.
 */
export function appDbPassword(postgresPassword: string): string {
  return derivedRolePassword("app", postgresPassword);
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
  const tables = APP_TABLES.map((t) => `'${t}'`).join(", ");
  return `${loginRoleSql(APP_DB_ROLE, password, database)}GRANT USAGE, CREATE ON SCHEMA public TO :"role";
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'role') FROM pg_tables
  WHERE schemaname = 'public' AND tablename IN (${tables}) AND tableowner <> :'role' \\gexec
`;
}
