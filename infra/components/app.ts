import { createHash } from "node:crypto";
import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Plan } from "../../capacity/index.js";
import type { InfraConfig } from "../config.js";
import { appMetricsPort } from "../monitoring-targets.js";
import { servicePlacements, servicePlan } from "../plan-services.js";
import { renderAppImageScript, SSH_KEY_ENV } from "../render/app-image-script.js";
import { GENERATION_QUEUE } from "../render/redis-acl.js";
import { renderStackDeployScript } from "../render/swarm-scripts.js";
import {
  renderSwarmStack,
  type StackSecret,
  type StackService,
  SWARM_STACK,
  swarmServiceHost,
} from "../render/swarm-stack.js";
import { BOT_REPLICAS, botReplicasOf, containerStopSeconds, rolloutStages } from "../rollout-order.js";
import { type SecretFile, secretFile } from "../secret-file.js";
import { remoteScript, type SshConnection, scriptHash } from "./remote-script.js";
import { serviceContainer } from "./service-container.js";

/** The app's ops port (HTTP_PORT): /healthz, /metrics and, on the bot, the webhook. */
export const APP_HTTP_PORT = 8080;

/**
 * The queue dashboard's port inside its container (HTTP_PORT), reached by Caddy on the app's network only
 * (`tapbot-board:8090`); nothing publishes it.
 */
export const BOARD_HTTP_PORT = 8090;

/** The board's container, which is also its name on the app's Docker network. */
export const BOARD_CONTAINER = "tapbot-board";

/** The path of the bot's webhook on `tapbot:botDomain` (WEBHOOK_URL's path), the only one Caddy forwards. */
export const BOT_WEBHOOK_PATH = "/telegram/webhook";

/**
 * The path fal posts completed requests to on `tapbot:botDomain` (FAL_WEBHOOK_URL's path), forwarded by Caddy
 * to the bot replicas like Telegram's: a picture goes out as soon as fal finished, with no status polls.
 */
export const FAL_WEBHOOK_PATH = "/fal/webhook";

/** The Docker network names of the bot replicas, which Caddy's webhook route balances over. */
export function botUpstreams(replicas: number): string[] {
  return Array.from({ length: replicas }, (_, i) => `tapbot-bot-${i + 1}:${APP_HTTP_PORT}`);
}

/**
 * WEBHOOK_SECRET, derived from the bot token so the owner has no extra secret to keep: Telegram sends it
 * with every update, and only whoever knows the token can know it. A new token gives a new secret.
 */
export function webhookSecretOf(telegramBotToken: pulumi.Output<string>): pulumi.Output<string> {
  return pulumi.secret(
    telegramBotToken.apply((token) =>
      createHash("sha256").update(`tapbot-webhook-secret:${token}`).digest("hex"),
    ),
  );
}

/** The user app/Dockerfile runs as (`USER node`, uid 1000 in the node images): it owns the secret files. */
export const APP_UID = 1000;

/** The old-bot check's entry, relative to the repository root (run with the program's own tsx). */
export const OLD_BOT_CHECK_ENTRY = "infra/old-bot-cli.ts";

/** Inputs of {@link App}. */
export interface AppArgs {
  config: InfraConfig;
  plan: Plan;
  /** The automation host's Docker (over SSH), which runs the containers. */
  provider: docker.Provider;
  /** The automation host as SSH reaches it: where the image is shipped to. */
  connection: SshConnection;
  /** The repository root: build context; the Dockerfile is app/Dockerfile. */
  repoRoot: string;
  /** Content hash of app/ and the build inputs: the image tag. */
  sourceHash: string;
  network: pulumi.Input<string>;
  redisUrl: pulumi.Output<string>;
  /** The board's REDIS_URL: its own Redis user, confined to the generation queue's keys. */
  boardRedisUrl: pulumi.Output<string>;
  databaseUrl: pulumi.Output<string>;
  dependsOn: pulumi.Input<pulumi.Resource>[];
  /**
   * With more than two hosts: the bot and the workers run as Swarm services placed by the plan (the stack is
   * deployed from the manager), and the image is shipped to every host that runs their tasks.
   */
  swarm?: AppSwarm;
}

/** Where the app's Swarm services go. */
export interface AppSwarm {
  /** The manager (the automation host), which deploys the stack. */
  manager: SshConnection;
  /** Every host the plan gives bot or worker replicas, by plan host name: each gets the image. */
  hosts: { name: string; connection: SshConnection }[];
  /** The overlay network's name (the app's network, which Redis and Caddy are on). */
  network: string;
  /** The Swarm with every node labelled, and the overlay network. */
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * The bot's placements for the stack: the plan's, with at least {@link BOT_REPLICAS} in all (added to the first
 * placement) so a deploy never leaves the webhook without a bot, as {@link botReplicasOf} does for containers.
 */
export function botPlacements(plan: Plan) {
  const placements = servicePlacements(plan, "bot").map((p) => ({ ...p }));
  const total = placements.reduce((sum, p) => sum + p.replicas, 0);
  const first = placements[0];
  if (first !== undefined && total < BOT_REPLICAS) first.replicas += BOT_REPLICAS - total;
  return placements;
}

/**
 * What a bot update may need beyond the plan: start-first keeps an old bot until its replacement is up and
 * stops it when the next starts, so a host briefly holds two bots more than the plan (tests/containers/
 * swarm.test.ts measures it). One line per host whose RAM left under the plan cannot hold them, for the deploy
 * to warn with; the plan's findings do not see it, since they size the steady state.
 */
export function botUpdateRoomWarnings(plan: Plan): string[] {
  return botPlacements(plan).flatMap((placement) => {
    const host = plan.hosts.find((h) => h.name === placement.host);
    if (host === undefined) return [];
    const free = host.ramMB - host.usedMB;
    const needed = 2 * placement.limitMB;
    return free >= needed
      ? []
      : [
          `a bot update on ${host.name} runs up to two bots more than the plan (2 × ${placement.limitMB} MB) for a moment, but the plan leaves ${free} MB of its RAM: lower the bot's limit, give ${host.name} more RAM, or move a service off it`,
        ];
  });
}

/** Caddy's webhook upstreams with a Swarm: each bot placement's service name (dnsrr: every task's address). */
export function swarmBotUpstreams(plan: Plan): string[] {
  return botPlacements(plan).map((p) => `${swarmServiceHost("bot", p.host)}:${APP_HTTP_PORT}`);
}

/**
 * The Swarm secret object of one secret file: `tapbot_<file>_<digest of the value>`. Swarm secrets cannot be
 * changed, so a new value is a new object and the stack's reference to it replaces the tasks.
 */
function swarmSecretName(target: string, value: string): string {
  return `${SWARM_STACK}_${target}_${createHash("sha256").update(value).digest("hex").slice(0, 16)}`;
}

/**
 * The bot and its workers, from one image built by the Docker of the machine running `pulumi up`, tagged by
 * the content of its sources and shipped to the automation host (render/app-image-script.ts), which never
 * builds: the bot replicas in webhook mode behind Caddy (`tapbot:botDomain`), and exactly `plan.workers`
 * worker containers, each with WORKER_CONCURRENCY = plan.workerConcurrency and the plan's memory limit and
 * reservation; every app process gets FAL_CONCURRENCY = the plan's provider limit (tapbot:capacity.providerConcurrency). A new image replaces them in the order of {@link rolloutStages}, never all at once, each
 * container stopped with SIGTERM and SHUTDOWN_GRACE_SECONDS (+10 s) to finish or hand back its work.
 */
export class App extends pulumi.ComponentResource {
  /** `tapbot-app:<content hash>`: the tag every app container runs. */
  readonly imageName: string;
  /**
   * Builds the image locally and loads it on the automation host. A `command.local.Command` running
   * `docker build` rather than a `docker.Image` on a local `docker.Provider`: the provider would need a Docker
   * engine on this machine even for `pulumi preview`, and the image's state would live in two engines that
   * Pulumi only half tracks; the command runs only on `pulumi up`, when its script (tag, host, port, pinned key)
   * changed, and each of its steps is skipped when its result is already there.
   */
  readonly image: command.local.Command;
  /** With a Swarm: the image shipped to each other host that runs app tasks. */
  readonly hostImages: command.local.Command[];
  /**
   * With a Swarm: the stack deploy on the manager (the app's secrets as Swarm secrets, then `docker stack
   * deploy`); its script holds secrets, so its stdin and output are secret.
   */
  readonly stack: command.remote.Command | undefined;
  /**
   * The deploy's old-bot check (infra/old-bot-cli.ts), run here before any app container is created: when
   * another deployment holds the token (a webhook to another URL, another poller), `pulumi up` stops with what
   * it found instead of starting a second bot, unless `tapbot:replaceOldBot`.
   */
  readonly oldBotCheck: command.local.Command;
  /** The bot replicas, `tapbot-bot-1`, `tapbot-bot-2`, in webhook mode behind Caddy. */
  readonly bots: docker.Container[];
  readonly workers: docker.Container[];
  /**
   * The queue dashboard (app/board/, Bull Board), `tapbot-board`: on the app's network only, behind Caddy's
   * `tapbot:boardDomain` (the owner's addresses) and its own basic auth (`tapbot:boardPasswordHash`).
   */
  readonly board: docker.Container;
  private readonly plan: Plan;

  constructor(name: string, args: AppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tapbot:infra:App", name, {}, opts);
    const { config, plan, provider } = args;
    this.plan = plan;
    const child = { parent: this, provider };
    const secrets = config.secrets;
    const falConcurrency = plan.provider.concurrency;
    if (falConcurrency === null) {
      throw new Error(
        "the plan has no providerConcurrency (fal's account limit); planFromConfig requires it",
      );
    }
    this.imageName = `tapbot-app:${args.sourceHash}`;
    const ship = (resourceName: string, connection: SshConnection) => {
      const script = renderAppImageScript({
        tag: this.imageName,
        dockerfile: "app/Dockerfile",
        // The owner's servers are x86-64; a build on an arm64 laptop needs buildx's emulation for this.
        platform: "linux/amd64",
        host: {
          address: connection.host,
          user: connection.user,
          port: connection.port,
          hostKey: connection.hostKey,
        },
      });
      return new command.local.Command(
        resourceName,
        {
          create: "bash -s",
          stdin: script,
          dir: args.repoRoot,
          environment: { [SSH_KEY_ENV]: pulumi.secret(connection.privateKey) },
          triggers: [scriptHash(script)],
          addPreviousOutputInEnv: false,
        },
        { parent: this, dependsOn: args.dependsOn },
      );
    };
    this.image = ship(`${name}-image`, args.connection);
    // With a Swarm every host that runs app tasks loads the image too (no registry); the build is reused.
    this.hostImages = (args.swarm?.hosts ?? [])
      .filter((host) => host.connection.host !== args.connection.host)
      .map((host) => ship(`${name}-image-${host.name}`, host.connection));
    this.oldBotCheck = new command.local.Command(
      `${name}-old-bot-check`,
      {
        create: `node --import tsx ${OLD_BOT_CHECK_ENTRY}`,
        dir: args.repoRoot,
        environment: {
          TELEGRAM_BOT_TOKEN: pulumi.secret(secrets.telegramBotToken),
          TAPBOT_BOT_DOMAIN: config.botDomain,
          TAPBOT_REPLACE_OLD_BOT: String(config.replaceOldBot),
        },
        // Again for every new image: that is when a new bot is about to start (its own webhook is then fine).
        triggers: [this.imageName, config.botDomain],
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    // Every secret reaches the app as a file only its user reads (app/secret-files.ts reads NAME_FILE).
    const secretFiles = (extra: SecretFile[]): SecretFile[] => [
      secretFile("TELEGRAM_BOT_TOKEN", secrets.telegramBotToken, APP_UID),
      secretFile("FAL_KEY", secrets.falKey, APP_UID),
      secretFile("REDIS_URL", args.redisUrl, APP_UID),
      secretFile("DATABASE_URL", args.databaseUrl, APP_UID),
      ...extra,
    ];
    const env = (files: SecretFile[], extra: pulumi.Input<string>[]): pulumi.Input<string>[] => [
      ...files.map((f) => f.env),
      // The board's Redis user is confined to this queue's keys (render/redis-acl.ts).
      `QUEUE_NAME=${GENERATION_QUEUE}`,
      `HTTP_PORT=${APP_HTTP_PORT}`,
      // The ops server listens on loopback unless told otherwise; Caddy and Prometheus reach it over the network.
      "HTTP_HOST=0.0.0.0",
      `SHUTDOWN_GRACE_SECONDS=${config.shutdownGraceSeconds}`,
      `LOG_LEVEL=${config.appLogLevel}`,
      // fal's account limit: the workers never have more requests in progress at fal, the bot estimates waits with it.
      `FAL_CONCURRENCY=${falConcurrency}`,
      // The poll schedule (the fallback with webhooks): with polling, a slot stays taken until a poll sees the job done.
      `POLL_INITIAL_SECONDS=${plan.provider.pollInitialSeconds}`,
      `POLL_MAX_SECONDS=${plan.provider.pollMaxSeconds}`,
      // As the plan has it (tapbot:capacity.falCompletion, webhook unless set to poll): fal posts each completion
      // to the bot (the workers submit with it) and polls are only the fallback, so a slot frees as fal finishes.
      ...(plan.provider.falCompletion === "webhook"
        ? [`FAL_WEBHOOK_URL=https://${config.botDomain}${FAL_WEBHOOK_PATH}`]
        : []),
      // How long a request holds a slot, the plan's S: the bot's wait estimates count in it.
      `FAL_SLOT_SECONDS=${plan.provider.slotSeconds.toFixed(1)}`,
      ...extra,
    ];
    // Prometheus on the data host scrapes /metrics over the tunnel: each process publishes its ops port on
    // the automation host's tunnel address only (monitoring-targets.ts numbers them).
    const metricsPort = (role: "bot" | "worker", n: number) => ({
      internal: APP_HTTP_PORT,
      external: appMetricsPort(role, n),
      ip: config.automationTunnelAddress,
    });
    const healthcheck = [
      "CMD",
      "node",
      "-e",
      `fetch("http://127.0.0.1:${APP_HTTP_PORT}/healthz").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
    ];
    const stopGraceSeconds = containerStopSeconds(config.shutdownGraceSeconds);
    const workerPlan = servicePlan(plan, "worker");
    if (args.swarm === undefined && workerPlan.replicas !== plan.workers) {
      throw new Error(
        `the plan's worker service has ${workerPlan.replicas} replicas but plan.workers is ${plan.workers}`,
      );
    }
    const roles = {
      bot: {
        plan: servicePlan(plan, "bot"),
        command: ["node", "dist/app/bot/main.js"],
        files: secretFiles([
          secretFile("WEBHOOK_SECRET", webhookSecretOf(secrets.telegramBotToken), APP_UID),
        ]),
        extra: [
          "BOT_MODE=webhook",
          `WEBHOOK_URL=https://${config.botDomain}${BOT_WEBHOOK_PATH}`,
          // The caps on paid generations (tapbot:capacity.spendingCaps), which the plan judged against its demand.
          `QUOTA_FREE_PER_DAY=${plan.spendingCaps.freePerDay}`,
          `QUOTA_VIP_PER_DAY=${plan.spendingCaps.vipPerDay}`,
          `GENERATION_BUDGET_PER_HOUR=${plan.spendingCaps.perHour}`,
        ],
      },
      worker: {
        plan: workerPlan,
        command: ["node", "dist/app/worker/main.js"],
        files: secretFiles([]),
        extra: [`WORKER_CONCURRENCY=${plan.workerConcurrency}`],
      },
    };
    this.bots = [];
    this.workers = [];
    this.stack =
      args.swarm === undefined
        ? undefined
        : this.deployStack(
            name,
            args.swarm,
            roles,
            env,
            stopGraceSeconds,
            healthcheck,
            config.workerBatchSize,
            [...args.dependsOn, this.image, ...this.hostImages, this.oldBotCheck, ...args.swarm.dependsOn],
          );
    let previousStage: docker.Container[] = [];
    const stages =
      args.swarm === undefined
        ? rolloutStages(botReplicasOf(plan), plan.workers, config.workerBatchSize)
        : [];
    for (const stage of stages) {
      const role = roles[stage.role];
      const containers = stage.indices.map((index) =>
        serviceContainer(
          `${name}-${stage.role}-${index + 1}`,
          {
            containerName: `tapbot-${stage.role}-${index + 1}`,
            image: this.imageName,
            plan: role.plan,
            command: role.command,
            envs: env(role.files, role.extra),
            uploads: role.files.map((f) => f.upload),
            healthcheck,
            network: args.network,
            ports: [metricsPort(stage.role, index + 1)],
            stopGraceSeconds,
          },
          { ...child, dependsOn: [...args.dependsOn, this.image, this.oldBotCheck, ...previousStage] },
        ),
      );
      (stage.role === "bot" ? this.bots : this.workers).push(...containers);
      previousStage = containers;
    }
    // Its two secrets as files only the app's user reads, as the bot's and the workers' are.
    const boardFiles = [
      secretFile("REDIS_URL", args.boardRedisUrl, APP_UID),
      secretFile("BOARD_PASSWORD_HASH", secrets.boardPasswordHash, APP_UID),
    ];
    this.board = serviceContainer(
      `${name}-board`,
      {
        containerName: BOARD_CONTAINER,
        image: this.imageName,
        plan: servicePlan(plan, "board"),
        command: ["node", "dist/app/board/main.js"],
        envs: [
          ...boardFiles.map((f) => f.env),
          `QUEUE_NAME=${GENERATION_QUEUE}`,
          `HTTP_PORT=${BOARD_HTTP_PORT}`,
          // Inside its container only: Caddy reaches it over the app's network, and no port is published.
          "HTTP_HOST=0.0.0.0",
          `LOG_LEVEL=${config.appLogLevel}`,
        ],
        uploads: boardFiles.map((f) => f.upload),
        healthcheck: [
          "CMD",
          "node",
          "-e",
          `fetch("http://127.0.0.1:${BOARD_HTTP_PORT}/healthz").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
        ],
        network: args.network,
        stopGraceSeconds,
      },
      { ...child, dependsOn: [...args.dependsOn, this.image] },
    );
    this.registerOutputs({});
  }

  /**
   * The bot and the workers as the Swarm stack of render/swarm-stack.ts: the same command, environment and
   * secret files as the containers, each secret a Swarm secret mounted where the container's upload would be.
   */
  private deployStack(
    name: string,
    swarm: AppSwarm,
    roles: Record<"bot" | "worker", { command: string[]; files: SecretFile[]; extra: string[] }>,
    env: (files: SecretFile[], extra: pulumi.Input<string>[]) => pulumi.Input<string>[],
    stopGraceSeconds: number,
    healthcheck: string[],
    workerBatchSize: number,
    dependsOn: pulumi.Input<pulumi.Resource>[],
  ): command.remote.Command {
    const plan = this.plan;
    const roleNames = ["bot", "worker"] as const;
    const script = pulumi
      .all(
        roleNames.map((role) =>
          pulumi.all([
            pulumi.all(env(roles[role].files, roles[role].extra)),
            pulumi.all(roles[role].files.map((f) => pulumi.output(f.upload.content))),
          ]),
        ),
      )
      .apply((resolved) => {
        const secretValues = new Map<string, string>();
        const services: StackService[] = roleNames.map((role, i) => {
          const [environment, values] = resolved[i] ?? [[], []];
          const secrets: StackSecret[] = roles[role].files.map((file, j) => {
            const target = file.upload.file.replace(/^.*\//, "");
            const source = swarmSecretName(target, values[j] ?? "");
            secretValues.set(source, values[j] ?? "");
            return { source, target, uid: APP_UID };
          });
          return {
            name: role,
            placements: role === "bot" ? botPlacements(plan) : servicePlacements(plan, "worker"),
            command: roles[role].command,
            environment,
            secrets,
            healthcheck,
          };
        });
        return renderStackDeployScript({
          stack: SWARM_STACK,
          stackFile: renderSwarmStack({
            image: this.imageName,
            services,
            network: swarm.network,
            stopGraceSeconds,
            workerBatchSize,
          }),
          secrets: [...secretValues].map(([secretName, value]) => ({ name: secretName, value })),
        });
      });
    const secretScript = pulumi.secret(script);
    return remoteScript(`${name}-stack`, swarm.manager, secretScript, secretScript.apply(scriptHash), {
      parent: this,
      dependsOn,
      secretOutput: true,
    });
  }
}
