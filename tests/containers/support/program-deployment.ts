import { chown, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Plan } from "../../../capacity/index.js";
import { BOT_WEBHOOK_PATH, botUpstreams, FAL_WEBHOOK_PATH } from "../../../infra/components/app.js";
import { renderWebhookRoute } from "../../../infra/render/caddyfile.js";
import { botReplicasOf } from "../../../infra/rollout-order.js";
import { runTool } from "../../infra/helpers/run-tool.js";
import { plainStackConfig, stackPlan } from "../../infra/helpers/stack-config.js";
import { type FakeFal, startFakeFal } from "../../support/fake-fal.js";
import { type FakeTelegram, startFakeTelegram } from "../../support/fake-telegram.js";
import { makeTempDir, removeTempDir } from "../../support/temp-dir.js";
import { waitUntil } from "../../support/wait-until.js";
import { dockerCreateArgs } from "./docker-run-args.js";
import { type Dockerd, startDockerd } from "./dockerd.js";
import { type HostLink, linkHost } from "./host-link.js";
import { APP_IMAGE, appImage } from "./lane-images.js";
import { type DeclaredContainer, programDeclaration } from "./program-containers.js";
import {
  CADDY_IMAGE,
  importCaddyImage,
  importPostgresImage,
  importRedisImage,
  POSTGRES_IMAGE,
  REDIS_IMAGE,
} from "./service-images.js";

/**
 * The Pulumi program's containers for the prod plan (300 users) deployed on real engines with exactly the
 * declared inputs (docker-run-args.ts): two dockerd in two network namespaces standing in for the hosts,
 * joined by a veth standing in for the WireGuard tunnel, each holding its tunnel address; the fakes
 * (Telegram, fal) on the test host behind a link to the automation host; Redis and PostgreSQL (Debian's
 * packages), the roles script, the program's webhook route in Debian's Caddy, then the bots, workers and
 * queue dashboard (the lane's build of app/Dockerfile tagged as the program's image), in `pulumi up`'s order.
 * Shared by tests/containers/program-containers.test.ts and `npm run bench:containers`.
 *
 * Not started (no registry here, so no image, and a stand-in would test the stand-in): n8n, the program's
 * Caddy container itself (its domains and certificates), Directus, Qdrant, Prometheus, Alertmanager, Grafana,
 * cAdvisor, node-exporter, the Redis and PostgreSQL exporters. Their declarations are still translated.
 */
export const STARTED = new Set(["redis", "postgres", "bot", "worker", "board"]);
/** The program's script that gives PostgreSQL the app's roles, run on the data host after the container. */
const ROLES_SCRIPT = "data-postgres-roles";
/** The fakes' token and key, given to the program as its stack secrets (the test stack's are placeholders). */
export const TELEGRAM_TOKEN = "123456:program-containers-test-token";
const FAL_KEY = "program-containers:fal-key";
const STACK_OVERRIDES = { "tapbot:telegramBotToken": TELEGRAM_TOKEN, "tapbot:falKey": FAL_KEY };
/** Caddy's plain-HTTP port in its container. */
const CADDY_PORT = 8081;

/** Ports on the test host's link (the fakes) and on the tunnel address (Caddy): each user's own range. */
export interface DeploymentPorts {
  telegram: number;
  falQueue: number;
  falRest: number;
  caddy: number;
}

export interface DeploymentOptions {
  ports: DeploymentPorts;
  /** fal's time per job in the fake, ms (a number, or a draw per job). */
  falProcessingMs?: number;
  /** The fake fal's account limit (jobs IN_PROGRESS at once); none when absent. */
  falAccountConcurrency?: number;
}

export interface DeploymentHost {
  engine: Dockerd;
  tunnelAddress: string;
}

export interface StartedContainer {
  name: string;
  host: DeploymentHost;
  /** The plan's service: tapbot-bot-2 → bot. */
  service: string;
  id: string;
}

export interface ProgramDeployment {
  plan: Plan;
  declared: DeclaredContainer[];
  hosts: Record<"automation" | "data", DeploymentHost>;
  /** The containers running now, in start order (a replaced one is removed and its successor appended). */
  started: StartedContainer[];
  telegram: FakeTelegram;
  fal: FakeFal;
  /** Caddy's address as the test host reaches it: where fake Telegram and fake fal post their webhooks. */
  webhookRoot: string;
  /** The only inputs changed from the program's for the app containers (see {@link withEnv}). */
  appOverrides: Record<string, string>;
  /** Creates and starts one declared container on `host`, its uploads written as host files first. */
  start(container: DeclaredContainer, host: DeploymentHost, images: Record<string, string>): Promise<void>;
  /** Waits until each named container is healthy by its own healthcheck; fails with its logs when one is not. */
  waitHealthy(names: string[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The only inputs changed from the program's: the app's outside services point at the fakes on the test
 * host (TELEGRAM_API_ROOT, fal's URLs), and fal's webhooks go to Caddy's plain-HTTP port instead of
 * https://bot.tapbot.kz. The program sets none of these but FAL_WEBHOOK_URL (production uses
 * the defaults), so `overrides` adds them and replaces that one.
 */
export function withEnv(container: DeclaredContainer, overrides: Record<string, string>): DeclaredContainer {
  const kept = (container.inputs.envs ?? []).filter((e) => !Object.hasOwn(overrides, e.split("=")[0] ?? ""));
  return {
    ...container,
    inputs: {
      ...container.inputs,
      envs: [...kept, ...Object.entries(overrides).map(([k, v]) => `${k}=${v}`)],
    },
  };
}

/** The plan's service of a container: tapbot-bot-2 → bot. */
export const serviceOf = (container: string) => container.replace(/^tapbot-/, "").replace(/-\d+$/, "");

export function declaredByName(declared: readonly DeclaredContainer[], name: string): DeclaredContainer {
  const found = declared.find((c) => c.inputs.name === name);
  if (found === undefined) throw new Error(`the program declares no ${name}`);
  return found;
}

function hostOf(plan: Plan, service: string): string {
  const host = plan.hosts.find((h) => h.services.some((s) => s.name === service));
  if (host === undefined) throw new Error(`the plan places no ${service}`);
  return host.name;
}

/** The plan's entry of a service: its replicas, memory limit and reservation. */
export function limitsOf(plan: Plan, service: string) {
  const found = plan.hosts.flatMap((h) => h.services).find((s) => s.name === service);
  if (found === undefined) throw new Error(`the plan has no ${service}`);
  return found;
}

/** A started container's cgroup (v1 memory controller) directory: where its limit and usage are read. */
export function memoryCgroup(entry: StartedContainer): string {
  return `/sys/fs/cgroup/memory/${entry.host.engine.cgroupParent}/${entry.id}`;
}

/** A container's memory.* file of its cgroup, as a number. */
export async function cgroupNumber(entry: StartedContainer, file: string): Promise<number> {
  return Number(await readFile(join(memoryCgroup(entry), file), "utf8"));
}

/** `ip` in a namespace, failing loudly. */
async function ip(netns: string, args: string[]): Promise<void> {
  const result = await runTool("ip", ["-n", netns, ...args]);
  if (result.code !== 0) throw new Error(`ip -n ${netns} ${args.join(" ")}: ${result.stderr}`);
}

async function health(host: DeploymentHost, name: string): Promise<string> {
  const out = await host.engine.docker(["inspect", "--format", "{{.State.Health.Status}}", name]);
  return out.stdout.trim();
}

/**
 * Deploys the prod plan's bots, workers, board, Redis and PostgreSQL as described above and returns once
 * they are started (not yet healthy: {@link ProgramDeployment.waitHealthy}). On failure everything started
 * so far is stopped before the error is thrown.
 */
export async function deployProgram(options: DeploymentOptions): Promise<ProgramDeployment> {
  const { ports } = options;
  const plan = stackPlan(300);
  const { containers: declared, scripts } = await programDeclaration(STACK_OVERRIDES);
  const config = plainStackConfig(300);
  const uploadDir = await makeTempDir("uploads");
  const started: StartedContainer[] = [];
  const stoppers: (() => Promise<void>)[] = [async () => removeTempDir(uploadDir)];
  const stop = async () => {
    for (const s of stoppers.splice(0).reverse()) await s();
  };
  try {
    const automationEngine = await startDockerd();
    stoppers.push(() => automationEngine.stop());
    const dataEngine = await startDockerd({ bridgeCidr: "10.213.1.1/24" });
    stoppers.push(() => dataEngine.stop());
    const hosts = {
      automation: { engine: automationEngine, tunnelAddress: config.automationTunnelAddress },
      data: { engine: dataEngine, tunnelAddress: config.dataTunnelAddress },
    };
    const a = hosts.automation;
    const d = hosts.data;
    // The tunnel: a veth between the two hosts' namespaces, each end holding its host's tunnel address.
    const tag = a.engine.netns.slice(-6);
    await ip(a.engine.netns, [
      "link",
      "add",
      `tun${tag}`,
      "type",
      "veth",
      "peer",
      "name",
      `tun${tag}d`,
      "netns",
      d.engine.netns,
    ]);
    await ip(a.engine.netns, ["addr", "add", `${a.tunnelAddress}/24`, "dev", `tun${tag}`]);
    await ip(d.engine.netns, ["addr", "add", `${d.tunnelAddress}/24`, "dev", `tun${tag}d`]);
    await ip(a.engine.netns, ["link", "set", `tun${tag}`, "up"]);
    await ip(d.engine.netns, ["link", "set", `tun${tag}d`, "up"]);

    // The test host: the fakes, reached by the containers over a link to the automation host, and reaching
    // Caddy's port (published on the tunnel address for the test) over it, as the internet reaches 443.
    const link: HostLink = await linkHost(a.engine, a.tunnelAddress);
    stoppers.push(() => link.stop());
    const webhookRoot = `http://${a.tunnelAddress}:${ports.caddy}`;
    const telegram = await startFakeTelegram({
      token: TELEGRAM_TOKEN,
      webhookTarget: (url) => `${webhookRoot}${new URL(url).pathname}`,
    });
    stoppers.push(() => telegram.stop());
    const fal = await startFakeFal({
      key: FAL_KEY,
      processingMs: options.falProcessingMs ?? 200,
      ...(options.falAccountConcurrency === undefined
        ? {}
        : { accountConcurrency: options.falAccountConcurrency }),
    });
    stoppers.push(() => fal.stop());
    const telegramRoot = await link.forward(Number(new URL(telegram.apiRoot).port), ports.telegram);
    const falQueueRoot = await link.forward(Number(new URL(fal.queueUrl).port), ports.falQueue);
    const falRestRoot = await link.forward(Number(new URL(fal.restUrl).port), ports.falRest);
    // The picture's URL fal hands the worker must be one it can reach from its container.
    fal.setPublicOrigins({ queue: falQueueRoot, rest: falRestRoot });
    const appOverrides = {
      TELEGRAM_API_ROOT: telegramRoot,
      FAL_QUEUE_URL: falQueueRoot,
      FAL_REST_URL: falRestRoot,
      FAL_JWKS_URL: `${falRestRoot}${new URL(fal.jwksUrl).pathname}`,
      FAL_WEBHOOK_URL: `${webhookRoot}${FAL_WEBHOOK_PATH}`,
    };

    const start = async (
      container: DeclaredContainer,
      host: DeploymentHost,
      images: Record<string, string>,
    ): Promise<void> => {
      const create = dockerCreateArgs(container.inputs, { uploadDir, images });
      for (const file of create.files) {
        await mkdir(dirname(file.hostPath), { recursive: true });
        await writeFile(file.hostPath, file.content, { mode: file.mode });
        await chown(file.hostPath, file.uid, file.gid);
      }
      const id = (await host.engine.mustDocker(["create", ...create.args])).trim();
      for (const extra of create.connect) {
        await host.engine.mustDocker([
          "network",
          "connect",
          ...extra.aliases.flatMap((alias) => ["--alias", alias]),
          extra.network,
          create.name,
        ]);
      }
      await host.engine.mustDocker(["start", create.name]);
      started.push({ name: create.name, host, service: serviceOf(create.name), id });
    };

    const waitHealthy = async (names: string[]): Promise<void> => {
      for (const name of names) {
        const entry = started.find((s) => s.name === name);
        if (entry === undefined) throw new Error(`${name} was not started`);
        try {
          await waitUntil(async () => ((await health(entry.host, name)) === "healthy" ? true : undefined), {
            timeoutMs: 150_000,
            intervalMs: 500,
            describe: () => `${name} did not become healthy`,
          });
        } catch (error) {
          const logs = await entry.host.engine.docker(["logs", "--tail", "30", name]);
          const probe = await entry.host.engine.docker([
            "inspect",
            "--format",
            "{{json .State.Health}}",
            name,
          ]);
          throw new Error(
            `${(error as Error).message}: ${await health(entry.host, name)}; its last probes: ${probe.stdout.slice(-800)}\nits log:\n${logs.stdout}${logs.stderr}`,
          );
        }
      }
    };

    const byName = (name: string) => declaredByName(declared, name);
    const build = await appImage(a.engine);
    if (build.code !== 0) throw new Error(`the app image did not build:\n${build.outputTail}`);
    const appTag = byName("tapbot-bot-1").inputs.image;
    await a.engine.mustDocker(["tag", APP_IMAGE, appTag]);
    await importRedisImage(a.engine);
    await importPostgresImage(d.engine);
    const images = {
      [byName("tapbot-redis").inputs.image]: REDIS_IMAGE,
      [byName("tapbot-postgres").inputs.image]: POSTGRES_IMAGE,
    };
    for (const [name, host] of Object.entries(hosts)) {
      const networks = new Set(
        declared
          .filter((c) => STARTED.has(serviceOf(c.inputs.name)))
          .filter((c) => hostOf(plan, serviceOf(c.inputs.name)) === name)
          .flatMap((c) => (c.inputs.networksAdvanced ?? []).map((n) => n.name)),
      );
      for (const network of networks) await host.engine.mustDocker(["network", "create", network]);
    }
    const hostFor = (c: DeclaredContainer) =>
      hosts[hostOf(plan, serviceOf(c.inputs.name)) as keyof typeof hosts];

    // As `pulumi up` orders them: the data services, the roles script once PostgreSQL is healthy, the app.
    for (const name of ["tapbot-redis", "tapbot-postgres"])
      await start(byName(name), hostFor(byName(name)), images);
    // `wait: true`: each is healthy before `pulumi up` goes on to what depends on it.
    await waitHealthy(["tapbot-redis", "tapbot-postgres"]);
    const roles = scripts.get(ROLES_SCRIPT);
    if (roles === undefined) throw new Error(`the program has no ${ROLES_SCRIPT} script`);
    const ran = await runTool("bash", ["-s"], {
      input: roles,
      env: { ...process.env, DOCKER_HOST: d.engine.host, DOCKER_CONFIG: join(d.engine.dir, "client") },
      timeoutMs: 60_000,
    });
    if (ran.code !== 0) throw new Error(`${ROLES_SCRIPT} failed: ${ran.stderr}`);
    await startCaddy(a, byName("tapbot-bot-1").inputs.networksAdvanced?.[0]?.name ?? "", {
      plan,
      uploadDir,
      port: ports.caddy,
    });
    for (const container of declared) {
      const service = serviceOf(container.inputs.name);
      if (!STARTED.has(service) || service === "redis" || service === "postgres") continue;
      await start(
        service === "board" ? container : withEnv(container, appOverrides),
        hostFor(container),
        images,
      );
    }
    return {
      plan,
      declared,
      hosts,
      started,
      telegram,
      fal,
      webhookRoot,
      appOverrides,
      start,
      waitHealthy,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The program's webhook route (infra/render/caddyfile.ts, the paths and upstreams it gives the automation
 * host's Caddy) in Debian's Caddy on the app's network, on plain HTTP, its port published on the tunnel
 * address for the test host: Telegram's and fal's webhooks reach the bots the way they do in production,
 * balanced and retried on the other replica while one is replaced.
 */
async function startCaddy(
  host: DeploymentHost,
  network: string,
  o: { plan: Plan; uploadDir: string; port: number },
): Promise<void> {
  await importCaddyImage(host.engine);
  const route = renderWebhookRoute({
    paths: [BOT_WEBHOOK_PATH, FAL_WEBHOOK_PATH],
    upstreams: botUpstreams(botReplicasOf(o.plan)),
  });
  const caddyfile = join(o.uploadDir, "caddy/Caddyfile");
  await mkdir(dirname(caddyfile), { recursive: true });
  await writeFile(caddyfile, `{\n\tadmin off\n\tauto_https off\n}\n:${CADDY_PORT} {\n${route}}\n`);
  await host.engine.mustDocker([
    "run",
    "-d",
    "--name",
    "tapbot-caddy-route",
    "--network",
    network,
    "-p",
    `${host.tunnelAddress}:${o.port}:${CADDY_PORT}`,
    "-v",
    `${caddyfile}:/etc/caddy/Caddyfile:ro`,
    CADDY_IMAGE,
  ]);
}
