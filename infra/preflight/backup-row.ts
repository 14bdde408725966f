import { resticRepository } from "../backup-plan.js";
import { CONFIG_NAMESPACE, OFFSITE_SECRET_KEYS, type PlainConfig } from "../config.js";
import { type PreflightRow, row } from "./row.js";

/**
 * The backup row: where the nightly copies will go. Without `tapbot:offsiteBackup` the deploy works, but the
 * only copy of the database is on the database's own disk and n8n, Qdrant and Directus uploads have none, so
 * the owner reads that here before the first `pulumi up`; with it, a missing secret blocks, as `pulumi up`
 * would stop on it. The bucket itself is not contacted.
 */
export function backupRow(config: PlainConfig, secretKeys: readonly string[]): PreflightRow {
  const offsite = config.offsiteBackup;
  if (offsite === undefined) {
    return row(
      "backups",
      "offsite",
      "warn",
      "no tapbot:offsiteBackup: only the nightly pg_dump on the data host's own disk; n8n, Qdrant and Directus uploads have no backup",
      `set ${CONFIG_NAMESPACE}:offsiteBackup and its two secrets (infra/README.md, "Backups and restore")`,
    );
  }
  const missing = Object.keys(OFFSITE_SECRET_KEYS).filter((key) => !secretKeys.includes(key));
  if (missing.length > 0) {
    return row(
      "backups",
      "offsite",
      "block",
      `${CONFIG_NAMESPACE}:offsiteBackup is set, but not ${missing.map((k) => `${CONFIG_NAMESPACE}:${k}`).join(" and ")}; pulumi up stops on it`,
      missing.map((k) => `pulumi config set --secret ${k}`).join("; "),
    );
  }
  return row(
    "backups",
    "offsite",
    "ok",
    `restic to ${resticRepository(offsite, "data")} and …/automation; per store keeps ${offsite.keepDaily} daily, ${offsite.keepWeekly} weekly, ${offsite.keepMonthly} monthly`,
  );
}
