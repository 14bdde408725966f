import { type HostFile, installFileLines, scriptPrelude, shellQuote } from "./shell-script.js";

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
 * exists, so a broken database never ends with zero backups.
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
`;
}

/** Path of the dump script on the data host. */
export const PG_DUMP_SCRIPT_PATH = "/usr/local/sbin/tapbot-pg-dump";

function timerFiles(): HostFile[] {
  return [
    {
      path: "/etc/systemd/system/tapbot-pg-dump.service",
      mode: "0644",
      content: `# Managed by tapbot infra (Pulumi).
[Unit]
Description=Daily pg_dump of the tapbot database
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
ExecStart=${PG_DUMP_SCRIPT_PATH}
`,
    },
    {
      path: "/etc/systemd/system/tapbot-pg-dump.timer",
      mode: "0644",
      content: `# Managed by tapbot infra (Pulumi).
[Unit]
Description=Daily pg_dump of the tapbot database

[Timer]
OnCalendar=*-*-* 03:30:00
RandomizedDelaySec=15m
Persistent=true

[Install]
WantedBy=timers.target
`,
    },
  ];
}

/** Installs the dump script and a daily systemd timer (Persistent, so a night the host was off is caught up). */
export function renderPgBackupInstallScript(options: PgBackupOptions): string {
  const script: HostFile = { path: PG_DUMP_SCRIPT_PATH, mode: "0755", content: renderPgDumpScript(options) };
  const units = timerFiles()
    .map((file) => installFileLines(file, ["systemctl daemon-reload"]))
    .join("");
  return `${scriptPrelude("daily pg_dump with retention")}
${installFileLines(script)}${units}systemctl enable --now tapbot-pg-dump.timer
`;
}
