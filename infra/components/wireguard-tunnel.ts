import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterHost } from "../cluster-hosts.js";
import type { PlainConfig } from "../config.js";
import { type HostRole, meshTunnelScript } from "../host-scripts.js";
import type { HardenedHost } from "./hardened-host.js";
import { remoteScript, type SshConnection, scriptHash } from "./remote-script.js";

/** One end of the tunnel: the host, its hardening (which printed its public key) and how to reach it. */
export interface TunnelEnd {
  host: ClusterHost;
  hardened: HardenedHost;
  connection: SshConnection;
}

/**
 * The WireGuard tunnel between the hosts: each end's wg0.conf names every other host's public key (printed by
 * its key script), public address and tunnel address: between two hosts one peer, beyond two a full mesh, so
 * no host relays another's traffic and losing one host cuts off only that host. PostgreSQL, Qdrant and
 * Directus are published only on the data host's tunnel address, and the Swarm listens only on tunnel
 * addresses, so the app reaches them encrypted and the internet cannot reach them at all.
 */
export class WireguardTunnel extends pulumi.ComponentResource {
  /** The tunnel command on each base host; services that bind tunnel addresses depend on these. */
  readonly ends: Record<HostRole, command.remote.Command>;
  /** The tunnel command on every host, by host name. */
  readonly byHost: Map<string, command.remote.Command>;

  constructor(
    name: string,
    args: { config: PlainConfig; ends: TunnelEnd[] },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("tapbot:infra:WireguardTunnel", name, {}, opts);
    this.byHost = new Map();
    for (const self of args.ends) {
      const peers = args.ends.filter((end) => end !== self);
      const script = pulumi.all(peers.map((peer) => peer.hardened.wireguardPublicKey)).apply(
        (keys) =>
          meshTunnelScript(
            args.config,
            self.host,
            peers.map((peer, i) => ({ host: peer.host, publicKey: keys[i] ?? "" })),
          ).script,
      );
      this.byHost.set(
        self.host.name,
        remoteScript(`${name}-${self.host.name}`, self.connection, script, script.apply(scriptHash), {
          parent: this,
          dependsOn: [self.hardened.ready, ...peers.map((peer) => peer.hardened.ready)],
        }),
      );
    }
    const end = (role: HostRole) => {
      const found = this.byHost.get(role);
      if (found === undefined) throw new Error(`the tunnel has no ${role} host`);
      return found;
    };
    this.ends = { automation: end("automation"), data: end("data") };
    this.registerOutputs({});
  }
}
