import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Plan } from "../../capacity/index.js";
import type { InfraConfig } from "../config.js";
import { DATA_PRIVATE_PORTS } from "../host-scripts.js";
import { servicePlan } from "../plan-services.js";
import { APP_DB_ROLE, appDbPassword } from "../render/postgres-app-role.js";
import { DIRECTUS_DB_ROLE, directusDbPassword } from "../render/postgres-directus-role.js";
import { exporterDbPassword } from "../render/postgres-exporter-role.js";
import { renderPostgresRolesScript } from "../render/postgres-roles-script.js";
import { postgresCommandArgs, renderPostgresSettings } from "../render/postgres-settings.js";
import { IMAGE_UIDS, secretFile } from "../secret-file.js";
import { hostDockerResources } from "./host-docker-resources.js";
import { remoteScript, type SshConnection, scriptHash } from "./remote-script.js";
import { serviceContainer } from "./service-container.js";

/**
 * The database, and its superuser (the image's POSTGRES_USER), which the backups and the roles' script use;
 * the app connects as its own role, {@link APP_DB_ROLE}, and Directus as {@link DIRECTUS_DB_ROLE}.
 */
export const DATABASE = { name: "tapbot", user: "tapbot" } as const;

/** Inputs of {@link DataServices}. */
export interface DataServicesArgs {
  config: InfraConfig;
  plan: Plan;
  provider: docker.Provider;
  connection: SshConnection;
  /** The tunnel must be up before anything binds the data host's tunnel address. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * The data host's services: PostgreSQL 16, Directus and Qdrant, sized by the plan (their backups:
 * components/backups.ts).
 * Invariant: none of them is published on a public address; PostgreSQL, Qdrant and Directus bind only the
 * host's WireGuard address, which UFW opens to the automation host's tunnel address alone.
 */
export class DataServices extends pulumi.ComponentResource {
  readonly network: docker.Network;
  readonly postgres: docker.Container;
  readonly directus: docker.Container;
  readonly qdrant: docker.Container;
  /**
   * Makes the app's and Directus's PostgreSQL roles ({@link APP_DB_ROLE}, {@link DIRECTUS_DB_ROLE}); the
   * app's containers and Directus wait for it.
   */
  readonly roles: pulumi.Resource;

  constructor(name: string, args: DataServicesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tapbot:infra:DataServices", name, {}, opts);
    const { config, plan, provider } = args;
    const child = { parent: this, provider };
    const tunnelIp = config.dataTunnelAddress;
    const secrets = config.secrets;
    const network = new docker.Network(`${name}-network`, { name: "tapbot-data" }, child);
    this.network = network;
    const { image, volume } = hostDockerResources(name, child, args.dependsOn);

    const postgresSettings = plan.postgres;
    if (postgresSettings === null) throw new Error("the plan has no PostgreSQL settings");
    // Secrets as files where the image reads NAME_FILE (infra/secret-file.ts), out of `docker inspect`.
    const postgresPassword = secretFile("POSTGRES_PASSWORD", secrets.postgresPassword, IMAGE_UIDS.postgres);
    const directusSecrets = [
      secretFile("SECRET", secrets.directusSecret, IMAGE_UIDS.directus),
      secretFile("DB_PASSWORD", secrets.postgresPassword.apply(directusDbPassword), IMAGE_UIDS.directus),
      secretFile("ADMIN_PASSWORD", secrets.directusAdminPassword, IMAGE_UIDS.directus),
    ];
    this.postgres = serviceContainer(
      `${name}-postgres`,
      {
        containerName: "tapbot-postgres",
        image: image("postgres", config.postgresImage).imageId,
        plan: servicePlan(plan, "postgres"),
        shmSizeMB: postgresSettings.shmSizeMB,
        command: ["postgres", ...postgresCommandArgs(renderPostgresSettings(postgresSettings))],
        envs: [`POSTGRES_USER=${DATABASE.user}`, `POSTGRES_DB=${DATABASE.name}`, postgresPassword.env],
        uploads: [postgresPassword.upload],
        healthcheck: ["CMD-SHELL", `pg_isready -U ${DATABASE.user} -d ${DATABASE.name}`],
        network: network.name,
        aliases: ["postgres"],
        ports: [{ internal: 5432, external: DATA_PRIVATE_PORTS.postgres, ip: tunnelIp }],
        volumes: [{ volumeName: volume("pgdata").name, containerPath: "/var/lib/postgresql/data" }],
      },
      { ...child, dependsOn: args.dependsOn },
    );

    // The app's and Directus's own roles (no superuser), made or brought up to date before either connects.
    const rolesScript = pulumi.secret(
      secrets.postgresPassword.apply((password) =>
        renderPostgresRolesScript({
          container: "tapbot-postgres",
          superuser: DATABASE.user,
          database: DATABASE.name,
          passwords: {
            app: appDbPassword(password),
            directus: directusDbPassword(password),
            exporter: exporterDbPassword(password),
          },
        }),
      ),
    );
    this.roles = remoteScript(
      `${name}-postgres-roles`,
      args.connection,
      rolesScript,
      // Again whenever the container is replaced too (a restored volume may lack the roles); it is idempotent.
      pulumi.all([rolesScript.apply(scriptHash), this.postgres.id]).apply(([hash, id]) => `${hash}:${id}`),
      { parent: this, dependsOn: [this.postgres], secretOutput: true },
    );

    this.directus = serviceContainer(
      `${name}-directus`,
      {
        containerName: "tapbot-directus",
        image: image("directus", config.directusImage).imageId,
        plan: servicePlan(plan, "directus"),
        envs: [
          "DB_CLIENT=pg",
          "DB_HOST=postgres",
          "DB_PORT=5432",
          `DB_DATABASE=${DATABASE.name}`,
          // Its own role, no superuser: it owns its tables and only reads the app's.
          `DB_USER=${DIRECTUS_DB_ROLE}`,
          `ADMIN_EMAIL=${config.directusAdminEmail}`,
          `PUBLIC_URL=https://${config.directusDomain}`,
          // Caddy (the automation host, through the tunnel) is the only proxy whose X-Forwarded-For counts,
          // so the rate limiter sees the visitor's address and nobody else can claim one.
          `IP_TRUST_PROXY=${config.automationTunnelAddress}`,
          // Each client address: 50 requests a second (the admin app loads a few dozen at once), then 429;
          // the login endpoint included, whose attempts LOGIN_STAGGER also slows to one answer per 500 ms
          // and which locks the account after 25 failures (Directus's login attempts setting).
          "RATE_LIMITER_ENABLED=true",
          "RATE_LIMITER_STORE=memory",
          "RATE_LIMITER_POINTS=50",
          "RATE_LIMITER_DURATION=1",
          "LOGIN_STAGGER=500",
          // Cookies only over HTTPS (Caddy) and never sent on cross-site requests.
          ...directusSecrets.map((f) => f.env),
          "SESSION_COOKIE_SECURE=true",
          "SESSION_COOKIE_SAME_SITE=strict",
          "REFRESH_TOKEN_COOKIE_SECURE=true",
          "REFRESH_TOKEN_COOKIE_SAME_SITE=strict",
        ],
        healthcheck: ["CMD-SHELL", "wget -q --spider http://127.0.0.1:8055/server/health || exit 1"],
        network: network.name,
        ports: [{ internal: 8055, external: DATA_PRIVATE_PORTS.directus, ip: tunnelIp }],
        volumes: [{ volumeName: volume("directus-uploads").name, containerPath: "/directus/uploads" }],
        uploads: directusSecrets.map((f) => f.upload),
      },
      { ...child, dependsOn: [this.postgres, this.roles] },
    );

    this.qdrant = serviceContainer(
      `${name}-qdrant`,
      {
        containerName: "tapbot-qdrant",
        image: image("qdrant", config.qdrantImage).imageId,
        plan: servicePlan(plan, "qdrant"),
        envs: [pulumi.interpolate`QDRANT__SERVICE__API_KEY=${secrets.qdrantApiKey}`],
        healthcheck: ["CMD-SHELL", "bash -c ':> /dev/tcp/127.0.0.1/6333' || exit 1"],
        network: network.name,
        ports: [{ internal: 6333, external: DATA_PRIVATE_PORTS.qdrant, ip: tunnelIp }],
        volumes: [{ volumeName: volume("qdrant").name, containerPath: "/qdrant/storage" }],
      },
      { ...child, dependsOn: args.dependsOn },
    );

    this.registerOutputs({});
  }
}
