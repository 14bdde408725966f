import { type HostFile, installFileLines, scriptPrelude } from "./shell-script.js";

/** WireGuard interface name on both hosts. */
export const WG_INTERFACE = "wg0";
/** The host's private key; generated on the host, never leaves it, never passes through Pulumi. */
const KEY_PATH = `/etc/wireguard/${WG_INTERFACE}.key`;

/** One other host of the tunnel. */
export interface WireguardPeer {
  /** The peer's public key (base64, 32 bytes), printed by its key script. */
  publicKey: string;
  /** The peer's public address and port. */
  endpoint: string;
  /** The peer's tunnel address, e.g. 10.77.0.2/32. */
  allowedIp: string;
}

/** One end of the tunnel: with two hosts one peer, with more every other host (a full mesh). */
export interface WireguardOptions {
  /** This host's tunnel address with prefix, e.g. 10.77.0.1/24. */
  address: string;
  listenPort: number;
  peers: WireguardPeer[];
}

const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * Creates the private key once (mode 0600) and prints the public key, which is all the other host needs.
 * Its output is the public key alone, so it can feed the peer's configuration.
 */
export function renderWireguardKeyScript(): string {
  return `${scriptPrelude("WireGuard key pair, created once on the host")}
if [ ! -s ${KEY_PATH} ]; then
  mkdir -p /etc/wireguard
  (umask 077 && wg genkey >${KEY_PATH}.new && mv ${KEY_PATH}.new ${KEY_PATH})
fi
wg pubkey <${KEY_PATH}
`;
}

/**
 * wg0.conf without the private key: wg-quick loads it from the key file in PostUp, so the rendered file
 * carries no secret at all.
 */
export function renderWireguardConfig(options: WireguardOptions): HostFile {
  if (!/^[0-9.]+\/[0-9]{1,2}$/.test(options.address)) {
    throw new Error(`wireguard address must be IPv4/prefix; got ${options.address}`);
  }
  if (options.peers.length === 0) throw new Error("wireguard needs at least one peer");
  for (const peer of options.peers) {
    if (!WG_KEY.test(peer.publicKey.trim())) {
      throw new Error("wireguard peer public key must be 32 bytes in base64 (as printed by wg pubkey)");
    }
    if (!/^[0-9.]+\/32$/.test(peer.allowedIp)) {
      throw new Error(`wireguard peer allowedIp must be one IPv4 address /32; got ${peer.allowedIp}`);
    }
  }
  return {
    path: `/etc/wireguard/${WG_INTERFACE}.conf`,
    mode: "0600",
    content: `# Managed by tapbot infra (Pulumi). The private key stays in ${KEY_PATH} on this host.
[Interface]
Address = ${options.address}
ListenPort = ${options.listenPort}
PostUp = wg set %i private-key ${KEY_PATH}
${options.peers
  .map(
    (peer) => `
[Peer]
PublicKey = ${peer.publicKey.trim()}
Endpoint = ${peer.endpoint}
AllowedIPs = ${peer.allowedIp}
PersistentKeepalive = 25
`,
  )
  .join("")}`,
  };
}

/**
 * dockerd must start after wg0 exists: ports published on the tunnel address cannot be bound before it.
 */
const DOCKER_AFTER_WG: HostFile = {
  path: "/etc/systemd/system/docker.service.d/10-tapbot-after-wireguard.conf",
  mode: "0644",
  content: `# Managed by tapbot infra (Pulumi): ports published on the tunnel address need wg0 first.
[Unit]
Wants=wg-quick@${WG_INTERFACE}.service
After=wg-quick@${WG_INTERFACE}.service
`,
};

/** Installs wg0.conf, brings the tunnel up at boot and now, and orders dockerd after it. */
export function renderWireguardScript(options: WireguardOptions): string {
  const unit = `wg-quick@${WG_INTERFACE}.service`;
  return `${scriptPrelude(options.peers.length === 1 ? "WireGuard tunnel between the two hosts" : `WireGuard mesh with the ${options.peers.length} other hosts`)}
${installFileLines(DOCKER_AFTER_WG, ["systemctl daemon-reload"])}${installFileLines(renderWireguardConfig(options), [`systemctl restart ${unit}`])}systemctl enable --now ${unit}
`;
}
