import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import type { ServicePlan } from "../../capacity/index.js";
import type { ContainerFile } from "../secret-file.js";

/** A port a container publishes on the host. */
export interface PublishedPort {
  internal: number;
  external: number;
  /** Host address to bind; 0.0.0.0 only where `public` is true. */
  ip: string;
  protocol?: "tcp" | "udp";
  /** True only for the reverse proxy's 80/443. */
  public?: boolean;
}

/** Everything a service container needs beyond what the plan sizes. */
export interface ServiceContainerArgs {
  /** Container name on the host (also its DNS name on the Docker network). */
  containerName: string;
  image: pulumi.Input<string>;
  /** The plan's sizing of this service: memory limit and reservation. */
  plan: Pick<ServicePlan, "limitMB" | "reservationMB">;
  healthcheck: string[];
  /**
   * The Docker network to join, or "host" for the host agents and the data host's monitoring (they listen on
   * the tunnel address or loopback themselves, and publish nothing).
   */
  network: pulumi.Input<string> | "host";
  /** More Docker networks to join (the proxy sits on the app's network and on n8n's). */
  extraNetworks?: pulumi.Input<string>[];
  aliases?: string[];
  command?: string[];
  envs?: pulumi.Input<pulumi.Input<string>[]>;
  ports?: PublishedPort[];
  volumes?: (
    | { volumeName: pulumi.Input<string>; containerPath: string }
    | { hostPath: string; containerPath: string; readOnly: true }
  )[];
  /** Files put into the container before it starts: configuration, and secrets (see secretFile). */
  uploads?: ContainerFile[];
  shmSizeMB?: number;
  /** Host agents: cAdvisor reads every container's cgroups, node-exporter the host's processes. */
  privileged?: boolean;
  pidMode?: "host";
  /**
   * Seconds between SIGTERM and SIGKILL when the container is stopped, by Docker or by a deploy that
   * replaces or removes it. @defaultValue 30
   */
  stopGraceSeconds?: number;
}

/** A published port on 0.0.0.0 (or ::) that is not the proxy's: Docker would bypass UFW for it. */
function checkPorts(name: string, ports: PublishedPort[]): void {
  for (const port of ports) {
    const wildcard = port.ip === "0.0.0.0" || port.ip === "::" || port.ip === "";
    if (wildcard && port.public !== true) {
      throw new Error(
        `${name} would publish port ${port.external} on ${port.ip || "all addresses"}; bind it to 127.0.0.1 or the tunnel address`,
      );
    }
  }
}

/**
 * A container sized by the plan: memory limit = the plan's limitMB, reservation = reservationMB, swap no
 * larger than the limit (memorySwap = memory), `unless-stopped` restart, a healthcheck that Pulumi waits on
 * (`wait`), and a fixed name, hence delete-before-replace (two containers cannot share a name). It is
 * stopped, never killed outright: SIGTERM, then `stopGraceSeconds` before SIGKILL, both when Docker stops
 * it (`stopTimeout`) and when a deploy removes it (`destroyGraceSeconds`; without it the provider
 * force-removes the container, a SIGKILL).
 */
export function serviceContainer(
  resourceName: string,
  args: ServiceContainerArgs,
  opts: pulumi.CustomResourceOptions,
): docker.Container {
  checkPorts(args.containerName, args.ports ?? []);
  const hostNetwork = args.network === "host";
  if (hostNetwork && (args.extraNetworks ?? []).length > 0) {
    throw new Error(`${args.containerName} runs in the host's network; it cannot join others`);
  }
  if (hostNetwork && (args.ports ?? []).length > 0) {
    throw new Error(`${args.containerName} runs in the host's network; it cannot publish ports`);
  }
  if (args.plan.reservationMB > args.plan.limitMB) {
    throw new Error(
      `${args.containerName}: reservation ${args.plan.reservationMB} MB exceeds its limit ${args.plan.limitMB} MB`,
    );
  }
  return new docker.Container(
    resourceName,
    {
      name: args.containerName,
      image: args.image,
      memory: args.plan.limitMB,
      memorySwap: args.plan.limitMB,
      memoryReservation: args.plan.reservationMB,
      restart: "unless-stopped",
      healthcheck: {
        tests: args.healthcheck,
        interval: "15s",
        timeout: "5s",
        retries: 5,
        startPeriod: "60s",
      },
      wait: true,
      waitTimeout: 300,
      ...(hostNetwork
        ? { networkMode: "host" }
        : {
            networksAdvanced: [
              { name: args.network, aliases: args.aliases ?? [] },
              ...(args.extraNetworks ?? []).map((name) => ({ name, aliases: args.aliases ?? [] })),
            ],
          }),
      privileged: args.privileged,
      pidMode: args.pidMode,
      command: args.command,
      envs: args.envs,
      ports: args.ports?.map((p) => ({
        internal: p.internal,
        external: p.external,
        ip: p.ip,
        protocol: p.protocol ?? "tcp",
      })),
      volumes: args.volumes,
      uploads: args.uploads,
      shmSize: args.shmSizeMB,
      stopSignal: "SIGTERM",
      stopTimeout: args.stopGraceSeconds ?? 30,
      destroyGraceSeconds: args.stopGraceSeconds ?? 30,
    },
    { deleteBeforeReplace: true, ...opts },
  );
}
