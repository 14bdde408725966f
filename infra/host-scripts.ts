import type { ClusterHost } from "./cluster-hosts.js";
import type { PlainConfig } from "./config.js";
import { MONITORING_PORTS, tunnelAddress } from "./monitoring-targets.js";
import { type PublicPort, renderDockerUserScript } from "./render/docker-user-rules.js";
import { renderFail2banScript } from "./render/fail2ban-jail.js";
import { renderPackagesScript } from "./render/packages-script.js";
import { renderSshdScript } from "./render/sshd-drop-in.js";
import { renderSwapSysctlScript } from "./render/swap-sysctl-script.js";
import { SWARM_PORTS } from "./render/swarm-scripts.js";
import { renderUfwScript, type UfwAllowFrom } from "./render/ufw-script.js";
import { renderWireguardKeyScript, renderWireguardScript, WG_INTERFACE } from "./render/wireguard.js";

/** The two hosts of the architecture. */
export type HostRole = "automation" | "data";

/** One script of a host, run in order over SSH. */
export interface HostScript {
  /** Short kebab-case name; also the suffix of the Pulumi resource that runs it. */
  name: string;
  script: string;
}

/** Ports of the data host's private services, reachable only through the tunnel from the automation host. */
export const DATA_PRIVATE_PORTS = { postgres: 5432, qdrant: 6333, directus: 8055 } as const;

/**
 * What the reverse proxy (Caddy, on the automation host) publishes to everyone: HTTP for ACME and the
 * redirect, HTTPS, and HTTP/3 over UDP. Nothing else on either host is published on a public address.
 */
export const PROXY_PUBLIC_PORTS: readonly PublicPort[] = [
  { port: 80, proto: "tcp" },
  { port: 443, proto: "tcp" },
  { port: 443, proto: "udp" },
];

/**
 * A host's place in a Swarm deployment (more than two hosts): itself and every other host, whose public
 * addresses may reach its WireGuard port and whose tunnel addresses may reach its Swarm ports.
 */
export interface SwarmMembership {
  self: ClusterHost;
  /** Every other host of the deployment (the WireGuard mesh). */
  peers: ClusterHost[];
  /** Whether this host is a Swarm node (the manager, or a host the plan gives Swarm tasks). */
  node: boolean;
  /** Every Swarm node: the only sources of the Swarm's ports. */
  nodes: ClusterHost[];
  /** The tunnel addresses the app's Swarm tasks connect from (to PostgreSQL, Qdrant, Directus on the data host). */
  appSources: ClusterHost[];
}

/** What differs between the hosts. */
export interface HostFacts {
  /** The base host this is; undefined for an extra host (`tapbot:extraHosts`), which runs Swarm tasks only. */
  role: HostRole | undefined;
  /** The plan's swap for this host (HostPlan.swapMB). */
  swapMB: number;
  /** True where the plan places Redis: overcommit and THP off. */
  runsRedis: boolean;
  /** Set with more than two hosts: the mesh, and the Swarm's ports on the tunnel. */
  swarm?: SwarmMembership;
}

/** The public address of a host (the one SSH, WireGuard and the Docker provider connect to). */
export function publicAddress(config: PlainConfig, role: HostRole): string {
  return role === "automation" ? config.automationHost : config.dataHost;
}

/** The pinned SSH host key of a host (`tapbot:automationHostKey` / `tapbot:dataHostKey`). */
export function hostKey(config: PlainConfig, role: HostRole): string {
  return role === "automation" ? config.automationHostKey : config.dataHostKey;
}

function peerRole(role: HostRole): HostRole {
  return role === "automation" ? "data" : "automation";
}

/** The other hosts of the tunnel: the other base host, or with a Swarm every other host. */
function peersOf(config: PlainConfig, facts: HostFacts): { name: string; address: string }[] {
  if (facts.swarm !== undefined) return facts.swarm.peers;
  if (facts.role === undefined) throw new Error("an extra host exists only with a Swarm");
  const peer = peerRole(facts.role);
  return [{ name: peer, address: publicAddress(config, peer) }];
}

/**
 * UFW of one host: SSH rate-limited everywhere; 80/443 only on the automation host (it runs Caddy);
 * WireGuard's UDP port only from the peers' public addresses; on the data host, PostgreSQL, Qdrant and
 * Directus only from the automation host's tunnel address (and the Swarm hosts' that run app tasks) and only on
 * wg0; with a Swarm, its ports only from the other nodes' tunnel addresses, only on wg0.
 */
function ufwOptions(config: PlainConfig, facts: HostFacts) {
  const role = facts.role;
  const allowFrom: UfwAllowFrom[] = peersOf(config, facts).map((peer) => ({
    from: peer.address,
    port: config.wireguardPort,
    proto: "udp",
    comment: `wireguard from ${peer.name}`,
  }));
  // Host agents (node-exporter, cAdvisor) and Grafana run in the host's network, where UFW does filter:
  // Prometheus on the data host scrapes the automation host's agents over the tunnel, and Caddy on the
  // automation host reaches Grafana over it.
  // An extra host's agents, where the plan runs them, are scraped by Prometheus on the data host.
  const monitored =
    role === "data"
      ? { grafana: MONITORING_PORTS.grafana }
      : { "node-exporter": MONITORING_PORTS.nodeExporter, cadvisor: MONITORING_PORTS.cadvisor };
  for (const [service, port] of Object.entries(monitored)) {
    const peer = role === undefined ? "data" : peerRole(role);
    allowFrom.push({
      from: tunnelAddress(config, peer),
      port,
      proto: "tcp",
      comment: `${service} from ${peer} over the tunnel`,
      interface: WG_INTERFACE,
    });
  }
  if (role === "data") {
    const sources = facts.swarm?.appSources ?? [
      { name: "automation", tunnelAddress: config.automationTunnelAddress },
    ];
    for (const source of sources) {
      for (const [service, port] of Object.entries(DATA_PRIVATE_PORTS)) {
        allowFrom.push({
          from: source.tunnelAddress,
          port,
          proto: "tcp",
          comment: `${service} from ${source.name} over the tunnel`,
          interface: WG_INTERFACE,
        });
      }
    }
  }
  if (facts.swarm?.node === true) {
    const self = facts.swarm.self.name;
    for (const peer of facts.swarm.nodes.filter((node) => node.name !== self)) {
      for (const swarmPort of SWARM_PORTS) {
        allowFrom.push({
          from: peer.tunnelAddress,
          port: swarmPort.port,
          proto: swarmPort.proto,
          comment: `${swarmPort.what} from ${peer.name} over the tunnel`,
          interface: WG_INTERFACE,
        });
      }
    }
  }
  return {
    sshPort: config.sshPort,
    ownerAddresses: config.adminAllowIps,
    publicTcpPorts:
      role === "automation" ? PROXY_PUBLIC_PORTS.filter((p) => p.proto === "tcp").map((p) => p.port) : [],
    allowFrom,
    removeForeignRules: config.removeForeignUfwRules,
  };
}

/**
 * The hardening scripts of one host in the order they must run: packages (ufw, fail2ban, Docker…) first,
 * sshd next (validated before reload), the firewall only after sshd is sound, Docker's DOCKER-USER filter
 * with it (its ufw hook needs ufw's directory), then fail2ban (its ufw
 * action needs ufw), memory, and the WireGuard key, whose public key the peer's tunnel needs.
 */
export function hardeningScripts(config: PlainConfig, facts: HostFacts): HostScript[] {
  return [
    {
      name: "packages",
      script: renderPackagesScript({
        sshUser: config.sshUser,
        logMaxSize: config.dockerLogMaxSize,
        logMaxFile: config.dockerLogMaxFile,
        swarm: facts.swarm?.node === true,
      }),
    },
    {
      name: "sshd",
      script: renderSshdScript({
        maxAuthTries: config.sshMaxAuthTries,
        loginGraceTimeSeconds: config.sshLoginGraceTimeSeconds,
        allowUsers: [config.sshUser, ...config.sshAllowUsers],
      }),
    },
    { name: "ufw", script: renderUfwScript(ufwOptions(config, facts)) },
    {
      // UFW never sees what Docker forwards to containers: a port published on the tunnel address would
      // answer a neighbour on the public network without these.
      name: "docker-user",
      script: renderDockerUserScript({
        tunnelInterface: WG_INTERFACE,
        publicPorts: facts.role === "automation" ? [...PROXY_PUBLIC_PORTS] : [],
      }),
    },
    {
      name: "fail2ban",
      script: renderFail2banScript({
        bantime: config.fail2banBantime,
        findtime: config.fail2banFindtime,
        maxretry: config.fail2banMaxretry,
        recidiveBantime: config.fail2banRecidiveBantime,
        // The owner's addresses are never banned, like the peer host: a mistyped key must not lock him out.
        ignoreIps: [...peersOf(config, facts).map((peer) => peer.address), ...config.adminAllowIps],
      }),
    },
    {
      name: "swap-sysctl",
      script: renderSwapSysctlScript({
        swapMB: facts.swapMB,
        swappiness: config.swappiness,
        redisHost: facts.runsRedis,
      }),
    },
    { name: "wireguard-key", script: renderWireguardKeyScript() },
  ];
}

/** The tunnel script of one of two hosts, once the peer's public key is known. */
export function tunnelScript(config: PlainConfig, role: HostRole, peerPublicKey: string): HostScript {
  const host = (r: HostRole) => ({
    name: r,
    address: publicAddress(config, r),
    tunnelAddress: tunnelAddress(config, r),
  });
  return meshTunnelScript(config, host(role), [{ host: host(peerRole(role)), publicKey: peerPublicKey }]);
}

/** The tunnel script of one host with every other host as a peer (a full mesh: no hub to lose), once their public keys are known. */
export function meshTunnelScript(
  config: PlainConfig,
  self: Pick<ClusterHost, "tunnelAddress">,
  peers: { host: Pick<ClusterHost, "address" | "tunnelAddress">; publicKey: string }[],
): HostScript {
  return {
    name: "wireguard",
    script: renderWireguardScript({
      address: `${self.tunnelAddress}/24`,
      listenPort: config.wireguardPort,
      peers: peers.map((peer) => ({
        publicKey: peer.publicKey,
        endpoint: `${peer.host.address}:${config.wireguardPort}`,
        allowedIp: `${peer.host.tunnelAddress}/32`,
      })),
    }),
  };
}
