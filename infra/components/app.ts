import { join } from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Plan } from "../../capacity/index.js";
import type { InfraConfig } from "../config.js";
import { appMetricsPort } from "../monitoring-targets.js";
import { servicePlan } from "../plan-services.js";
import { workerBatches } from "../worker-batches.js";
import { serviceContainer } from "./service-container.js";

/** The app's ops port (HTTP_PORT): /healthz and /metrics. */
export const APP_HTTP_PORT = 8080;

/** Inputs of {@link App}. */
export interface AppArgs {
  config: InfraConfig;
  plan: Plan;
  provider: docker.Provider;
  /** The repository root: build context; the Dockerfile is app/Dockerfile. */
  repoRoot: string;
  /** Content hash of app/ and the build inputs: the image tag. */
  sourceHash: string;
  network: pulumi.Input<string>;
  redisUrl: pulumi.Output<string>;
  databaseUrl: pulumi.Output<string>;
  dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * The bot and its workers, from one image built on the automation host and tagged by the content of its
 * sources. Exactly `plan.workers` worker containers, each with WORKER_CONCURRENCY = plan.workerConcurrency
 * and the plan's memory limit and reservation; a new image replaces them batch after batch (each batch
 * depends on the previous one and Pulumi waits for it to be healthy), never all at once.
 */
export class App extends pulumi.ComponentResource {
  readonly image: docker.Image;
  readonly bot: docker.Container;
  readonly workers: docker.Container[];

  constructor(name: string, args: AppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tapbot:infra:App", name, {}, opts);
    const { config, plan, provider } = args;
    const child = { parent: this, provider };
    const secrets = config.secrets;
    this.image = new docker.Image(
      `${name}-image`,
      {
        imageName: `tapbot-app:${args.sourceHash}`,
        build: {
          context: args.repoRoot,
          dockerfile: join(args.repoRoot, "app", "Dockerfile"),
          platform: "linux/amd64",
        },
        skipPush: true,
      },
      { ...child, dependsOn: args.dependsOn },
    );
    const env = (extra: string[]): pulumi.Input<string>[] => [
      pulumi.interpolate`TELEGRAM_BOT_TOKEN=${secrets.telegramBotToken}`,
      pulumi.interpolate`FAL_KEY=${secrets.falKey}`,
      pulumi.interpolate`REDIS_URL=${args.redisUrl}`,
      pulumi.interpolate`DATABASE_URL=${args.databaseUrl}`,
      `HTTP_PORT=${APP_HTTP_PORT}`,
      `LOG_LEVEL=${config.appLogLevel}`,
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
    this.bot = serviceContainer(
      `${name}-bot`,
      {
        containerName: "tapbot-bot",
        image: this.image.imageName,
        plan: servicePlan(plan, "bot"),
        command: ["node", "dist/app/bot/main.js"],
        envs: env(["BOT_MODE=polling"]),
        healthcheck,
        network: args.network,
        ports: [metricsPort("bot", 1)],
      },
      { ...child, dependsOn: args.dependsOn },
    );

    const workerPlan = servicePlan(plan, "worker");
    if (workerPlan.replicas !== plan.workers) {
      throw new Error(
        `the plan's worker service has ${workerPlan.replicas} replicas but plan.workers is ${plan.workers}`,
      );
    }
    this.workers = [];
    let previousBatch: docker.Container[] = [];
    for (const batch of workerBatches(plan.workers, config.workerBatchSize)) {
      const containers = batch.map((index) =>
        serviceContainer(
          `${name}-worker-${index + 1}`,
          {
            containerName: `tapbot-worker-${index + 1}`,
            image: this.image.imageName,
            plan: workerPlan,
            command: ["node", "dist/app/worker/main.js"],
            envs: env([`WORKER_CONCURRENCY=${plan.workerConcurrency}`]),
            healthcheck,
            network: args.network,
            ports: [metricsPort("worker", index + 1)],
          },
          { ...child, dependsOn: [...args.dependsOn, ...previousBatch] },
        ),
      );
      this.workers.push(...containers);
      previousBatch = containers;
    }
    this.registerOutputs({});
  }
}
