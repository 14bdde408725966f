import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { HostScript } from "../host-scripts.js";
import { remoteScript, type SshConnection, scriptHash } from "./remote-script.js";

/** Inputs of {@link HardenedHost}. */
export interface HardenedHostArgs {
  /** The plan's host name (automation, data, or an extra host's). */
  role: string;
  connection: SshConnection;
  /** The hardening scripts in order (see hardeningScripts); the last prints the WireGuard public key. */
  scripts: HostScript[];
}

/**
 * One existing Ubuntu 24.04 server, hardened over SSH: packages, sshd (checked by `sshd -t` before any
 * reload), UFW (enabled only after SSH is allowed), fail2ban, swap and sysctls, the WireGuard key. The
 * scripts run strictly one after another; each re-runs only when its rendered content changes.
 * Invariant: nothing listens to the internet but SSH (rate-limited) and, on the proxy host, 80/443.
 */
export class HardenedHost extends pulumi.ComponentResource {
  /** This host's WireGuard public key (what the peer's tunnel config needs). */
  readonly wireguardPublicKey: pulumi.Output<string>;
  /** Depend on this to run after the whole hardening. */
  readonly ready: command.remote.Command;

  constructor(name: string, args: HardenedHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tapbot:infra:HardenedHost", name, {}, opts);
    const steps: command.remote.Command[] = [];
    for (const step of args.scripts) {
      const previous = steps.at(-1);
      steps.push(
        remoteScript(`${name}-${step.name}`, args.connection, step.script, scriptHash(step.script), {
          parent: this,
          dependsOn: previous === undefined ? [] : [previous],
        }),
      );
    }
    const last = steps.at(-1);
    if (last === undefined || args.scripts.at(-1)?.name !== "wireguard-key") {
      throw new Error(`${name}: the last hardening script must be wireguard-key`);
    }
    this.ready = last;
    this.wireguardPublicKey = last.stdout.apply((out) => out.trim());
    this.registerOutputs({ wireguardPublicKey: this.wireguardPublicKey });
  }
}
