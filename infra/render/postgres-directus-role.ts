import { APP_DB_ROLE } from "./postgres-app-role.js";
import { derivedRolePassword, loginRoleSql } from "./postgres-login-role.js";

/** Directus's own PostgreSQL role: Directus connects as it, never as the superuser. */
export const DIRECTUS_DB_ROLE = "tapbot_directus";

/** Directus's role password, derived from the stack's `postgresPassword` like the app's (one secret to keep). */
export function directusDbPassword(postgresPassword: string): string {
  return derivedRolePassword("directus", postgresPassword);
}

/**
 * SQL for psql, run by the superuser after the app's role exists (see renderAppRoleSql): Directus's role can
 * log in with `password` and is no superuser and cannot create roles or databases or replicate, so the admin
 * app, the most exposed service of the data host, cannot run programs there (`COPY … TO PROGRAM`) or read
 * other roles' passwords. It creates and owns its own tables in `public` (its `directus_*` system tables,
 * those an earlier deploy created as the superuser included, and the collections the owner adds), and it
 * reads the app's tables, now and those future migrations create (default privileges of the app's role),
 * without writing them: what the owner edits in Directus cannot corrupt the bot's bookkeeping. The app's role
 * gets nothing of Directus's tables (they hold the admin's password hash and tokens). Idempotent.
 */
export function renderDirectusRoleSql(database: string, password: string): string {
  return `${loginRoleSql(DIRECTUS_DB_ROLE, password, database)}\\set app ${APP_DB_ROLE}
GRANT USAGE, CREATE ON SCHEMA public TO :"role";
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'role') FROM pg_tables
  WHERE schemaname = 'public' AND tablename LIKE 'directus\\_%' AND tableowner <> :'role' \\gexec
SELECT format('GRANT SELECT ON public.%I TO %I', tablename, :'role') FROM pg_tables
  WHERE schemaname = 'public' AND tableowner = :'app' \\gexec
ALTER DEFAULT PRIVILEGES FOR ROLE :"app" IN SCHEMA public GRANT SELECT ON TABLES TO :"role";
`;
}
