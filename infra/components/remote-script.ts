import { createHash } from "node:crypto";
import * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";

/** How the program reaches a host: the SSH user, address, port and the private key (a secret). */
export interface SshConnection {
  host: string;
  user: string;
  port: number;
  privateKey: pulumi.Output<string>;
}

/** sha256 of a script: its `triggers` entry, so a changed script runs again and an unchanged one does not. */
export function scriptHash(script: string): string {
  return createHash("sha256").update(script).digest("hex");
}

/**
 * Runs a rendered script on a host over SSH. The script goes to `bash -s` on stdin, so the command text
 * Pulumi shows is only `bash -s` (or `sudo -n bash -s`), and no script embeds a secret: the only secret on
 * this path is the SSH key, which lives in the connection and is marked secret.
 */
export function remoteScript(
  name: string,
  connection: SshConnection,
  script: pulumi.Input<string>,
  hash: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): command.remote.Command {
  return new command.remote.Command(
    name,
    {
      connection: {
        host: connection.host,
        user: connection.user,
        port: connection.port,
        privateKey: connection.privateKey,
      },
      create: connection.user === "root" ? "bash -s" : "sudo -n bash -s",
      stdin: script,
      triggers: [hash],
    },
    opts,
  );
}
