import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PlainConfig } from "../../infra/config.js";
import { DATA_PRIVATE_PORTS, type HostRole, hardeningScripts } from "../../infra/host-scripts.js";
import { appMetricsPort, MONITORING_PORTS } from "../../infra/monitoring-targets.js";
import { dockerDaemonSettings } from "../../infra/render/docker-daemon.js";
import {
  DOCKER_USER_APPLY_PATH,
  DOCKER_USER_CHAIN,
  UFW_AFTER_INIT_PATH,
} from "../../infra/render/docker-user-rules.js";
import { NetnsLab, type Probe } from "../infra/helpers/netns-lab.js";
import { plainStackConfig } from "../infra/helpers/stack-config.js";
import { type RunningChild, startChild } from "../support/child-process.js";
import { waitUntil } from "../support/wait-until.js";
import { BUSYBOX_IMAGE, importBusyboxImage } from "./support/busybox-image.js";
import { type Dockerd, startDockerd } from "./support/dockerd.js";

/**
 * Issue 8 item 3 on a real engine. The server namespace plays a host (its public NIC, wg0, UFW from the
 * rendered script, dockerd with the program's daemon.json settings); the client namespace plays the peer
 * host (over wg0) and a neighbour on the provider's network, who routes the host's tunnel address to its
 * public NIC. Stand-in containers publish the design's ports exactly where the program publishes them.
 */
const AUTOMATION = "192.0.2.20";
const DATA = "192.0.2.10";
const NEIGHBOUR = "192.0.2.99";
const config: PlainConfig = { ...plainStackConfig(), automationHost: AUTOMATION, dataHost: DATA };
/** A web server on the neighbour's side: what the containers' own outgoing connections reach. */
const OUTSIDE_PORT = 8088;

function hardeningStep(role: HostRole, name: string): string {
  const step = hardeningScripts(config, { role, swapMB: 1024, runsRedis: role === "automation" }).find(
    (s) => s.name === name,
  );
  if (step === undefined) throw new Error(`no ${name} step in the ${role} hardening`);
  return step.script;
}

/** The content the docker-user step installs at `path` (its heredoc), so the test runs what the host gets. */
function installedFile(script: string, path: string): string {
  const start = script.indexOf(`install_file '${path}' `);
  if (start < 0) throw new Error(`the docker-user step installs no ${path}`);
  const body = script.indexOf("\n", start) + 1;
  return script.slice(body, script.indexOf("\nTAPBOT_FILE_END\n", body) + 1);
}

/** A stand-in service: busybox httpd on `port` in a container, published as the program publishes it. */
async function runStandIn(engine: Dockerd, name: string, port: number, publishOn: string): Promise<void> {
  await engine.mustDocker([
    "run",
    "-d",
    "--name",
    name,
    "--restart",
    "unless-stopped",
    "-p",
    `${publishOn}:${port}:${port}`,
    BUSYBOX_IMAGE,
    "httpd",
    "-f",
    "-p",
    String(port),
    "-h",
    "/www",
  ]);
}

interface Scenario {
  role: HostRole;
  serverPublic: string;
  peerPublic: string;
  serverTunnel: string;
  peerTunnel: string;
  /** Containers published on the tunnel address: [name, port]. */
  private: [string, number][];
  /** Containers published on 0.0.0.0 (the proxy). */
  public: [string, number][];
}

/**
 * One host: UFW enabled by its rendered script, an engine with stand-ins, and the neighbour's web server;
 * `probe()` answers which of the ports each side reaches.
 */
class HostUnderTest {
  readonly lab: NetnsLab;
  engine: Dockerd | undefined;
  private outside: RunningChild | undefined;

  constructor(readonly s: Scenario) {
    this.lab = new NetnsLab({
      serverPublic: s.serverPublic,
      peerPublic: s.peerPublic,
      serverTunnel: s.serverTunnel,
      peerTunnel: s.peerTunnel,
      stranger: NEIGHBOUR,
    });
  }

  async start(): Promise<void> {
    await this.lab.start([], []);
    await this.lab.routeOverPublic(NEIGHBOUR, this.s.serverTunnel);
    const ufw = await this.lab.runInServer(hardeningStep(this.s.role, "ufw"));
    if (ufw.code !== 0) throw new Error(`the ufw script failed:\n${ufw.stdout}${ufw.stderr}`);
    const www = await this.lab.hostDir("outside-www");
    await writeFile(join(www, "index.html"), "outside\n");
    this.outside = startChild("ip", [
      ..."netns exec".split(" "),
      this.lab.client,
      "busybox",
      "httpd",
      "-f",
      "-p",
      `${NEIGHBOUR}:${OUTSIDE_PORT}`,
      "-h",
      www,
    ]);
    await this.startEngineWithServices();
  }

  /** An engine with the program's daemon settings (live-restore among them) and the stand-ins running. */
  async startEngineWithServices(): Promise<void> {
    this.engine = await startDockerd({
      netns: this.lab.server,
      settings: dockerDaemonSettings({
        logMaxSize: config.dockerLogMaxSize,
        logMaxFile: config.dockerLogMaxFile,
      }),
    });
    await importBusyboxImage(this.engine);
    for (const [name, port] of this.s.private) await runStandIn(this.engine, name, port, this.s.serverTunnel);
    for (const [name, port] of this.s.public) await runStandIn(this.engine, name, port, "0.0.0.0");
    await this.waitForPeer();
  }

  /** Until every stand-in answers the peer over the tunnel (after a start or a restart). */
  async waitForPeer(): Promise<void> {
    await waitUntil(async () => ((await this.reach()).peer.every(Boolean) ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 200,
      describe: () => `the stand-ins never answered over the tunnel; dockerd:\n${this.engine?.logTail(10)}`,
    });
  }

  /**
   * Which private ports the neighbour (over the public NIC) and the peer (over wg0) reach on the tunnel
   * address, and which public ports the neighbour reaches on the public address.
   */
  async reach(): Promise<{ neighbour: boolean[]; peer: boolean[]; public: boolean[] }> {
    const ports = this.s.private.map(([, port]) => port);
    const tcp = (from: string, host: string, port: number): Probe => ({ proto: "tcp", from, host, port });
    const results = await this.lab.probe([
      ...ports.map((port) => tcp(NEIGHBOUR, this.s.serverTunnel, port)),
      ...ports.map((port) => tcp(this.s.peerTunnel, this.s.serverTunnel, port)),
      ...this.s.public.map(([, port]) => tcp(NEIGHBOUR, this.s.serverPublic, port)),
    ]);
    const n = ports.length;
    return { neighbour: results.slice(0, n), peer: results.slice(n, 2 * n), public: results.slice(2 * n) };
  }

  /** Whether a container still opens connections of its own to the outside (fal, Telegram). */
  async containerReachesOutside(): Promise<boolean> {
    const [name] = this.s.private[0] ?? this.s.public[0] ?? [""];
    const got = await this.engine?.docker(
      ["exec", "-i", name, "nc", "-w", "3", NEIGHBOUR, String(OUTSIDE_PORT)],
      { input: "GET / HTTP/1.0\r\n\r\n" },
    );
    return got?.code === 0 && got.stdout.endsWith("\r\n\r\noutside\n");
  }

  /** Runs the script the docker-user step installs, in the host. */
  async applyRules(): Promise<void> {
    const apply = installedFile(hardeningStep(this.s.role, "docker-user"), DOCKER_USER_APPLY_PATH);
    const result = await this.lab.runInServer(apply);
    if (result.code !== 0)
      throw new Error(`the DOCKER-USER script failed:\n${result.stdout}${result.stderr}`);
  }

  /**
   * Puts the docker-user step's after.init into the host's ufw and its apply script where after.init calls
   * it, and runs `command` with both in place.
   */
  async withUfwHook(command: string): Promise<void> {
    const step = hardeningStep(this.s.role, "docker-user");
    await this.lab.writeUfwFile("after.init", installedFile(step, UFW_AFTER_INIT_PATH), 0o750);
    const sbin = await this.lab.hostDir("sbin");
    await writeFile(join(sbin, "tapbot-docker-user"), installedFile(step, DOCKER_USER_APPLY_PATH), {
      mode: 0o755,
    });
    const result = await this.lab.runInServer(command, [{ dir: sbin, target: "/usr/local/sbin" }]);
    if (result.code !== 0) throw new Error(`${command} failed:\n${result.stdout}${result.stderr}`);
  }

  async stop(): Promise<void> {
    await this.engine?.stop();
    await this.outside?.stop();
    await this.lab.stop();
  }
}

describe("DOCKER-USER rules of the data host, on a real Docker engine behind the rendered UFW", () => {
  const host = new HostUnderTest({
    role: "data",
    serverPublic: DATA,
    peerPublic: AUTOMATION,
    serverTunnel: config.dataTunnelAddress,
    peerTunnel: config.automationTunnelAddress,
    private: [
      ["tapbot-postgres", DATA_PRIVATE_PORTS.postgres],
      ["tapbot-qdrant", DATA_PRIVATE_PORTS.qdrant],
      ["tapbot-directus", DATA_PRIVATE_PORTS.directus],
    ],
    public: [],
  });
  const closed = { neighbour: [false, false, false], peer: [true, true, true], public: [] };

  beforeAll(async () => {
    await host.start();
  }, 180_000);
  afterAll(async () => {
    await host.stop();
  }, 60_000);

  it("without them, a neighbour on the public network reaches PostgreSQL, Qdrant and Directus on the tunnel address, UFW notwithstanding", async () => {
    expect(await host.reach()).toEqual({
      neighbour: [true, true, true],
      peer: [true, true, true],
      public: [],
    });
  });

  it("with them, the neighbour is dropped while the peer over wg0 gets through, containers still reach out, and a second run changes nothing", async () => {
    await host.applyRules();
    expect(await host.reach()).toEqual(closed);
    expect(await host.containerReachesOutside()).toBe(true);
    const rules = await host.lab.serverRules();
    expect(rules).toContain(`-A DOCKER-USER -j ${DOCKER_USER_CHAIN}`);
    await host.applyRules();
    expect(await host.lab.serverRules()).toBe(rules);
  });

  it("survive a dockerd restart (live-restore) and a ufw reload", async () => {
    await host.engine?.restart();
    await host.waitForPeer();
    expect(await host.reach()).toEqual(closed);
    // ufw's reload runs after.init, which re-applies them: still one jump each, though the restarted
    // dockerd moved its isolation chain above DOCKER-USER.
    await host.withUfwHook("ufw reload");
    expect(await host.reach()).toEqual(closed);
    expect(await host.containerReachesOutside()).toBe(true);
    const rules = await host.lab.serverRules();
    expect(rules.match(new RegExp(`^-A DOCKER-USER -j ${DOCKER_USER_CHAIN}$`, "gm"))).toHaveLength(1);
    expect(rules.match(/^-A FORWARD -j DOCKER-USER$/gm)).toHaveLength(1);
  }, 180_000);

  it("at boot, ufw's after.init puts them in place before dockerd starts, and Docker keeps them", async () => {
    // A reboot: no engine, no rules. ufw.service comes first and runs after.init; then docker.service.
    await host.engine?.stop();
    const flushed = await host.lab.runInServer(
      "set -e\nfor t in filter nat mangle raw; do iptables -t $t -F; iptables -t $t -X; done\niptables -P FORWARD ACCEPT\n",
    );
    expect(flushed.code, flushed.stderr).toBe(0);
    await host.withUfwHook("/lib/ufw/ufw-init start");
    expect(await host.lab.serverRules()).toContain(`-A DOCKER-USER -j ${DOCKER_USER_CHAIN}`);
    await host.startEngineWithServices();
    expect(await host.reach()).toEqual(closed);
  }, 180_000);
});

describe("DOCKER-USER rules of the automation host, on a real Docker engine behind the rendered UFW", () => {
  const host = new HostUnderTest({
    role: "automation",
    serverPublic: AUTOMATION,
    peerPublic: DATA,
    serverTunnel: config.automationTunnelAddress,
    peerTunnel: config.dataTunnelAddress,
    private: [
      ["tapbot-redis-exporter", MONITORING_PORTS.redisExporter],
      ["tapbot-bot-1", appMetricsPort("bot", 1)],
    ],
    public: [
      ["tapbot-caddy-http", 80],
      ["tapbot-caddy-https", 443],
    ],
  });

  beforeAll(async () => {
    await host.start();
  }, 180_000);
  afterAll(async () => {
    await host.stop();
  }, 60_000);

  it("keep the proxy's 80 and 443 open to everyone and the metrics on the tunnel address to the peer only", async () => {
    expect(await host.reach()).toEqual({ neighbour: [true, true], peer: [true, true], public: [true, true] });
    await host.applyRules();
    expect(await host.reach()).toEqual({
      neighbour: [false, false],
      peer: [true, true],
      public: [true, true],
    });
    expect(await host.containerReachesOutside()).toBe(true);
  });
});
