import { type HostFile, shellQuote } from "./shell-script.js";

/** The daily dump of the PostgreSQL container. */
export interface PgBackupOptions {
  /** Directory on the data host that keeps the dumps (mode 0700). */
  dir: string;
  /** Dumps younger than this many days are kept; older ones are deleted after each successful dump. */
  retentionDays: number;
  /** Name of the PostgreSQL container. */
  container: string;
  database: string;
  user: string;
}

const NAME = /^[a-zA-Z0-9_-]+$/;

/**
 * The dump script. It writes to a partial file and renames it only after pg_dump succeeded, so a failed
 * night never leaves a truncated dump that looks complete, and old dumps are pruned only after a new one
 * exists, so a broken database never ends with zero backups. Its last line of output is the new dump's
 * path, which the backup script (render/backup-script.ts) uploads.
 */
export function renderPgDumpScript(options: PgBackupOptions): string {
  if (!options.dir.startsWith("/") || /[\s'"$`\\]/.test(options.dir)) {
    throw new Error(`backup dir must be an absolute path without spaces or quotes; got ${options.dir}`);
  }
  if (!Number.isInteger(options.retentionDays) || options.retentionDays < 1) {
    throw new Error(`backup retentionDays must be an integer ≥ 1; got ${options.retentionDays}`);
  }
  for (const [key, value] of Object.entries({
    container: options.container,
    database: options.database,
    user: options.user,
  })) {
    if (!NAME.test(value)) throw new Error(`backup ${key} must match ${NAME}; got ${value}`);
  }
  return `#!/usr/bin/env bash
# Daily pg_dump of the tapbot database, kept ${options.retentionDays} days. Managed by tapbot infra (Pulumi).
set -euo pipefail
umask 077
dir=${shellQuote(options.dir)}
mkdir -p "$dir"
chmod 0700 "$dir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
partial="$dir/.tapbot-$stamp.dump.partial"
trap 'rm -f "$partial"' EXIT
docker exec ${options.container} pg_dump --username=${options.user} --dbname=${options.database} --format=custom >"$partial"
mv "$partial" "$dir/tapbot-$stamp.dump"
find "$dir" -maxdepth 1 -type f -name 'tapbot-*.dump' -mtime +${options.retentionDays - 1} -delete
echo "$dir/tapbot-$stamp.dump"
`;
}

/** Path of the dump script on the data host. */
export const PG_DUMP_SCRIPT_PATH = "/usr/local/sbin/tapbot-pg-dump";

/** The dump script as a host file, for the data host's backup install (render/backup-script.ts). */
export function pgDumpHostFile(options: PgBackupOptions): HostFile {
  return { path: PG_DUMP_SCRIPT_PATH, mode: "0755", content: renderPgDumpScript(options) };
}
