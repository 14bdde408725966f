import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterHost } from "../cluster-hosts.js";
import {
  renderSwarmInitScript,
  renderSwarmJoinScript,
  renderSwarmLabelScript,
  renderSwarmTokenScript,
} from "../render/swarm-scripts.js";
import { remoteScript, type SshConnection, scriptHash } from "./remote-script.js";

/** A Swarm node: the host and how SSH reaches it. */
export interface SwarmNode {
  host: ClusterHost;
  connection: SshConnection;
  /** The node's tunnel must be up first: the Swarm listens on its tunnel address. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/** Inputs of {@link Swarm}. */
export interface SwarmArgs {
  /** The automation host: the one manager (it runs Redis and Caddy, which the services need anyway). */
  manager: SwarmNode;
  /** Every other node: the hosts the plan gives bot or worker replicas. */
  workers: SwarmNode[];
}

/**
 * A Docker Swarm over the WireGuard tunnel: the automation host inits it as the manager, every other node joins
 * as a worker with the worker token, and the manager labels each node `tapbot.host=<plan host name>`, which the
 * stack's placement constraints name. Invariants: every Swarm address (control plane, gossip, VXLAN data) is a
 * tunnel address, so nothing of the Swarm is reachable from the internet (UFW opens its ports on wg0 only); the
 * join token is a secret (the token command's output and every join script are secret values), never in an
 * output or a log.
 */
export class Swarm extends pulumi.ComponentResource {
  /** `swarm init` and the manager's label. */
  readonly init: command.remote.Command;
  /** The label of each joined node, by host name: once it is there, the stack can place tasks on it. */
  readonly labels: Map<string, command.remote.Command>;
  /** Depend on these to run once every node is in the Swarm and labelled. */
  readonly ready: command.remote.Command[];

  constructor(name: string, args: SwarmArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tapbot:infra:Swarm", name, {}, opts);
    const manager = args.manager;
    const initScript = renderSwarmInitScript({
      address: manager.host.tunnelAddress,
      hostName: manager.host.name,
    });
    this.init = remoteScript(`${name}-init`, manager.connection, initScript, scriptHash(initScript), {
      parent: this,
      dependsOn: manager.dependsOn,
    });
    const tokenScript = renderSwarmTokenScript();
    const token = remoteScript(`${name}-token`, manager.connection, tokenScript, scriptHash(tokenScript), {
      parent: this,
      dependsOn: [this.init],
      secretOutput: true,
    });
    this.labels = new Map();
    for (const node of args.workers) {
      const join = pulumi.secret(
        token.stdout.apply((out) =>
          renderSwarmJoinScript({
            address: node.host.tunnelAddress,
            managerAddress: manager.host.tunnelAddress,
            token: out.trim(),
          }),
        ),
      );
      const joined = remoteScript(
        `${name}-join-${node.host.name}`,
        node.connection,
        join,
        join.apply(scriptHash),
        {
          parent: this,
          dependsOn: [this.init, ...node.dependsOn],
        },
      );
      const label = joined.stdout.apply((id) => renderSwarmLabelScript(id, node.host.name));
      this.labels.set(
        node.host.name,
        remoteScript(`${name}-label-${node.host.name}`, manager.connection, label, label.apply(scriptHash), {
          parent: this,
          dependsOn: [joined],
        }),
      );
    }
    this.ready = [this.init, ...this.labels.values()];
    this.registerOutputs({});
  }
}
