import * as pulumi from "@pulumi/pulumi";
import { backupScripts, pgDumpOptions, resticRepository } from "../backup-plan.js";
import type { InfraConfig } from "../config.js";
import type { HostRole } from "../host-scripts.js";
import { renderBackupEnvInstallScript } from "../render/backup-env.js";
import { renderBackupInstallScript, renderBackupScript } from "../render/backup-script.js";
import { pgDumpHostFile } from "../render/pg-backup.js";
import { remoteScript, type SshConnection, scriptHash } from "./remote-script.js";

/** Inputs of {@link Backups}. */
export interface BackupsArgs {
  config: InfraConfig;
  connections: Record<HostRole, SshConnection>;
  /** Per host: what must run before the first backup can (the containers it reads). */
  dependsOn: Record<HostRole, pulumi.Input<pulumi.Resource>[]>;
}

/**
 * The nightly backups of both hosts (backup-plan.ts): the backup script, restic and the timer; with
 * `tapbot:offsiteBackup`, the root-only environment file with the repository, its password and the S3 keys.
 * Invariant: no secret reaches a command line, a Pulumi output or a log: the file goes over SSH on stdin,
 * and its script's output is kept out of Pulumi's log and stored as a secret.
 */
export class Backups extends pulumi.ComponentResource {
  /** Each host's backup install (the automation host has one only with an offsite repository). */
  readonly installs: Partial<Record<HostRole, pulumi.Resource>>;

  constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tapbot:infra:Backups", name, {}, opts);
    const { config } = args;
    const offsite = config.offsiteBackup;
    const secrets = config.offsiteSecrets;
    this.installs = {};
    for (const [role, options] of Object.entries(backupScripts(config)) as [
      HostRole,
      ReturnType<typeof backupScripts>[HostRole],
    ][]) {
      if (options === undefined) continue;
      const dependsOn = [...args.dependsOn[role]];
      if (offsite !== undefined && secrets !== null) {
        const envScript = pulumi.secret(
          pulumi
            .all([
              secrets.offsiteBackupPassword,
              secrets.offsiteBackupSecretAccessKey,
              config.secrets.qdrantApiKey,
            ])
            .apply(([password, secretAccessKey, qdrantApiKey]) =>
              renderBackupEnvInstallScript({
                repository: resticRepository(offsite, role),
                password,
                accessKeyId: offsite.accessKeyId,
                secretAccessKey,
                ...(offsite.region === undefined ? {} : { region: offsite.region }),
                ...(role === "data" ? { qdrantApiKey } : {}),
              }),
            ),
        );
        dependsOn.push(
          remoteScript(
            `${name}-${role}-env`,
            args.connections[role],
            envScript,
            envScript.apply(scriptHash),
            {
              parent: this,
              dependsOn: args.dependsOn[role],
              secretOutput: true,
            },
          ),
        );
      }
      const install = renderBackupInstallScript({
        script: renderBackupScript(options),
        files: role === "data" ? [pgDumpHostFile(pgDumpOptions(config))] : [],
      });
      this.installs[role] = remoteScript(
        `${name}-${role}`,
        args.connections[role],
        install,
        scriptHash(install),
        {
          parent: this,
          dependsOn,
        },
      );
    }
    this.registerOutputs({});
  }
}
