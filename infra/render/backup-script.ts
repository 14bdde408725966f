import { type HostFile, installFileLines, scriptPrelude, shellQuote } from "./shell-script.js";

/**
 * One store a host backs up, and how its data is read without stopping the service for long:
 * - `pg-dump`: the local dump script (render/pg-backup.ts) runs first and prints the dump's path; that file
 *   goes offsite as `tapbot.dump` (restic `--stdin`), so every snapshot holds one dump under one name.
 * - `paused-volume`: the container is paused (cgroup freezer) only while the volume is copied to a staging
 *   directory, so the copy is crash-consistent (n8n's SQLite database and its WAL are frozen together); the
 *   upload then runs from the copy with n8n serving again.
 * - `volume`: the volume's directory as it is (Directus uploads: files written once, never rewritten).
 * - `qdrant-snapshots`: one snapshot per collection through Qdrant's API (consistent while Qdrant serves,
 *   unlike a copy of its storage), downloaded to a staging directory and deleted from Qdrant afterwards.
 */
export type BackupSource =
  | { kind: "pg-dump"; dumpScript: string }
  | { kind: "paused-volume"; volume: string; container: string; stagingDir: string }
  | { kind: "volume"; volume: string }
  | { kind: "qdrant-snapshots"; url: string; stagingDir: string };

/** A store: its name (the metrics' `store` label, the snapshots' `store=` tag) and its source. */
export interface BackupStore {
  name: string;
  source: BackupSource;
}

/** How many snapshots of each store `restic forget` keeps (one per day, week, month; the newest each). */
export interface BackupRetention {
  daily: number;
  weekly: number;
  monthly: number;
}

/** Inputs of {@link renderBackupScript}. */
export interface BackupScriptOptions {
  /** restic's `--host` of this host's snapshots, stable across reinstalls (e.g. tapbot-data). */
  host: string;
  stores: BackupStore[];
  /**
   * The offsite repository, or null for local dumps only (then only `pg-dump` stores are allowed: the
   * other stores have no local copy worth the name).
   */
  offsite: { envFile: string; retention: BackupRetention } | null;
  /** node-exporter's textfile collector directory; each store writes `tapbot_backup_<store>.prom` there. */
  textfileDir: string;
}

/** Path of the backup script on each host. */
export const BACKUP_SCRIPT_PATH = "/usr/local/sbin/tapbot-backup";
/** The root-only (0400) file with the repository, its password and the S3 keys (render/backup-env.ts). */
export const BACKUP_ENV_PATH = "/etc/tapbot/backup.env";
/** node-exporter's textfile directory on the hosts (the monitoring component mounts / at /host). */
export const TEXTFILE_DIR = "/var/lib/node_exporter/textfile_collector";

const WORD = /^[a-z0-9][a-z0-9_-]*$/;
const PATH = /^\/[A-Za-z0-9._/-]+$/;

function checkPath(what: string, value: string): string {
  if (!PATH.test(value))
    throw new Error(`backup ${what} must be an absolute path of [A-Za-z0-9._/-]; got ${value}`);
  return shellQuote(value);
}

function checkWord(what: string, value: string): string {
  if (!WORD.test(value)) throw new Error(`backup ${what} must match ${WORD}; got ${value}`);
  return value;
}

function checkRetention(retention: BackupRetention): void {
  for (const [key, value] of Object.entries(retention)) {
    if (!Number.isInteger(value) || value < 0 || value > 1000) {
      throw new Error(`backup retention ${key} must be an integer from 0 to 1000; got ${value}`);
    }
  }
  if (retention.daily + retention.weekly + retention.monthly === 0) {
    throw new Error("backup retention keeps nothing: set at least one of daily, weekly, monthly above 0");
  }
}

/** The body of one store's function: bash run under `set -e` in its own subshell. */
function storeBody(store: BackupStore, offsite: boolean): string {
  const name = store.name;
  const upload = (what: string) => `restic backup --host "$host" --tag store=${name} ${what}`;
  const s = store.source;
  switch (s.kind) {
    case "pg-dump":
      return `dump="$(${checkPath("dumpScript", s.dumpScript)} | tail -n 1)"
  [ -f "$dump" ] || { echo "${name}: the dump script named no dump file (got '$dump')" >&2; exit 1; }
  echo "${name}: local dump $dump ($(stat -c %s "$dump") bytes)"${offsite ? `\n  need_repository\n  ${upload('--stdin --stdin-filename tapbot.dump <"$dump"')}` : ""}`;
    case "paused-volume": {
      const staging = checkPath("stagingDir", s.stagingDir);
      const container = checkWord("container", s.container);
      return `need_repository
  src="$(docker volume inspect --format '{{ .Mountpoint }}' ${checkWord("volume", s.volume)})"
  staging=${staging}
  rm -rf "$staging.partial"
  mkdir -p "$staging.partial"
  docker pause ${container} >/dev/null
  trap 'docker unpause ${container} >/dev/null 2>&1 || true' EXIT
  cp -a "$src/." "$staging.partial/"
  docker unpause ${container} >/dev/null
  trap - EXIT
  rm -rf "$staging"
  mv "$staging.partial" "$staging"
  ${upload('"$staging"')}`;
    }
    case "volume":
      return `need_repository
  src="$(docker volume inspect --format '{{ .Mountpoint }}' ${checkWord("volume", s.volume)})"
  ${upload('"$src"')}`;
    case "qdrant-snapshots": {
      if (!/^http:\/\/[0-9.]+:[0-9]+$/.test(s.url)) {
        throw new Error(`backup qdrant url must be http://<address>:<port>; got ${s.url}`);
      }
      return `need_repository
  api=${shellQuote(s.url)}
  staging=${checkPath("stagingDir", s.stagingDir)}
  rm -rf "$staging"
  mkdir -p "$staging"
  # The API key goes to curl in a root-only file, never on its command line.
  header="$(mktemp)"
  trap 'rm -f "$header"' EXIT
  printf 'api-key: %s\\n' "$QDRANT_API_KEY" >"$header"
  listing="$(curl -fsS --max-time 60 -H @"$header" "$api/collections")"
  # No collection yet is fine: an empty snapshot of the store, not a failed night.
  names="$(printf '%s' "$listing" | { grep -o '"name":"[^"]*"' || true; } | cut -d'"' -f4)"
  for collection in $names; do
    [[ "$collection" =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "${name}: collection name '$collection' is not a plain word" >&2; exit 1; }
    snapshot="$(curl -fsS --max-time 1800 -X POST -H @"$header" "$api/collections/$collection/snapshots?wait=true" | grep -o '"name":"[^"]*"' | head -n 1 | cut -d'"' -f4)"
    curl -fsS --max-time 3600 -H @"$header" -o "$staging/$collection.snapshot" "$api/collections/$collection/snapshots/$snapshot"
    curl -fsS --max-time 60 -X DELETE -H @"$header" "$api/collections/$collection/snapshots/$snapshot" >/dev/null
  done
  ${upload('"$staging"')}`;
    }
  }
}

/**
 * The backup script of one host. Every store runs on its own (a failed store does not stop the others),
 * writes `tapbot_backup_last_run_success{store}` (1 or 0) and, on success only,
 * `tapbot_backup_last_success_timestamp_seconds{store}` (on failure `…_last_failure_timestamp_seconds`),
 * each file replaced atomically and the other timestamp carried over, so the BackupStale and BackupFailed
 * alerts see a failed night at once. Uploads go to an encrypted restic repository (the password never
 * leaves the host); afterwards `restic forget --prune` keeps the retention's daily/weekly/monthly snapshots
 * of each store. The script exits non-zero when any store or the pruning failed.
 */
export function renderBackupScript(options: BackupScriptOptions): string {
  const host = checkWord("host", options.host);
  const offsite = options.offsite;
  if (offsite !== null) checkRetention(offsite.retention);
  const names = new Set<string>();
  for (const store of options.stores) {
    checkWord("store name", store.name);
    if (names.has(store.name)) throw new Error(`backup store ${store.name} is listed twice`);
    names.add(store.name);
    if (offsite === null && store.source.kind !== "pg-dump") {
      throw new Error(
        `backup store ${store.name} (${store.source.kind}) needs an offsite repository (tapbot:offsiteBackup); only pg-dump stores run without one`,
      );
    }
  }
  if (options.stores.length === 0) throw new Error("backup script without stores");
  const functions = options.stores
    .map(
      (store) =>
        `backup_${store.name.replaceAll("-", "_")}() {\n  ${storeBody(store, offsite !== null)}\n}\n`,
    )
    .join("\n");
  const offsiteLines =
    offsite === null
      ? ""
      : `need_repository() {
  [ "$repository_ready" = 1 ] || { echo "the offsite repository is not reachable or not configured" >&2; return 1; }
}

env_file=${checkPath("envFile", offsite.envFile)}
# The repository, its password and the S3 keys: a root-only file, so none is on a command line.
repository_ready=0
if [ -r "$env_file" ]; then
  set -a
  # shellcheck source=/dev/null
  . "$env_file"
  set +a
  # The first run makes the repository; a wrong password or key fails here, and every store with it.
  if restic cat config >/dev/null 2>&1 || restic init; then repository_ready=1; fi
else
  echo "no $env_file: offsite backups are not configured on this host" >&2
fi
`;
  // Each store in its own subshell with set -e: its first failing command ends that store only.
  const runs = options.stores
    .map((store) => `(set -e; backup_${store.name.replaceAll("-", "_")})\nrecord ${store.name} $?`)
    .join("\n");
  const forget =
    offsite === null
      ? ""
      : `
# Retention: per store (its tag), this host's snapshots only; --prune frees what no snapshot keeps.
if [ "$repository_ready" = 1 ]; then
  if ! restic forget --host "$host" --group-by host,tags --keep-daily ${offsite.retention.daily} --keep-weekly ${offsite.retention.weekly} --keep-monthly ${offsite.retention.monthly} --prune; then
    echo "restic forget --prune failed: the copies are uploaded, but old ones are not pruned" >&2
${options.stores.map((s) => `    record ${s.name} 1`).join("\n")}
  fi
fi
`;
  return `#!/usr/bin/env bash
# Backups of ${host}: ${options.stores.map((s) => s.name).join(", ")}${offsite === null ? " (local dumps only: no tapbot:offsiteBackup)" : ", to the offsite restic repository"}.
# Managed by tapbot infra (Pulumi). Each store runs on its own; the exit status is non-zero when any failed.
set -uo pipefail
umask 077
${offsite === null ? "" : `host=${shellQuote(host)}\n`}textfile_dir=${checkPath("textfileDir", options.textfileDir)}
failed=0

# record STORE STATUS: the store's metrics for node-exporter, written to a temp file and renamed. Status 0
# moves last_success; anything else moves last_failure and keeps last_success where it was (a failed
# pruning after good uploads is recorded as a failed run, the uploads' success kept).
record() {
  local store="$1" status="$2" now file tmp success="" failure="" ok=0
  now="$(date -u +%s)"
  file="$textfile_dir/tapbot_backup_$store.prom"
  if [ -f "$file" ]; then
    success="$(sed -n "s/^tapbot_backup_last_success_timestamp_seconds{store=\\"$store\\"} //p" "$file")"
    failure="$(sed -n "s/^tapbot_backup_last_failure_timestamp_seconds{store=\\"$store\\"} //p" "$file")"
  fi
  if [ "$status" = 0 ]; then
    ok=1
    success="$now"
    echo "$store: backup done"
  else
    failure="$now"
    failed=1
    echo "$store: backup FAILED" >&2
  fi
  (umask 022 && mkdir -p "$textfile_dir")
  tmp="$(mktemp "$textfile_dir/.tapbot_backup_$store.XXXXXX")"
  {
    echo "# HELP tapbot_backup_last_run_success 1 when the store's last backup run succeeded, 0 when it failed."
    echo "# TYPE tapbot_backup_last_run_success gauge"
    echo "tapbot_backup_last_run_success{store=\\"$store\\"} $ok"
    if [ -n "$success" ]; then
      echo "# HELP tapbot_backup_last_success_timestamp_seconds When the store's last good backup finished (Unix time)."
      echo "# TYPE tapbot_backup_last_success_timestamp_seconds gauge"
      echo "tapbot_backup_last_success_timestamp_seconds{store=\\"$store\\"} $success"
    fi
    if [ -n "$failure" ]; then
      echo "# HELP tapbot_backup_last_failure_timestamp_seconds When the store's last backup run failed (Unix time)."
      echo "# TYPE tapbot_backup_last_failure_timestamp_seconds gauge"
      echo "tapbot_backup_last_failure_timestamp_seconds{store=\\"$store\\"} $failure"
    fi
  } >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$file"
}

${functions}
${offsiteLines}
${runs}
${forget}
exit "$failed"
`;
}

/** Inputs of {@link renderBackupInstallScript}. */
export interface BackupInstallOptions {
  /** The host's backup script ({@link renderBackupScript}). */
  script: string;
  /** Other files the backup needs (the data host's pg_dump script). */
  files: HostFile[];
}

/** The systemd unit and its daily timer (Persistent, so a night the host was off is caught up at boot). */
function unitFiles(): HostFile[] {
  return [
    {
      path: "/etc/systemd/system/tapbot-backup.service",
      mode: "0644",
      content: `# Managed by tapbot infra (Pulumi).
[Unit]
Description=tapbot backups (local dump and offsite copies)
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=${BACKUP_SCRIPT_PATH}
Nice=10
IOSchedulingClass=idle
`,
    },
    {
      path: "/etc/systemd/system/tapbot-backup.timer",
      mode: "0644",
      content: `# Managed by tapbot infra (Pulumi).
[Unit]
Description=Daily tapbot backups

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

/**
 * Installs restic (Ubuntu's package; only when missing), the backup script, its other files and the daily
 * timer. The earlier `tapbot-pg-dump.timer`, whose work is now the postgres store of this one, is removed.
 */
export function renderBackupInstallScript(options: BackupInstallOptions): string {
  const files = [...options.files, { path: BACKUP_SCRIPT_PATH, mode: "0755", content: options.script }]
    .map((file) => installFileLines(file))
    .join("");
  const units = unitFiles()
    .map((file) => installFileLines(file, ["systemctl daemon-reload"]))
    .join("");
  return `${scriptPrelude("daily backups: local pg_dump, encrypted offsite copies with restic")}
if ! command -v restic >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq restic
fi
${files}${units}if [ -f /etc/systemd/system/tapbot-pg-dump.timer ]; then
  systemctl disable --now tapbot-pg-dump.timer
  rm -f /etc/systemd/system/tapbot-pg-dump.timer /etc/systemd/system/tapbot-pg-dump.service
  systemctl daemon-reload
fi
systemctl enable --now tapbot-backup.timer
`;
}
