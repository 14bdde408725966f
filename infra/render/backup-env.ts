import { BACKUP_ENV_PATH } from "./backup-script.js";
import { installFileLines, scriptPrelude, shellQuote } from "./shell-script.js";

/** What the backup script reads from {@link BACKUP_ENV_PATH}. */
export interface BackupEnv {
  /** restic's repository, `s3:https://<endpoint>/<bucket>/<prefix>/<host role>`. */
  repository: string;
  /** The repository's encryption password: without it the copies cannot be read, by anyone. */
  password: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The S3 region when the provider needs one signed (AWS_DEFAULT_REGION). */
  region?: string;
  /** The data host's Qdrant API key, for its snapshot API. */
  qdrantApiKey?: string;
}

/**
 * The environment file, one `NAME='value'` line each (sourced by bash with `set -a`). A value with a line
 * break is refused: it would end the assignment and start a command.
 */
export function renderBackupEnv(env: BackupEnv): string {
  const lines: [string, string | undefined][] = [
    ["RESTIC_REPOSITORY", env.repository],
    ["RESTIC_PASSWORD", env.password],
    ["AWS_ACCESS_KEY_ID", env.accessKeyId],
    ["AWS_SECRET_ACCESS_KEY", env.secretAccessKey],
    ["AWS_DEFAULT_REGION", env.region],
    ["QDRANT_API_KEY", env.qdrantApiKey],
  ];
  return `# Managed by tapbot infra (Pulumi). Secrets: root only (0400).\n${lines
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => {
      if (/[\r\n]/.test(value)) throw new Error(`backup env ${name} must be one line`);
      return `${name}=${shellQuote(value)}\n`;
    })
    .join("")}`;
}

/** Installs the environment file as root-only 0400 (its directory 0700); the script prints nothing of it. */
export function renderBackupEnvInstallScript(env: BackupEnv): string {
  return `${scriptPrelude("the offsite backup's repository, password and keys (root only)")}
mkdir -p /etc/tapbot
chmod 0700 /etc/tapbot
${installFileLines({ path: BACKUP_ENV_PATH, mode: "0400", content: renderBackupEnv(env) })}`;
}
