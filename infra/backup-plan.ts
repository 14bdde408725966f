import { DATABASE } from "./components/data-services.js";
import type { PlainConfig } from "./config.js";
import { DATA_PRIVATE_PORTS, type HostRole } from "./host-scripts.js";
import {
  BACKUP_ENV_PATH,
  type BackupScriptOptions,
  type BackupStore,
  TEXTFILE_DIR,
} from "./render/backup-script.js";
import { PG_DUMP_SCRIPT_PATH, type PgBackupOptions } from "./render/pg-backup.js";

/** The nightly pg_dump on the data host: the superuser and database of the PostgreSQL container. */
export function pgDumpOptions(config: PlainConfig): PgBackupOptions {
  return {
    dir: "/var/backups/tapbot-postgres",
    retentionDays: config.backupRetentionDays,
    container: "tapbot-postgres",
    database: DATABASE.name,
    user: DATABASE.user,
  };
}

/**
 * Which stores each host backs up, and where to: the data host dumps PostgreSQL every night (kept
 * `backupRetentionDays` days on the host) and, with `tapbot:offsiteBackup`, uploads that dump, Qdrant's
 * collection snapshots and Directus's uploads; the automation host uploads n8n's volume (its database with
 * workflows and credentials, and its config). Without an offsite repository the automation host has nothing
 * to run. Each host has its own restic repository under the prefix (`<prefix>/<role>`), so one host's
 * pruning never waits on the other's lock. Pure.
 */
export function backupScripts(config: PlainConfig): Partial<Record<HostRole, BackupScriptOptions>> {
  const offsite =
    config.offsiteBackup === undefined
      ? null
      : {
          envFile: BACKUP_ENV_PATH,
          retention: {
            daily: config.offsiteBackup.keepDaily,
            weekly: config.offsiteBackup.keepWeekly,
            monthly: config.offsiteBackup.keepMonthly,
          },
        };
  const postgres: BackupStore = {
    name: "postgres",
    source: { kind: "pg-dump", dumpScript: PG_DUMP_SCRIPT_PATH },
  };
  if (offsite === null) {
    return { data: { host: "tapbot-data", stores: [postgres], offsite, textfileDir: TEXTFILE_DIR } };
  }
  return {
    data: {
      host: "tapbot-data",
      stores: [
        postgres,
        {
          name: "qdrant",
          source: {
            kind: "qdrant-snapshots",
            url: `http://${config.dataTunnelAddress}:${DATA_PRIVATE_PORTS.qdrant}`,
            stagingDir: "/var/backups/tapbot-qdrant",
          },
        },
        { name: "directus", source: { kind: "volume", volume: "tapbot-directus-uploads" } },
      ],
      offsite,
      textfileDir: TEXTFILE_DIR,
    },
    automation: {
      host: "tapbot-automation",
      stores: [
        {
          name: "n8n",
          source: {
            kind: "paused-volume",
            volume: "tapbot-n8n",
            container: "tapbot-n8n",
            stagingDir: "/var/backups/tapbot-n8n",
          },
        },
      ],
      offsite,
      textfileDir: TEXTFILE_DIR,
    },
  };
}

/** Every store some host backs up: the stores the backup alerts watch (a missing one is an alert). */
export function backedUpStores(config: PlainConfig): string[] {
  return Object.values(backupScripts(config)).flatMap((script) => script.stores.map((s) => s.name));
}

/** The restic repository of one host: `s3:<endpoint>/<bucket>/<prefix>/<role>`. */
export function resticRepository(offsite: NonNullable<PlainConfig["offsiteBackup"]>, role: HostRole): string {
  return `s3:${offsite.endpoint}/${offsite.bucket}/${offsite.prefix}/${role}`;
}
