import { stringify } from "yaml";
import type { ServicePlan } from "../../capacity/index.js";
import { workerBatches } from "../worker-batches.js";

/** The Swarm stack's name: `docker stack deploy … tapbot`; every service is `tapbot_<service>-<host>`. */
export const SWARM_STACK = "tapbot";

/** The node label every host carries (`docker node update --label-add tapbot.host=<plan host>`). */
export const HOST_LABEL = "tapbot.host";

/** A Docker secret handed to the service as a file under /run/secrets (the app reads `NAME_FILE`). */
export interface StackSecret {
  /** The Swarm secret object's name (versioned: Swarm secrets cannot change, a new value is a new object). */
  source: string;
  /** The file under /run/secrets, e.g. `telegram_bot_token`. */
  target: string;
  /** The user that reads it, alone (mode 0400). */
  uid: number;
}

/** One app service of the stack (bot or worker), placed by the plan on one or more hosts. */
export interface StackService {
  name: "bot" | "worker";
  /** The plan's placements of this service, one per host (`servicePlacements`). */
  placements: Pick<ServicePlan, "host" | "replicas" | "limitMB" | "reservationMB">[];
  command: string[];
  /** `NAME=value` lines (no secrets: those go in {@link StackService.secrets}). */
  environment: string[];
  secrets: StackSecret[];
  /** The healthcheck's test (`CMD …`); Swarm counts a task as started when it passes. */
  healthcheck: string[];
}

/** Inputs of {@link renderSwarmStack}. */
export interface SwarmStackOptions {
  /** The app image, loaded on every host that runs a task (no registry: `--resolve-image never`). */
  image: string;
  services: StackService[];
  /** The attachable overlay network (made after `swarm init`) that Redis and Caddy join too. */
  network: string;
  /** Seconds between SIGTERM and SIGKILL (`containerStopSeconds`): the app finishes or hands back its work. */
  stopGraceSeconds: number;
  /** `tapbot:workerBatchSize`: workers replaced at a time, as the plain containers are. */
  workerBatchSize: number;
  /** How long Swarm watches a replaced task before it counts the update as good. @defaultValue 30 */
  monitorSeconds?: number;
  /** Seconds between healthchecks; a task counts as started at its first pass. @defaultValue 15 */
  healthIntervalSeconds?: number;
}

/** Compose interpolates `${…}` and `$NAME` in every string; the program's texts mean their `$` literally. */
function literal(text: string): string {
  return text.replaceAll("$", "$$$$");
}

/** The Swarm service of one placement: `<service>-<host>` (the stack prefixes `tapbot_`). */
export function swarmServiceName(service: string, host: string): string {
  return `${service}-${host}`;
}

/** The name other containers on the overlay network reach a placement's tasks by (dnsrr: every task's address). */
export function swarmServiceHost(service: string, host: string): string {
  return `${SWARM_STACK}_${swarmServiceName(service, host)}`;
}

/**
 * How a new image replaces one placement's tasks. `docker stack deploy` updates every service at once, so each
 * placement must stay up by itself:
 * - the bot, one task at a time, start-first: the new task passes its healthcheck before the old one gets
 *   SIGTERM, so a placement of one replica never leaves its host without a bot (stop-first would, on every host
 *   at once). The next replacement waits the stop grace (`delay`), and Swarm stops the old task only then, so
 *   one old bot drains at a time: the host holds one bot more than the plan during the update, two for the
 *   moment an old one drains while the next starts (measured in tests/containers/swarm.test.ts).
 * - the workers, in the batches of {@link workerBatches} (at most half of a placement), stop-first: a stopping
 *   worker hands its jobs back within the grace and the rest of the placement (and every other host's) keeps
 *   taking them, and the host never holds more worker memory than the plan gives it.
 */
export function updateConfig(
  service: StackService["name"],
  replicas: number,
  options: Pick<SwarmStackOptions, "workerBatchSize" | "stopGraceSeconds" | "monitorSeconds">,
) {
  const common = { failure_action: "rollback", monitor: `${options.monitorSeconds ?? 30}s` };
  return service === "bot"
    ? { ...common, parallelism: 1, delay: `${options.stopGraceSeconds}s`, order: "start-first" }
    : {
        ...common,
        parallelism: workerBatches(replicas, options.workerBatchSize)[0]?.length ?? 1,
        delay: "0s",
        order: "stop-first",
      };
}

/**
 * The compose file `docker stack deploy` takes for the bot and the workers: one Swarm service per placement of
 * the plan (service × host), with the plan's replicas, memory limit and reservation, the constraint
 * `node.labels.tapbot.host == <host>`, `endpoint_mode: dnsrr` (Caddy and Prometheus want every task, not a
 * virtual IP, and nothing is published), the stop grace and the update order of {@link updateConfig}. Pure:
 * the program deploys exactly this text and the Swarm test deploys it on a real engine.
 */
export function renderSwarmStack(options: SwarmStackOptions): string {
  if (!Number.isInteger(options.stopGraceSeconds) || options.stopGraceSeconds < 1) {
    throw new Error(`stop grace must be whole seconds ≥ 1; got ${options.stopGraceSeconds}`);
  }
  const services: Record<string, unknown> = {};
  const secrets: Record<string, { external: true }> = {};
  for (const service of options.services) {
    if (service.placements.length === 0) throw new Error(`the plan places no ${service.name} replica`);
    for (const placement of service.placements) {
      if (placement.reservationMB > placement.limitMB) {
        throw new Error(
          `${service.name} on ${placement.host}: reservation ${placement.reservationMB} MB exceeds its limit ${placement.limitMB} MB`,
        );
      }
      for (const secret of service.secrets) secrets[secret.source] = { external: true };
      services[swarmServiceName(service.name, placement.host)] = {
        image: options.image,
        command: service.command.map(literal),
        environment: service.environment.map(literal),
        secrets: service.secrets.map((s) => ({
          source: s.source,
          target: s.target,
          uid: String(s.uid),
          gid: String(s.uid),
          mode: 0o400,
        })),
        healthcheck: {
          test: service.healthcheck.map(literal),
          interval: `${options.healthIntervalSeconds ?? 15}s`,
          timeout: "5s",
          retries: 5,
          start_period: "60s",
        },
        stop_signal: "SIGTERM",
        stop_grace_period: `${options.stopGraceSeconds}s`,
        networks: [options.network],
        deploy: {
          mode: "replicated",
          replicas: placement.replicas,
          endpoint_mode: "dnsrr",
          placement: { constraints: [`node.labels.${HOST_LABEL} == ${placement.host}`] },
          resources: {
            limits: { memory: `${placement.limitMB}M` },
            reservations: { memory: `${placement.reservationMB}M` },
          },
          restart_policy: { condition: "any", delay: "5s" },
          update_config: updateConfig(service.name, placement.replicas, options),
          rollback_config: updateConfig(service.name, placement.replicas, options),
        },
      };
    }
  }
  const document = {
    version: "3.8",
    services,
    networks: { [options.network]: { external: true } },
    ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
  };
  return `# Managed by tapbot infra (Pulumi): the bot and the workers as Swarm services placed by the plan.\n${stringify(document)}`;
}
