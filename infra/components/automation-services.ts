import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Plan } from "../../capacity/index.js";
import type { InfraConfig } from "../config.js";
import { DATA_PRIVATE_PORTS, PROXY_PUBLIC_PORTS } from "../host-scripts.js";
import { MONITORING_PORTS } from "../monitoring-targets.js";
import { n8nOwnerPasswordHash } from "../n8n-owner.js";
import { servicePlan } from "../plan-services.js";
import { proxySites } from "../proxy-sites.js";
import { renderCaddyfile } from "../render/caddyfile.js";
import {
  REDIS_ACL_PATH,
  REDIS_USERS,
  redisBoardPassword,
  redisExporterPassword,
  renderRedisAcl,
} from "../render/redis-acl.js";
import { REDIS_HEALTHCHECK, redisContainerCommand, renderRedisArgs } from "../render/redis-args.js";
import { botReplicasOf } from "../rollout-order.js";
import { BOARD_CONTAINER, BOARD_HTTP_PORT, BOT_WEBHOOK_PATH, botUpstreams, FAL_WEBHOOK_PATH } from "./app.js";
import { hostDockerResources } from "./host-docker-resources.js";
import { serviceContainer } from "./service-container.js";

/** Inputs of {@link AutomationServices}. */
/** The app's Docker network (a bridge on the automation host; with a Swarm, the attachable overlay). */
export const APP_NETWORK = "tapbot";

/** Inputs of {@link AutomationServices}. */
export interface AutomationServicesArgs {
  config: InfraConfig;
  plan: Plan;
  provider: docker.Provider;
  /** Hardening and the tunnel must be done first (Caddy reaches Directus through it). */
  dependsOn: pulumi.Input<pulumi.Resource>[];
  /**
   * With more than two hosts: the app's network is the Swarm's attachable overlay (made once the manager is up,
   * hence `dependsOn`), so the bot and workers on any host reach Redis, and Caddy reaches the bots, by name; the
   * webhook goes to each bot placement's Swarm service (`upstreams`, dnsrr: every task's address).
   */
  swarm?: { dependsOn: pulumi.Input<pulumi.Resource>[]; botUpstreams: string[] };
}

/**
 * The automation host's services: Redis 7 (the queue: the plan's maxmemory, noeviction, AOF every second, ACL
 * users: the app without admin or dangerous commands, the exporter read-only, no one else but PING), n8n,
 * and Caddy with automatic TLS for the n8n and Directus domains. Invariants: only Caddy publishes ports
 * (80/443); Redis and n8n are reachable on Docker networks only, and n8n, on its own network with Caddy,
 * cannot reach Redis; n8n and Directus answer only the owner's addresses (see proxySites), and n8n's owner
 * account exists from its first start.
 */
export class AutomationServices extends pulumi.ComponentResource {
  /** The app's network: Redis, the bot, the workers, the Redis exporter and Caddy. */
  readonly network: docker.Network;
  /** n8n's own network, shared only with Caddy: n8n uses no Redis, so it cannot reach it. */
  readonly n8nNetwork: docker.Network;
  readonly redis: docker.Container;
  readonly n8n: docker.Container;
  readonly caddy: docker.Container;
  /** REDIS_URL for containers on {@link network} (secret: it carries the password). */
  readonly redisUrl: pulumi.Output<string>;
  /** REDIS_URL of the queue dashboard: its own user, confined to the generation queue's keys (secret). */
  readonly boardRedisUrl: pulumi.Output<string>;

  constructor(name: string, args: AutomationServicesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tapbot:infra:AutomationServices", name, {}, opts);
    const { config, plan, provider } = args;
    const child = { parent: this, provider };
    const secrets = config.secrets;
    this.network =
      args.swarm === undefined
        ? new docker.Network(`${name}-network`, { name: APP_NETWORK }, child)
        : new docker.Network(
            `${name}-network`,
            { name: APP_NETWORK, driver: "overlay", attachable: true },
            // Created after `swarm init`: an overlay made before it does not work (a known Docker bug).
            { ...child, dependsOn: args.swarm.dependsOn },
          );
    this.n8nNetwork = new docker.Network(`${name}-n8n-network`, { name: "tapbot-n8n" }, child);
    const { image, volume } = hostDockerResources(name, child, args.dependsOn);

    this.redis = serviceContainer(
      `${name}-redis`,
      {
        containerName: "tapbot-redis",
        image: image("redis", config.redisImage).imageId,
        plan: servicePlan(plan, "redis"),
        command: redisContainerCommand(renderRedisArgs(plan.redis)),
        uploads: [
          {
            file: REDIS_ACL_PATH,
            content: pulumi.secret(
              secrets.redisPassword.apply((password) =>
                renderRedisAcl({
                  app: password,
                  exporter: redisExporterPassword(password),
                  board: redisBoardPassword(password),
                }),
              ),
            ),
          },
        ],
        healthcheck: REDIS_HEALTHCHECK,
        network: this.network.name,
        aliases: ["redis"],
        volumes: [{ volumeName: volume("redis").name, containerPath: "/data" }],
      },
      { ...child, dependsOn: args.dependsOn },
    );
    this.redisUrl = pulumi.secret(
      secrets.redisPassword.apply(
        (password) => `redis://${REDIS_USERS.app}:${encodeURIComponent(password)}@redis:6379`,
      ),
    );
    this.boardRedisUrl = pulumi.secret(
      secrets.redisPassword.apply(
        (password) => `redis://${REDIS_USERS.board}:${redisBoardPassword(password)}@redis:6379`,
      ),
    );

    this.n8n = serviceContainer(
      `${name}-n8n`,
      {
        containerName: "tapbot-n8n",
        image: image("n8n", config.n8nImage).imageId,
        plan: servicePlan(plan, "n8n"),
        envs: [
          `N8N_HOST=${config.n8nDomain}`,
          "N8N_PORT=5678",
          "N8N_PROTOCOL=https",
          `WEBHOOK_URL=https://${config.n8nDomain}/`,
          "N8N_PROXY_HOPS=1",
          "N8N_DIAGNOSTICS_ENABLED=false",
          "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=true",
          // Workflows (Code node, expressions) cannot read the container's environment.
          "N8N_BLOCK_ENV_ACCESS_IN_NODE=true",
          "N8N_SECURE_COOKIE=true",
          pulumi.interpolate`N8N_ENCRYPTION_KEY=${secrets.n8nEncryptionKey}`,
          // The owner is created by the deploy, not by whoever opens the setup page first.
          "N8N_INSTANCE_OWNER_MANAGED_BY_ENV=true",
          `N8N_INSTANCE_OWNER_EMAIL=${config.n8nOwnerEmail}`,
          "N8N_INSTANCE_OWNER_FIRST_NAME=tapbot",
          "N8N_INSTANCE_OWNER_LAST_NAME=owner",
          pulumi.secret(
            pulumi
              .all([secrets.n8nOwnerPassword, secrets.n8nEncryptionKey])
              .apply(
                ([password, key]) =>
                  `N8N_INSTANCE_OWNER_PASSWORD_HASH=${n8nOwnerPasswordHash(password, key)}`,
              ),
          ),
        ],
        healthcheck: ["CMD-SHELL", "wget -q --spider http://127.0.0.1:5678/healthz || exit 1"],
        network: this.n8nNetwork.name,
        aliases: ["n8n"],
        volumes: [{ volumeName: volume("n8n").name, containerPath: "/home/node/.n8n" }],
      },
      { ...child, dependsOn: args.dependsOn },
    );

    const caddyfile = renderCaddyfile({
      acmeEmail: config.acmeEmail,
      sites: proxySites(config, {
        n8n: "n8n:5678",
        directus: `${config.dataTunnelAddress}:${DATA_PRIVATE_PORTS.directus}`,
        grafana: `${config.dataTunnelAddress}:${MONITORING_PORTS.grafana}`,
        board: `${BOARD_CONTAINER}:${BOARD_HTTP_PORT}`,
      }),
      webhook: {
        domain: config.botDomain,
        paths: [BOT_WEBHOOK_PATH, FAL_WEBHOOK_PATH],
        upstreams: args.swarm?.botUpstreams ?? botUpstreams(botReplicasOf(plan)),
      },
    });
    this.caddy = serviceContainer(
      `${name}-caddy`,
      {
        containerName: "tapbot-caddy",
        image: image("caddy", config.caddyImage).imageId,
        plan: servicePlan(plan, "caddy"),
        healthcheck: ["CMD-SHELL", "wget -q --spider http://127.0.0.1:2019/config/ || exit 1"],
        network: this.network.name,
        extraNetworks: [this.n8nNetwork.name],
        ports: PROXY_PUBLIC_PORTS.map(({ port, proto }) => ({
          internal: port,
          external: port,
          ip: "0.0.0.0",
          protocol: proto,
          public: true,
        })),
        uploads: [{ file: "/etc/caddy/Caddyfile", content: caddyfile }],
        volumes: [
          { volumeName: volume("caddy-data").name, containerPath: "/data" },
          {
            volumeName: volume("caddy-config", {
              disposable: "Caddy's autosave.json, rewritten from the Caddyfile at every start",
            }).name,
            containerPath: "/config",
          },
        ],
      },
      { ...child, dependsOn: [this.n8n] },
    );
    this.registerOutputs({});
  }
}
