import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { PlainConfig } from "../config.js";
import { type HostRole, tunnelScript } from "../host-scripts.js";
import type { HardenedHost } from "./hardened-host.js";
import { remoteScript, type SshConnection, scriptHash } from "./remote-script.js";

/** One end of the tunnel: the hardened host and how to reach it. */
export interface TunnelEnd {
  host: HardenedHost;
  connection: SshConnection;
}

/**
 * The WireGuard tunnel between the two hosts: each end's wg0.conf names the other's public key (printed by
 * its key script), its public address and its tunnel address. PostgreSQL, Qdrant and Directus are
 * published only on the data host's tunnel address, so the app reaches them encrypted and the internet
 * cannot reach them at all.
 */
export class WireguardTunnel extends pulumi.ComponentResource {
  /** The tunnel command on each host; services that bind tunnel addresses depend on these. */
  readonly ends: Record<HostRole, command.remote.Command>;

  constructor(
    name: string,
    args: { config: PlainConfig; automation: TunnelEnd; data: TunnelEnd },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("tapbot:infra:WireguardTunnel", name, {}, opts);
    const end = (role: HostRole, self: TunnelEnd, peer: TunnelEnd) => {
      const script = peer.host.wireguardPublicKey.apply((key) => tunnelScript(args.config, role, key).script);
      return remoteScript(`${name}-${role}`, self.connection, script, script.apply(scriptHash), {
        parent: this,
        dependsOn: [self.host.ready, peer.host.ready],
      });
    };
    this.ends = {
      automation: end("automation", args.automation, args.data),
      data: end("data", args.data, args.automation),
    };
    this.registerOutputs({});
  }
}
