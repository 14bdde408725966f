import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerDaemonSettings } from "../../infra/render/docker-daemon.js";
import {
  renderStackDeployScript,
  renderSwarmInitScript,
  renderSwarmJoinScript,
  renderSwarmLabelScript,
  renderSwarmTokenScript,
} from "../../infra/render/swarm-scripts.js";
import { renderSwarmStack, SWARM_STACK, swarmServiceHost } from "../../infra/render/swarm-stack.js";
import { runTool } from "../infra/helpers/run-tool.js";
import { waitUntil } from "../support/wait-until.js";
import { BUSYBOX_IMAGE, importBusyboxImage } from "./support/busybox-image.js";
import { type Dockerd, startDockerd } from "./support/dockerd.js";

/**
 * Two engines, each in a network namespace of its own, joined by a link that stands in for the WireGuard
 * tunnel (10.77.0.1 the automation host, 10.77.0.3 a worker host): the program's init, token, join and label
 * scripts make them one Swarm on those addresses, and a worker task placed on the second node reaches a plain
 * container on the first by name over the overlay (Redis's place: the app's network, attachable), as the
 * workers on a third host reach Redis.
 */
const MANAGER = "10.77.0.1";
const WORKER = "10.77.0.3";
const NETWORK = "tapbot";
const id = randomBytes(3).toString("hex");
const namespaces = { manager: `tbsm-${id}`, worker: `tbsw-${id}` };

let manager: Dockerd;
let worker: Dockerd;

async function ip(args: string[]): Promise<void> {
  const result = await runTool("ip", args);
  if (result.code !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr}`);
}

/** Runs a rendered host script against one engine, as `bash -s` runs it on that host. */
async function runScript(engine: Dockerd, script: string) {
  const result = await runTool("bash", ["-s"], {
    input: script,
    env: { ...process.env, DOCKER_HOST: engine.host, DOCKER_CONFIG: join(engine.dir, "client") },
    timeoutMs: 60_000,
  });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  for (const ns of Object.values(namespaces)) {
    await ip(["netns", "add", ns]);
    await ip(["-n", ns, "link", "set", "lo", "up"]);
  }
  await ip([
    "-n",
    namespaces.manager,
    "link",
    "add",
    "wg0",
    "type",
    "veth",
    "peer",
    "name",
    "wg0",
    "netns",
    namespaces.worker,
  ]);
  for (const [ns, address] of [
    [namespaces.manager, MANAGER],
    [namespaces.worker, WORKER],
  ] as const) {
    await ip(["-n", ns, "addr", "add", `${address}/24`, "dev", "wg0"]);
    await ip(["-n", ns, "link", "set", "wg0", "up"]);
  }
  const settings = dockerDaemonSettings({ logMaxSize: "10m", logMaxFile: 3, swarm: true });
  [manager, worker] = await Promise.all([
    startDockerd({ netns: namespaces.manager, settings }),
    startDockerd({ netns: namespaces.worker, settings, bridgeCidr: "10.215.0.1/24" }),
  ]);
  await Promise.all([importBusyboxImage(manager), importBusyboxImage(worker)]);
});

afterAll(async () => {
  await Promise.all([manager?.stop(), worker?.stop()]);
  for (const ns of Object.values(namespaces)) await runTool("ip", ["netns", "del", ns]);
});

/** A stack of one busybox worker task placed on `host`, running `command`, quick to converge. */
function workerStack(host: string, command: string[]): string {
  return renderSwarmStack({
    image: BUSYBOX_IMAGE,
    services: [
      {
        name: "worker",
        placements: [{ host, replicas: 1, limitMB: 64, reservationMB: 32 }],
        command,
        environment: [],
        secrets: [],
        healthcheck: ["CMD", "sh", "-c", "exit 0"],
      },
    ],
    network: NETWORK,
    stopGraceSeconds: 3,
    workerBatchSize: 2,
    healthIntervalSeconds: 1,
    monitorSeconds: 1,
  });
}

describe("a Swarm of two engines over the tunnel's addresses, made by the program's scripts", () => {
  it("joins the second engine with the token, labels it, and a worker task there reaches a container on the manager by name", async () => {
    await runScript(manager, renderSwarmInitScript({ address: MANAGER, hostName: "automation" }));
    const token = (await runScript(manager, renderSwarmTokenScript())).trim();
    const nodeId = (
      await runScript(worker, renderSwarmJoinScript({ address: WORKER, managerAddress: MANAGER, token }))
    ).trim();
    await runScript(manager, renderSwarmLabelScript(nodeId, "worker-1"));
    const nodes = await manager.mustDocker(["node", "ls", "--format", "{{.ID}} {{.Status}}"]);
    expect(nodes.trim().split("\n")).toHaveLength(2);
    const [node] = JSON.parse(await manager.mustDocker(["node", "inspect", nodeId])) as {
      Status: { Addr: string };
      Spec: { Labels: Record<string, string> };
    }[];
    expect(node?.Status.Addr).toBe(WORKER);
    expect(node?.Spec.Labels).toEqual({ "tapbot.host": "worker-1" });
    // The control plane and gossip listen on the tunnel address only. The kernel's VXLAN socket (4789/udp)
    // takes every address whatever --data-path-addr says: UFW's wg0-only rule is what keeps it off the internet.
    const listening = await runTool("ip", ["netns", "exec", namespaces.manager, "ss", "-Htlnu"]);
    const swarmSockets = listening.stdout
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => /:(2377|7946|4789)$/.test(fields[4] ?? ""))
      .map((fields) => `${fields[0]} ${fields[4]}`);
    expect(swarmSockets.sort()).toEqual([
      `tcp ${MANAGER}:2377`,
      `tcp ${MANAGER}:7946`,
      "udp 0.0.0.0:4789",
      `udp ${MANAGER}:7946`,
    ]);

    // The app's network and Redis's stand-in, a plain container on the manager, as the program makes them.
    await manager.mustDocker(["network", "create", "--driver", "overlay", "--attachable", NETWORK]);
    await manager.mustDocker([
      "run",
      "-d",
      "--name",
      "tapbot-redis",
      "--network",
      NETWORK,
      "--network-alias",
      "redis",
      BUSYBOX_IMAGE,
      "httpd",
      "-f",
      "-p",
      "6379",
      "-h",
      "/www",
    ]);
    const stack = workerStack("worker-1", [
      "sh",
      "-c",
      "while :; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc redis 6379; sleep 1; done",
    ]);
    // The deploy returns once the stack has converged: the task already runs on the second engine.
    await runScript(manager, renderStackDeployScript({ stack: SWARM_STACK, stackFile: stack, secrets: [] }));
    const service = swarmServiceHost("worker", "worker-1");
    const running = await worker.mustDocker([
      "ps",
      "-q",
      "--filter",
      `label=com.docker.swarm.service.name=${service}`,
    ]);
    expect(running.trim()).not.toBe("");
    // The task runs on the second engine (its label), and its replies come from the manager's container.
    const logs = await waitUntil(
      async () => {
        const ids = (
          await worker.mustDocker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${service}`])
        ).trim();
        if (ids === "") return undefined;
        const out = await worker.docker(["logs", ids.split("\n")[0] ?? ""]);
        return out.stdout.includes("tapbot stand-in") ? out.stdout : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, describe: () => `no reply from redis in ${service}'s logs` },
    );
    expect(logs).toMatch(/^HTTP\/1\.[01] 200 OK/m);
    expect(
      (
        await manager.mustDocker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${service}`])
      ).trim(),
    ).toBe("");
  });
  it("fails a deploy whose tasks cannot run, saying which and why", async () => {
    const nowhere = workerStack("worker-9", ["sleep", "600"]);
    const result = await runTool("bash", ["-s"], {
      input: renderStackDeployScript({
        stack: "nowhere",
        stackFile: nowhere,
        secrets: [],
        convergeSeconds: 5,
      }),
      env: { ...process.env, DOCKER_HOST: manager.host, DOCKER_CONFIG: join(manager.dir, "client") },
      timeoutMs: 60_000,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("the stack nowhere did not converge within 5 s");
    expect(result.stderr).toMatch(/nowhere_worker-worker-9\.1 on : Pending .*no suitable node/);
    await manager.mustDocker(["stack", "rm", "nowhere"]);
  });
});
