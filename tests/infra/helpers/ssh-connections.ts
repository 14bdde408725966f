import { type Registered, unwrap } from "./pulumi-mocks.js";

/** What one host's SSH daemon sees from a first `pulumi up`, by who dials. */
export interface HostConnections {
  /** One per remote command: @pulumi/command dials a connection of its own for each. */
  commands: number;
  /**
   * The Docker resources managed over this host's provider. Each can open a connection of its own while
   * no shared master exists yet (its first burst), so this bounds the provider's connections from above.
   */
  docker: number;
  /** The app image's ship script (one shared connection for all its steps). */
  ship: number;
}

/**
 * The SSH connections a first `pulumi up` opens to each host (by address), counted from what the program
 * registered under mocks; the first deploy creates everything, so it is the most a run opens.
 */
export function sshConnectionsPerHost(resources: readonly Registered[]): Map<string, HostConnections> {
  const hosts = new Map<string, HostConnections>();
  const at = (address: string) => {
    let entry = hosts.get(address);
    if (entry === undefined) {
      entry = { commands: 0, docker: 0, ship: 0 };
      hosts.set(address, entry);
    }
    return entry;
  };
  const providerHost = new Map<string, string>();
  for (const r of resources) {
    if (r.type === "pulumi:providers:docker") {
      const address = String(r.inputs.host).match(/^ssh:\/\/[^@]+@(.+):\d+$/)?.[1];
      if (address !== undefined) providerHost.set(r.name, address);
    }
  }
  for (const r of resources) {
    if (r.type === "command:remote:Command") {
      const connection = unwrap(r.inputs.connection) as { host?: string } | undefined;
      if (connection?.host !== undefined) at(connection.host).commands += 1;
    } else if (r.type === "command:local:Command") {
      const address = String(unwrap(r.inputs.stdin) ?? "").match(/^address='?([^'\n]+)'?$/m)?.[1];
      if (address !== undefined) at(address).ship += 1;
    } else if (r.type.startsWith("docker:") && r.provider !== undefined) {
      const name = r.provider.split("::")[3];
      const address = name === undefined ? undefined : providerHost.get(name);
      if (address !== undefined) at(address).docker += 1;
    }
  }
  return hosts;
}

/** Every connection of one host's count. */
export function totalConnections(host: HostConnections): number {
  return host.commands + host.docker + host.ship;
}
