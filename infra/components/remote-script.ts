import { createHash } from "node:crypto";
import * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";

/** How the program reaches a host: the SSH user, address, port, the private key (a secret) and the host key. */
export interface SshConnection {
  host: string;
  user: string;
  port: number;
  privateKey: pulumi.Output<string>;
  /** The host's pinned public key (`ssh-ed25519 AAAA…`); a host answering with another key is refused. */
  hostKey: string;
}

/** Options of {@link remoteScript}. */
export interface RemoteScriptOptions extends pulumi.CustomResourceOptions {
  /**
   * The script handles secrets (writes them to the host): its stdout and stderr are kept out of Pulumi's
   * log and stored as secrets. Such scripts print no secret either way; this guards against a mistake.
   */
  secretOutput?: boolean;
}

/** sha256 of a script: its `triggers` entry, so a changed script runs again and an unchanged one does not. */
export function scriptHash(script: string): string {
  return createHash("sha256").update(script).digest("hex");
}

/**
 * Runs a rendered script on a host over SSH. The script goes to `bash -s` on stdin, so the command text
 * Pulumi shows is only `bash -s` (or `sudo -n bash -s`). The connection verifies the host's pinned key
 * before anything is sent, so an impostor on the path gets neither the script nor the chance to answer.
 */
export function remoteScript(
  name: string,
  connection: SshConnection,
  script: pulumi.Input<string>,
  hash: pulumi.Input<string>,
  options: RemoteScriptOptions,
): command.remote.Command {
  const { secretOutput = false, ...opts } = options;
  return new command.remote.Command(
    name,
    {
      connection: {
        host: connection.host,
        user: connection.user,
        port: connection.port,
        privateKey: connection.privateKey,
        hostKey: connection.hostKey,
      },
      create: connection.user === "root" ? "bash -s" : "sudo -n bash -s",
      stdin: script,
      triggers: [hash],
      logging: secretOutput ? "none" : "stdoutAndStderr",
    },
    secretOutput ? { ...opts, additionalSecretOutputs: ["stdout", "stderr"] } : opts,
  );
}
