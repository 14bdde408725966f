import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Plan } from "../../capacity/index.js";
import { APP_HTTP_PORT, BOT_WEBHOOK_PATH } from "../../infra/components/app.js";
import { relayPlacements } from "../../infra/monitoring-targets.js";
import { servicePlacements } from "../../infra/plan-services.js";
import { containerNamePattern } from "../../infra/render/alert-rules.js";
import { renderWebhookRoute } from "../../infra/render/caddyfile.js";
import { dockerDaemonSettings } from "../../infra/render/docker-daemon.js";
import { renderMetricsRelayConfig } from "../../infra/render/metrics-relay-config.js";
import { renderStackDeployScript, renderSwarmInitScript } from "../../infra/render/swarm-scripts.js";
import {
  HOST_LABEL,
  renderSwarmStack,
  type StackService,
  SWARM_STACK,
  swarmServiceHost,
} from "../../infra/render/swarm-stack.js";
import { runTool } from "../infra/helpers/run-tool.js";
import { THIRD_HOST, threeHostPlan } from "../infra/helpers/three-hosts.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { waitUntil } from "../support/wait-until.js";
import { BUSYBOX_IMAGE, importBusyboxImage } from "./support/busybox-image.js";
import { type Dockerd, startDockerd } from "./support/dockerd.js";
import { CADDY_IMAGE, importCaddyImage } from "./support/service-images.js";

/**
 * Issue 11 item 3 on a real engine: a single-node Swarm, made by the program's own init script, on which the
 * stack the program renders for a three-host plan is deployed. The node's `tapbot.host` label stands in for
 * the host it is: labelled automation it runs the bots and not the workers (placed on the third host), then
 * relabelled as the third host it runs the workers and no bot. Busybox stands in for the app: it traps
 * SIGTERM, takes a second to drain and says so, as the app does within SHUTDOWN_GRACE_SECONDS.
 */
/** The stop grace of the test's stack: longer than the stand-in's 1-s drain, short to keep the test fast. */
const STOP_GRACE_SECONDS = 3;
const NETWORK = "tapbot-swarm";
const MiB = 1024 * 1024;
const DRAIN =
  "trap 'echo term; sleep 1; echo drained; exit 0' TERM; echo started; while :; do sleep 1 & wait $!; done";

/**
 * The bots' stand-in: busybox httpd answering the webhook (a CGI) and /healthz, as the bot does. On SIGTERM it
 * stops taking connections (httpd goes), lets what is in flight finish, and exits, as the bot drains.
 */
const BOT = [
  "busybox mkdir -p /tmp/www/cgi-bin",
  "echo '#!/bin/sh' >/tmp/www/cgi-bin/hook",
  "echo 'echo Content-Type: text/plain; echo; echo ok' >>/tmp/www/cgi-bin/hook",
  "busybox chmod 755 /tmp/www/cgi-bin/hook",
  "echo ok >/tmp/www/healthz",
  "httpd -f -p 8080 -h /tmp/www & pid=$!",
  "trap 'echo term; kill $pid; sleep 1; echo drained; exit 0' TERM",
  "echo started",
  "while :; do sleep 1 & wait $!; done",
].join("; ");
/** Telegram's stand-in: a webhook POST through Caddy every 50 ms, each reply's status line printed. */
const LOAD =
  "while :; do printf 'POST /telegram/webhook HTTP/1.0\r\nHost: bot\r\nContent-Length: 2\r\n\r\n{}' | nc caddy 8081 | { read -r status; echo \"$status\"; }; sleep 0.05; done";

let engine: Dockerd;
let caddyDir: string;
let deployed: Plan;

/** Runs a rendered host script against the test engine, as `bash -s` runs it on a host. */
async function runScript(script: string) {
  return runTool("bash", ["-s"], {
    input: script,
    env: { ...process.env, DOCKER_HOST: engine.host, DOCKER_CONFIG: join(engine.dir, "client") },
    timeoutMs: 60_000,
  });
}

/** The stack for the plan, with busybox in the app's place and `generation` marking each deploy. */
function stack(generation: number): string {
  const service = (name: "bot" | "worker"): StackService => ({
    name,
    placements: servicePlacements(deployed, name),
    command: ["sh", "-c", name === "bot" ? BOT : DRAIN],
    environment: [`GENERATION=${generation}`, "TELEGRAM_BOT_TOKEN_FILE=/run/secrets/telegram_bot_token"],
    secrets: [{ source: "tapbot_telegram_bot_token_1", target: "telegram_bot_token", uid: 1000 }],
    healthcheck: ["CMD", "sh", "-c", "exit 0"],
  });
  return renderSwarmStack({
    image: BUSYBOX_IMAGE,
    services: [service("bot"), service("worker")],
    network: NETWORK,
    stopGraceSeconds: STOP_GRACE_SECONDS,
    workerBatchSize: 2,
    monitorSeconds: 1,
    healthIntervalSeconds: 1,
  });
}

async function deploy(generation: number): Promise<void> {
  const result = await runScript(
    renderStackDeployScript({
      stack: SWARM_STACK,
      stackFile: stack(generation),
      secrets: [{ name: "tapbot_telegram_bot_token_1", value: "123456:telegram-token-of-the-test" }],
      // One node plays one host at a time, so the other host's services never converge here.
      convergeSeconds: 0,
    }),
  );
  expect(result.code, result.stderr).toBe(0);
}

interface Task {
  id: string;
  running: boolean;
  generation: string | undefined;
  startedAt: number;
  finishedAt: number | null;
  exitCode: number;
  logs: string;
}

/** Every container (running or exited) of one Swarm service, oldest first. */
async function tasksOf(service: string): Promise<Task[]> {
  const ids = (
    await engine.mustDocker([
      "ps",
      "-aq",
      "--no-trunc",
      "--filter",
      `label=com.docker.swarm.service.name=${service}`,
    ])
  )
    .split("\n")
    .filter((id) => id !== "");
  const tasks: Task[] = [];
  for (const id of ids) {
    const [info] = JSON.parse(await engine.mustDocker(["inspect", id])) as {
      State: { Running: boolean; StartedAt: string; FinishedAt: string; ExitCode: number };
      Config: { Env: string[] };
    }[];
    if (info === undefined) continue;
    const finished = Date.parse(info.State.FinishedAt);
    const logs = await engine.docker(["logs", id]);
    tasks.push({
      id,
      running: info.State.Running,
      generation: info.Config.Env.find((e) => e.startsWith("GENERATION="))?.split("=")[1],
      startedAt: Date.parse(info.State.StartedAt),
      finishedAt: info.State.Running || Number.isNaN(finished) || finished <= 0 ? null : finished,
      exitCode: info.State.ExitCode,
      logs: logs.stdout + logs.stderr,
    });
  }
  return tasks.sort((a, b) => a.startedAt - b.startedAt);
}

/** Waits until exactly `count` tasks of `service` run, all of `generation`, and none is starting. */
async function waitRunning(service: string, count: number, generation?: number): Promise<Task[]> {
  let last: Task[] = [];
  return waitUntil(
    async () => {
      last = await tasksOf(service);
      const running = last.filter((t) => t.running);
      const ok =
        running.length === count &&
        (generation === undefined || running.every((t) => t.generation === String(generation)));
      return ok ? running : undefined;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 250,
      describe: () =>
        `${service}: wanted ${count} running${generation === undefined ? "" : ` of generation ${generation}`}; ${JSON.stringify(last.map((t) => [t.running, t.generation]))}`,
    },
  );
}

/**
 * The fewest and the most tasks that ran at once from the first replacement's start to the update's end,
 * from the containers' own start and stop times.
 */
function runningBounds(tasks: Task[], generation: number): { min: number; max: number } {
  const events = tasks.flatMap((t) => [
    { at: t.startedAt, delta: 1 },
    ...(t.finishedAt === null ? [] : [{ at: t.finishedAt, delta: -1 }]),
  ]);
  // At equal times a stop counts before a start: Docker's clock cannot say which came first.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const from = Math.min(...tasks.filter((t) => t.generation === String(generation)).map((t) => t.startedAt));
  let count = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const event of events) {
    count += event.delta;
    if (event.at >= from) {
      min = Math.min(min, count);
      max = Math.max(max, count);
    }
  }
  return { min, max };
}

/** The memory cgroup's limit of a running container: what the kernel enforces. */
async function memoryLimitOf(id: string): Promise<number> {
  const file = `/sys/fs/cgroup/memory/${engine.cgroupParent}/${id}/memory.limit_in_bytes`;
  return Number((await readFile(file, "utf8")).trim());
}

async function inspectService(service: string) {
  const [spec] = JSON.parse(await engine.mustDocker(["service", "inspect", service])) as {
    Spec: {
      EndpointSpec: { Mode: string };
      TaskTemplate: {
        ContainerSpec: { StopGracePeriod: number };
        Placement: { Constraints: string[] };
        Resources: unknown;
      };
      UpdateConfig: { Parallelism: number; Order: string };
    };
  }[];
  if (spec === undefined) throw new Error(`no service ${service}`);
  return spec.Spec;
}

const bot = swarmServiceHost("bot", "automation");
const worker = swarmServiceHost("worker", THIRD_HOST.name);

beforeAll(async () => {
  deployed = threeHostPlan();
  // Today's daemon.json first: the hosts run with live-restore, which Swarm mode refuses.
  engine = await startDockerd({ settings: dockerDaemonSettings({ logMaxSize: "10m", logMaxFile: 3 }) });
  await importBusyboxImage(engine);
  caddyDir = await makeTempDir("swarm-caddy");
  await importCaddyImage(engine);
});

afterAll(async () => {
  await engine?.stop();
  if (caddyDir !== undefined) await removeTempDir(caddyDir);
});

/** Caddy on the overlay with the program's webhook route to the bot service, on plain HTTP :8081. */
async function startCaddy(upstreams: string[]): Promise<void> {
  // busybox httpd runs CGIs under /cgi-bin only: the stand-in's path, set on the way to it.
  const route = renderWebhookRoute({ paths: [BOT_WEBHOOK_PATH], upstreams }).replace(
    /(\treverse_proxy [^\n]*\{\n)/,
    "$1\t\t\trewrite /cgi-bin/hook\n",
  );
  const caddyfile = join(caddyDir, "Caddyfile");
  await writeFile(caddyfile, `{\n\tadmin off\n\tauto_https off\n}\n:8081 {\n${route}}\n`);
  await engine.mustDocker([
    "run",
    "-d",
    "--name",
    "caddy",
    "--network",
    NETWORK,
    "--network-alias",
    "caddy",
    "-v",
    `${caddyfile}:/etc/caddy/Caddyfile:ro`,
    CADDY_IMAGE,
  ]);
}

/** The status lines the load has had back so far. */
async function loadReplies(): Promise<string[]> {
  const logs = await engine.mustDocker(["logs", "load"]);
  return logs.split("\n").filter((line) => line !== "");
}

describe("the program's Swarm on a real engine (single node, labels standing in for hosts)", () => {
  it("cannot start under today's live-restore; with the Swarm hosts' daemon.json the init script makes a manager on the given address only, labelled, and a second run changes nothing", async () => {
    const init = renderSwarmInitScript({ address: "127.0.0.1", hostName: "automation" });
    const refused = await runScript(init);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/live-restore daemon configuration is incompatible with swarm mode/);

    const path = join(engine.dir, "daemon.json");
    const current = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    const swarmSettings = dockerDaemonSettings({ logMaxSize: "10m", logMaxFile: 3, swarm: true });
    await writeFile(path, JSON.stringify({ ...current, ...swarmSettings }, null, 2));
    await engine.restart();

    const first = await runScript(init);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/labelled tapbot\.host=automation/);
    const again = await runScript(init);
    expect(again.code, again.stderr).toBe(0);
    const [node] = JSON.parse(await engine.mustDocker(["node", "inspect", "self"])) as {
      Status: { Addr: string };
      ManagerStatus: { Addr: string };
      Spec: { Labels: Record<string, string> };
    }[];
    expect(node?.ManagerStatus.Addr).toBe("127.0.0.1:2377");
    expect(node?.Status.Addr).toBe("127.0.0.1");
    expect(node?.Spec.Labels).toEqual({ [HOST_LABEL]: "automation" });
    // Created after `swarm init`: an overlay made before it does not work (a known Docker bug).
    await engine.mustDocker(["network", "create", "--driver", "overlay", "--attachable", NETWORK]);
  });

  it("runs the plan's bots on the automation node with the plan's limits, and holds the third host's workers back", async () => {
    await deploy(1);
    const bots = await waitRunning(bot, servicePlacements(deployed, "bot")[0]?.replicas ?? 0, 1);
    const botPlan = servicePlacements(deployed, "bot")[0];
    expect(botPlan?.host).toBe("automation");
    for (const task of bots) {
      expect(await memoryLimitOf(task.id)).toBe((botPlan?.limitMB ?? 0) * MiB);
      const secret = await engine.mustDocker(["exec", task.id, "cat", "/run/secrets/telegram_bot_token"]);
      expect(secret).toBe("123456:telegram-token-of-the-test");
    }
    const spec = await inspectService(bot);
    expect(spec.EndpointSpec.Mode).toBe("dnsrr");
    expect(spec.TaskTemplate.Placement.Constraints).toEqual([`node.labels.${HOST_LABEL} == automation`]);
    expect(spec.TaskTemplate.ContainerSpec.StopGracePeriod).toBe(STOP_GRACE_SECONDS * 1e9);
    // Swarm's reservation is the scheduler's (a node must have it unreserved), not a cgroup soft limit.
    expect(spec.TaskTemplate.Resources).toEqual({
      Limits: { MemoryBytes: (botPlan?.limitMB ?? 0) * MiB },
      Reservations: { MemoryBytes: (botPlan?.reservationMB ?? 0) * MiB },
    });
    // The workers are placed on the third host, which this node is not (yet).
    expect((await tasksOf(worker)).length).toBe(0);
    const pending = await engine.mustDocker([
      "service",
      "ps",
      worker,
      "--format",
      "{{.CurrentState}} {{.Error}}",
    ]);
    expect(pending).toMatch(/Pending/);
  });

  it("a plain container on the overlay finds every bot task under the metrics relay's DNS name and reads each one's port 8080; the tasks' names match the memory alert's pattern", async () => {
    // The name the relay's rendered config asks (dns_sd_configs, type A) for the bot placement.
    const relay = parse(
      renderMetricsRelayConfig({
        scrapeIntervalSeconds: 15,
        taskPort: APP_HTTP_PORT,
        placements: relayPlacements(deployed),
      }),
    ) as { scrape_configs: { job_name: string; dns_sd_configs: { names: string[]; port: number }[] }[] };
    const sd = relay.scrape_configs.find((j) => j.job_name === "bot")?.dns_sd_configs[0];
    expect(sd?.names).toEqual([`tasks.${bot}`]);
    const addresses: string[] = [];
    for (const task of (await tasksOf(bot)).filter((t) => t.running)) {
      const [info] = JSON.parse(await engine.mustDocker(["inspect", task.id])) as {
        Name: string;
        NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
      }[];
      addresses.push(info?.NetworkSettings.Networks[NETWORK]?.IPAddress ?? "");
      // The name cAdvisor reports, which ContainerMemoryNearLimit's pattern for this placement must match.
      expect(info?.Name.replace(/^\//, "")).toMatch(
        new RegExp(`^${containerNamePattern("bot", "automation")}$`),
      );
    }
    expect(addresses).toHaveLength(servicePlacements(deployed, "bot")[0]?.replicas ?? -1);
    const out = await engine.mustDocker([
      "run",
      "--rm",
      "--network",
      NETWORK,
      BUSYBOX_IMAGE,
      "sh",
      "-c",
      `nslookup -type=a ${sd?.names[0]}; for ip in ${addresses.join(" ")}; do echo "$ip $(wget -qO- http://$ip:${sd?.port}/healthz)"; done`,
    ]);
    // The answer's addresses (the server's own line carries its port, :53).
    const answered = [...out.matchAll(/^Address:\s*([0-9.]+)\s*$/gm)].map((m) => m[1]).sort();
    expect(answered, out).toEqual([...addresses].sort());
    for (const ip of addresses) expect(out).toContain(`${ip} ok`);
  });

  it("replaces the bots one at a time under webhook load through Caddy, a new one up before an old one stops, each old one drained, no request lost", async () => {
    const replicas = servicePlacements(deployed, "bot")[0]?.replicas ?? 0;
    await startCaddy([`${bot}:8080`]);
    await engine.mustDocker([
      "run",
      "-d",
      "--name",
      "load",
      "--network",
      NETWORK,
      BUSYBOX_IMAGE,
      "sh",
      "-c",
      LOAD,
    ]);
    const before = await waitUntil(
      async () => {
        const replies = await loadReplies();
        return replies.length >= 20 ? replies.length : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, describe: () => "the load got no 20 replies through Caddy" },
    );
    await deploy(2);
    await waitRunning(bot, replicas, 2);
    // Wait until every old bot has exited, then for more replies from the new ones alone.
    await waitUntil(
      async () =>
        (await tasksOf(bot)).filter((t) => t.generation === "1" && t.running).length === 0 ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 250, describe: () => "an old bot still runs" },
    );
    const settled = (await loadReplies()).length;
    await waitUntil(async () => ((await loadReplies()).length >= settled + 20 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 250,
      describe: () => "the load got no replies after the update",
    });
    await engine.mustDocker(["stop", "--time", "0", "load"]);
    const replies = await loadReplies();
    // Every webhook POST sent through Caddy during the update was answered by a bot: none lost, none 502.
    expect(replies.length - before).toBeGreaterThanOrEqual(40);
    expect(replies.filter((status) => !/^HTTP\/1\.[01] 200 /.test(status))).toEqual([]);
    const tasks = await tasksOf(bot);
    const old = tasks.filter((t) => t.generation === "1");
    expect(old).toHaveLength(replicas);
    for (const task of old) {
      expect(task.exitCode, task.logs).toBe(0);
      expect(task.logs).toMatch(/started\nterm\ndrained/);
    }
    // start-first, one at a time: never fewer bots than the plan's. Swarm stops an old task when the next
    // replacement starts (after the update's delay, the grace), so for the second an old one drains, two more
    // than the plan's run: the memory a bot update needs on its host beyond the plan (infra/README.md).
    const bounds = runningBounds(tasks, 2);
    expect(bounds.min).toBe(replicas);
    expect(bounds.max).toBeLessThanOrEqual(replicas + 2);
  });

  it("relabelled as the third host, the node runs the plan's workers and no bot; the workers are replaced in batches, stop-first, drained", async () => {
    const placement = servicePlacements(deployed, "worker")[0];
    expect(placement?.host).toBe(THIRD_HOST.name);
    const replicas = placement?.replicas ?? 0;
    const node = (await engine.mustDocker(["info", "--format", "{{.Swarm.NodeID}}"])).trim();
    await engine.mustDocker(["node", "update", "--label-add", `${HOST_LABEL}=${THIRD_HOST.name}`, node]);
    const workers = await waitRunning(worker, replicas, 2);
    await waitRunning(bot, 0);
    for (const task of workers) {
      expect(await memoryLimitOf(task.id)).toBe((placement?.limitMB ?? 0) * MiB);
    }
    const spec = await inspectService(worker);
    expect(spec.UpdateConfig).toMatchObject({ Parallelism: 1, Order: "stop-first" });

    await deploy(3);
    await waitRunning(worker, replicas, 3);
    const tasks = await tasksOf(worker);
    for (const task of tasks.filter((t) => t.generation === "2")) {
      expect(task.exitCode, task.logs).toBe(0);
      expect(task.logs).toMatch(/started\nterm\ndrained/);
    }
    // stop-first, one of two at a time: a worker always takes jobs, and the host never holds more than the plan's.
    expect(runningBounds(tasks, 3)).toEqual({ min: replicas - 1, max: replicas });
  });
});
