import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import {
  CalibrationFileError,
  CapacityInputError,
  DEFAULT_CALIBRATION_FILE,
  loadCapacityInput,
  type Plan,
  plan,
} from "../capacity/index.js";
import { appSourceHash } from "./app-source-hash.js";
import { type ClusterHost, clusterHosts, usesSwarm } from "./cluster-hosts.js";
import { App, botUpdateRoomWarnings, swarmBotUpstreams } from "./components/app.js";
import { APP_NETWORK, AutomationServices } from "./components/automation-services.js";
import { Backups } from "./components/backups.js";
import { DATABASE, DataServices } from "./components/data-services.js";
import { HardenedHost } from "./components/hardened-host.js";
import { Monitoring } from "./components/monitoring.js";
import type { SshConnection } from "./components/remote-script.js";
import { Swarm } from "./components/swarm.js";
import { WireguardTunnel } from "./components/wireguard-tunnel.js";
import { CONFIG_NAMESPACE, type InfraConfig, InfraConfigError, readInfraConfig } from "./config.js";
import { strictSshOptions } from "./host-keys.js";
import {
  DATA_PRIVATE_PORTS,
  type HostRole,
  hardeningScripts,
  publicAddress,
  type SwarmMembership,
} from "./host-scripts.js";
import { checkDeployable, extraHostAgents, hostPlan, swarmAppHosts } from "./plan-services.js";
import { APP_DB_ROLE, appDbPassword } from "./render/postgres-app-role.js";
import { sharedConnectionOptions } from "./ssh-multiplexing.js";

/** The repository root (infra/..), whatever directory Pulumi runs the program from. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The plan of the stack's `tapbot:capacity`, exactly as `npm run capacity -- plan --stack <name>` prints it:
 * the same loader, so a `calibration:` path (relative to the stack file, i.e. the repository root) gives the
 * same calibrated budgets. Stops with the config key of each bad field, and refuses a plan whose own check
 * found errors unless `tapbot:allowCapacityErrors` is true.
 */
export function planFromConfig(
  config: Pick<InfraConfig, "capacity"> & Partial<Pick<InfraConfig, "allowCapacityErrors">>,
  stackDir: string = REPO_ROOT,
): Plan {
  let deployed: Plan;
  try {
    deployed = plan(
      loadCapacityInput({
        raw: config.capacity,
        baseDir: stackDir,
        readFile: (p) => readFileSync(p, "utf8"),
        defaultCalibrationFile: DEFAULT_CALIBRATION_FILE,
      }),
    );
  } catch (error) {
    if (error instanceof CalibrationFileError) {
      throw new InfraConfigError(
        error.issues.map(
          (i) => `${CONFIG_NAMESPACE}:capacity.calibration (${error.file}): ${i.path}: ${i.message}`,
        ),
      );
    }
    if (error instanceof CapacityInputError) {
      throw new InfraConfigError(
        error.issues.map((i) => `${CONFIG_NAMESPACE}:capacity.${i.path}: ${i.message}`),
      );
    }
    throw error;
  }
  checkDeployable(deployed);
  requireProviderConcurrency(deployed);
  requireImageBuiltElsewhere(deployed);
  const errors = deployed.findings.filter((f) => f.severity === "error");
  if (errors.length > 0 && !config.allowCapacityErrors) {
    throw new InfraConfigError([
      ...errors.map((f) => `${CONFIG_NAMESPACE}:capacity gives a plan with ${f.code}: ${f.message}`),
      `change ${CONFIG_NAMESPACE}:capacity (see \`npm run capacity -- check --stack <stack>\`), or deploy it anyway with \`pulumi config set ${CONFIG_NAMESPACE}:allowCapacityErrors true\``,
    ]);
  }
  return deployed;
}

/**
 * A deployed plan must know fal's account limit: the app enforces it (FAL_CONCURRENCY) across every worker and
 * bot replica, and the plan's wait for a fal slot is computed at it. Guessing it would let requests pile up at
 * fal (a low limit) or let the app hold back requests fal would take (a high one), so it is required.
 */
export function requireProviderConcurrency(deployed: Plan): number {
  const limit = deployed.provider.concurrency;
  if (limit !== null) return limit;
  throw new InfraConfigError([
    `${CONFIG_NAMESPACE}:capacity.providerConcurrency is required: your fal account's limit of requests in progress at once, which the app enforces as FAL_CONCURRENCY. New fal accounts have 2; fal raises it on request (fal support, or the dashboard's usage and billing page). The plan for ${deployed.users} users needs ${deployed.provider.neededConcurrency}: ask fal for it, then set the limit fal confirms with \`pulumi config set --path 'capacity.providerConcurrency' <n>\` (\`npm run capacity -- plan --stack <stack>\` shows the wait at it).`,
  ]);
}

/**
 * The program builds the app image on the machine running `pulumi up` and ships it (components/app.ts), so no
 * host holds a build: a plan budgeting one on a host would reserve RAM and disk that nothing uses. The stack
 * says so itself (`imageBuild: null`) rather than the program overriding it, so that `npm run capacity -- plan
 * --stack <stack>` prints the plan that is deployed.
 */
export function requireImageBuiltElsewhere(deployed: Plan): void {
  const build = deployed.imageBuild;
  if (build === null) return;
  throw new InfraConfigError([
    `${CONFIG_NAMESPACE}:capacity.imageBuild must be unset or null: the app image is built on the machine running \`pulumi up\` and shipped to the automation host, but the plan budgets its build on the ${build.host} host (${build.peakMB} MB peak, ${build.diskGB} GB of disk). Remove \`imageBuild\` from ${CONFIG_NAMESPACE}:capacity in Pulumi.<stack>.yaml, or set it to null.`,
  ]);
}

/** What one host runs, for the stack outputs: every container is a service of the plan. */
function hostSummary(deployed: Plan, name: string, address: string) {
  const host = hostPlan(deployed, name);
  return {
    address,
    ramMB: host.ramMB,
    usedMB: host.usedMB,
    utilization: host.utilization,
    status: host.status,
    swapMB: host.swapMB,
    /** The running containers plus any image build the plan puts on the host (none: the image is built off it). */
    deployPeakMB: host.deployPeakMB,
    containers: host.services.map((s) => ({
      name: s.name,
      replicas: s.replicas,
      limitMB: s.limitMB,
      reservationMB: s.reservationMB,
    })),
  };
}

/**
 * The whole deployment: config → the capacity plan (computed once) → both hosts hardened → the tunnel →
 * the data services → the automation services → the app. Returns the stack outputs.
 */
export async function deployStack() {
  const config = readInfraConfig();
  const deployed = planFromConfig(config);
  for (const finding of deployed.findings) {
    const log = finding.severity === "info" ? pulumi.log.info : pulumi.log.warn;
    log(`capacity ${finding.severity} ${finding.code}: ${finding.message}`);
  }

  const cluster = clusterHosts(config, deployed);
  const swarm = usesSwarm(deployed);
  const connectionOf = (host: ClusterHost): SshConnection => ({
    host: host.address,
    user: config.sshUser,
    port: config.sshPort,
    privateKey: config.secrets.sshPrivateKey,
    hostKey: host.hostKey,
  });
  const clusterHost = (name: string): ClusterHost => {
    const found = cluster.find((h) => h.name === name);
    if (found === undefined) throw new Error(`no host named ${name}`);
    return found;
  };
  const connection = (role: HostRole): SshConnection => connectionOf(clusterHost(role));
  const runsRedis = (name: string) => hostPlan(deployed, name).services.some((s) => s.name === "redis");
  // With a Swarm: the manager (automation) and every host the plan gives bot or worker replicas are its nodes.
  const appHosts = swarm ? swarmAppHosts(deployed) : [];
  const swarmNodes = swarm ? ["automation", ...appHosts.filter((name) => name !== "automation")] : [];
  const membership = (host: ClusterHost): SwarmMembership | undefined =>
    swarm
      ? {
          self: host,
          peers: cluster.filter((h) => h !== host),
          node: swarmNodes.includes(host.name),
          nodes: cluster.filter((h) => swarmNodes.includes(h.name)),
          appSources: cluster.filter((h) => swarmNodes.includes(h.name) && h.name !== "data"),
        }
      : undefined;
  const hardened = new Map(
    cluster.map((host) => [
      host.name,
      new HardenedHost(host.name, {
        role: host.name,
        connection: connectionOf(host),
        scripts: hardeningScripts(config, {
          role: host.name === "automation" || host.name === "data" ? host.name : undefined,
          swapMB: hostPlan(deployed, host.name).swapMB,
          runsRedis: runsRedis(host.name),
          swarm: membership(host),
        }),
      }),
    ]),
  );
  const hardenedHost = (name: string): HardenedHost => {
    const found = hardened.get(name);
    if (found === undefined) throw new Error(`no hardened host named ${name}`);
    return found;
  };
  const hosts: Record<HostRole, HardenedHost> = {
    automation: hardenedHost("automation"),
    data: hardenedHost("data"),
  };
  const tunnel = new WireguardTunnel("tunnel", {
    config,
    ends: cluster.map((host) => ({
      host,
      hardened: hardenedHost(host.name),
      connection: connectionOf(host),
    })),
  });
  const swarmNode = (name: string) => {
    const tunnelEnd = tunnel.byHost.get(name);
    return {
      host: clusterHost(name),
      connection: connectionOf(clusterHost(name)),
      dependsOn: tunnelEnd === undefined ? [] : [tunnelEnd],
    };
  };
  if (swarm) for (const warning of botUpdateRoomWarnings(deployed)) pulumi.log.warn(warning);
  const swarmCluster = swarm
    ? new Swarm("swarm", {
        manager: swarmNode("automation"),
        workers: swarmNodes.filter((name) => name !== "automation").map(swarmNode),
      })
    : undefined;

  const dockerProvider = (name: string) => {
    const host = clusterHost(name);
    return new docker.Provider(
      `${name}-docker`,
      {
        host: `ssh://${config.sshUser}@${host.address}:${config.sshPort}`,
        sshOpts: [
          ...strictSshOptions(host.address, config.sshPort, host.hostKey),
          ...sharedConnectionOptions(),
        ],
      },
      { dependsOn: [hardenedHost(name).ready] },
    );
  };
  const providers = { automation: dockerProvider("automation"), data: dockerProvider("data") };
  const data = new DataServices("data", {
    config,
    plan: deployed,
    provider: providers.data,
    connection: connection("data"),
    dependsOn: [tunnel.ends.data],
  });
  const automation = new AutomationServices("automation", {
    config,
    plan: deployed,
    provider: providers.automation,
    dependsOn: [tunnel.ends.automation],
    ...(swarmCluster === undefined
      ? {}
      : { swarm: { dependsOn: swarmCluster.ready, botUpstreams: swarmBotUpstreams(deployed) } }),
  });
  const backups = new Backups("backups", {
    config,
    connections: { automation: connection("automation"), data: connection("data") },
    dependsOn: {
      automation: [automation.n8n],
      data: [data.postgres, data.qdrant, data.directus],
    },
  });
  // The app connects as its own role, not the superuser (render/postgres-app-role.ts).
  const databaseUrl = pulumi.secret(
    config.secrets.postgresPassword.apply(
      (password) =>
        `postgres://${APP_DB_ROLE}:${encodeURIComponent(appDbPassword(password))}@${config.dataTunnelAddress}:${DATA_PRIVATE_PORTS.postgres}/${DATABASE.name}`,
    ),
  );
  const app = new App("app", {
    config,
    plan: deployed,
    provider: providers.automation,
    connection: connection("automation"),
    repoRoot: REPO_ROOT,
    sourceHash: await appSourceHash(REPO_ROOT),
    network: automation.network.name,
    redisUrl: automation.redisUrl,
    boardRedisUrl: automation.boardRedisUrl,
    databaseUrl,
    dependsOn: [automation.redis, data.postgres, data.roles],
    ...(swarmCluster === undefined
      ? {}
      : {
          swarm: {
            manager: connection("automation"),
            hosts: appHosts.map((name) => ({ name, connection: connectionOf(clusterHost(name)) })),
            network: APP_NETWORK,
            dependsOn: [...swarmCluster.ready, automation.network],
          },
        }),
  });

  const monitoring = new Monitoring("monitoring", {
    config,
    plan: deployed,
    providers,
    networks: { automation: automation.network.name, data: data.network.name },
    automationDependsOn: [tunnel.ends.automation, automation.redis],
    // The PostgreSQL exporter logs in as its own role, which the roles script makes.
    dataDependsOn: [tunnel.ends.data, data.postgres, data.roles],
    // An extra host's agents (node-exporter, cAdvisor) where the plan has them, through its own Docker.
    extraHosts: config.extraHosts
      .filter((host) => extraHostAgents(deployed, host.name).length > 0)
      .map((host) => {
        const tunnelEnd = tunnel.byHost.get(host.name);
        return {
          name: host.name,
          tunnelAddress: host.tunnelAddress,
          provider: dockerProvider(host.name),
          dependsOn: tunnelEnd === undefined ? [] : [tunnelEnd],
        };
      }),
  });

  return {
    urls: {
      n8n: `https://${config.n8nDomain}/`,
      directus: `https://${config.directusDomain}/`,
      grafana: `https://${config.grafanaDomain}/`,
      board: `https://${config.boardDomain}/`,
    },
    users: deployed.users,
    falConcurrency: requireProviderConcurrency(deployed),
    workers: {
      count: deployed.workers,
      concurrency: deployed.workerConcurrency,
      image: app.imageName,
    },
    hosts: {
      automation: hostSummary(deployed, "automation", publicAddress(config, "automation")),
      data: hostSummary(deployed, "data", publicAddress(config, "data")),
      ...Object.fromEntries(
        config.extraHosts.map((host) => [host.name, hostSummary(deployed, host.name, host.address)]),
      ),
    },
    /** With more than two hosts: the Swarm's nodes (the manager first); empty with two hosts. */
    swarmNodes,
    bindsFirst: { ...deployed.bottleneck, headroom: deployed.headroom },
    findings: deployed.findings,
    databaseUrl,
    /** The component tree (not a stack output): lets tests wait for and inspect every resource. */
    components: { hosts, hardened, tunnel, swarm: swarmCluster, data, automation, backups, app, monitoring },
  };
}
