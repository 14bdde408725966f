import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PlainConfig } from "../../infra/config.js";
import { type HostRole, hardeningScripts } from "../../infra/host-scripts.js";
import { NetnsLab, type Probe } from "./helpers/netns-lab.js";
import { firstUpResources } from "./helpers/pulumi-mocks.js";
import { sshConnectionsPerHost, totalConnections } from "./helpers/ssh-connections.js";
import { plainStackConfig } from "./helpers/stack-config.js";

/** Documentation addresses (TEST-NET-1) stand in for the two public IPs inside the namespaces. */
const AUTOMATION = "192.0.2.20";
const DATA = "192.0.2.10";
const STRANGER = "192.0.2.99";
const config: PlainConfig = { ...plainStackConfig(), automationHost: AUTOMATION, dataHost: DATA };
const TCP_PORTS = [22, 80, 443, 5432, 5678, 6333, 6379, 8055];
const UDP_PORTS = [config.wireguardPort];

function ufwScript(role: HostRole): string {
  const script = hardeningScripts(config, { role, swapMB: 1024, runsRedis: role === "automation" }).find(
    (s) => s.name === "ufw",
  );
  if (script === undefined) throw new Error("no ufw script rendered");
  return script.script;
}

/** Runs `probes` and returns "port/proto from source" → reachable, for readable failures. */
async function reach(lab: NetnsLab, probes: Probe[]): Promise<Record<string, boolean>> {
  const results = await lab.probe(probes);
  return Object.fromEntries(
    probes.map((p, i) => [`${p.host}:${p.port}/${p.proto} from ${p.from}`, results[i] ?? false]),
  );
}

describe.each([
  [
    "data",
    {
      serverPublic: DATA,
      peerPublic: AUTOMATION,
      serverTunnel: config.dataTunnelAddress,
      peerTunnel: config.automationTunnelAddress,
    },
  ],
  [
    "automation",
    {
      serverPublic: AUTOMATION,
      peerPublic: DATA,
      serverTunnel: config.automationTunnelAddress,
      peerTunnel: config.dataTunnelAddress,
    },
  ],
] as const)(
  "the rendered UFW script of the %s host, applied by ufw in a network namespace",
  (role, addresses) => {
    const lab = new NetnsLab({ ...addresses, stranger: STRANGER });
    let firstRun = "";

    beforeAll(async () => {
      await lab.start(TCP_PORTS, UDP_PORTS);
      const result = await lab.runInServer(ufwScript(role));
      if (result.code !== 0)
        throw new Error(`the ufw script failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
      firstRun = await lab.serverRules();
    }, 90_000);
    afterAll(async () => {
      await lab.stop();
    });

    it("lets only the intended ports through from the internet", async () => {
      const publicPorts = role === "automation" ? [22, 80, 443] : [22];
      const probes: Probe[] = TCP_PORTS.map((port) => ({
        proto: "tcp",
        from: STRANGER,
        host: addresses.serverPublic,
        port,
      }));
      const seen = await reach(lab, probes);
      for (const probe of probes) {
        expect(seen[`${probe.host}:${probe.port}/tcp from ${STRANGER}`], `port ${probe.port}`).toBe(
          publicPorts.includes(probe.port),
        );
      }
    });

    it("accepts WireGuard's UDP port from the peer host only", async () => {
      const port = config.wireguardPort;
      const seen = await lab.probe([
        { proto: "udp", from: addresses.peerPublic, host: addresses.serverPublic, port },
        { proto: "udp", from: STRANGER, host: addresses.serverPublic, port },
      ]);
      expect(seen).toEqual([true, false]);
    });

    it(
      role === "data"
        ? "opens PostgreSQL, Qdrant and Directus to the automation host's tunnel address on wg0 only, and nothing else"
        : "opens nothing on the tunnel beyond its public 80/443",
      async () => {
        const tunnelOpen = role === "data" ? [5432, 6333, 8055] : [80, 443];
        const fromTunnel = await lab.probe(
          TCP_PORTS.filter((p) => p !== 22).map((port) => ({
            proto: "tcp",
            from: addresses.peerTunnel,
            host: addresses.serverTunnel,
            port,
          })),
        );
        expect(fromTunnel).toEqual(
          TCP_PORTS.filter((p) => p !== 22).map((port) => tunnelOpen.includes(port)),
        );
        // The same ports from the peer's public address (not the tunnel) stay closed.
        const fromPublic = await lab.probe(
          [5432, 6333, 8055].map((port) => ({
            proto: "tcp",
            from: addresses.peerPublic,
            host: addresses.serverPublic,
            port,
          })),
        );
        expect(fromPublic).toEqual([false, false, false]);
      },
    );

    it("a second run changes no rule", async () => {
      const again = await lab.runInServer(ufwScript(role));
      expect(again.code, again.stderr).toBe(0);
      expect(await lab.serverRules()).toBe(firstRun);
      // ufw reloads every chain in a second pass: 10-20 s on a quiet 2-core machine, far more under load.
    }, 120_000);

    it("rate-limits SSH: a burst of new connections from one address is cut off", async () => {
      const burst = Array.from(
        { length: 10 },
        (): Probe => ({ proto: "tcp", from: STRANGER, host: addresses.serverPublic, port: 22 }),
      );
      const results = await lab.probe(burst, "sequential");
      expect(results.slice(0, 3)).toEqual([true, true, true]);
      expect(results.slice(-2)).toEqual([false, false]);
    }, 30_000);
  },
);

describe("the owner's address (tapbot:adminAllowIps) under the rendered UFW script", () => {
  // The client plays the owner here: one address, as when he runs `pulumi up` from his machine.
  const OWNER = "192.0.2.77";
  const ownerConfig: PlainConfig = { ...config, adminAllowIps: [OWNER, ...config.adminAllowIps] };
  const lab = new NetnsLab({
    serverPublic: AUTOMATION,
    peerPublic: DATA,
    serverTunnel: config.automationTunnelAddress,
    peerTunnel: config.dataTunnelAddress,
    stranger: OWNER,
  });
  /** As many new connections as a first `pulumi up` opens to its busiest host, counted from the program. */
  let burstSize = 0;

  beforeAll(async () => {
    const counts = sshConnectionsPerHost(await firstUpResources());
    burstSize = Math.max(...[...counts.values()].map(totalConnections));
    await lab.start([22, 5432], []);
    const script = hardeningScripts(ownerConfig, { role: "automation", swapMB: 1024, runsRedis: true }).find(
      (s) => s.name === "ufw",
    );
    const result = await lab.runInServer(script?.script ?? "exit 1");
    if (result.code !== 0)
      throw new Error(`the ufw script failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  }, 90_000);
  afterAll(async () => {
    await lab.stop();
  });

  it("is never rate-limited on SSH: as many new connections as a first `pulumi up` opens all get through, other ports stay shut", async () => {
    // Well above UFW's limit of 6 in 30 s: the remote commands, the image ship and the Docker provider's burst.
    expect(burstSize).toBeGreaterThan(6);
    const burst = Array.from(
      { length: burstSize },
      (): Probe => ({ proto: "tcp", from: OWNER, host: AUTOMATION, port: 22 }),
    );
    expect(await lab.probe(burst, "sequential")).toEqual(burst.map(() => true));
    expect(await lab.probe([{ proto: "tcp", from: OWNER, host: AUTOMATION, port: 5432 }])).toEqual([false]);
    // The owner's rule sits above the limit rule, whatever order an earlier run left.
    const rules = await lab.serverRules();
    const ownerRule = rules.search(/-A ufw-user-input -s 192\.0\.2\.77\/32 -p tcp .*--dport 22 .*-j ACCEPT/);
    const limitRule = rules.search(/-A ufw-user-input -p tcp .*--dport 22 .*--ctstate NEW -m recent --set/);
    expect(ownerRule).toBeGreaterThan(-1);
    expect(limitRule).toBeGreaterThan(ownerRule);
  }, 60_000);
});

describe("rules the program does not write (tapbot:removeForeignUfwRules), under real ufw", () => {
  // An existing server: the old bot opened 5678 to everyone before the first deploy.
  const OLD_RULE = "ufw allow 5678/tcp comment 'old bot'";
  const lab = new NetnsLab({
    serverPublic: AUTOMATION,
    peerPublic: DATA,
    serverTunnel: config.automationTunnelAddress,
    peerTunnel: config.dataTunnelAddress,
    stranger: STRANGER,
  });
  const script = (removeForeignUfwRules: boolean) =>
    hardeningScripts(
      { ...config, removeForeignUfwRules },
      { role: "automation", swapMB: 1024, runsRedis: true },
    ).find((s) => s.name === "ufw")?.script ?? "exit 1";
  const fromStranger = (port: number): Probe => ({ proto: "tcp", from: STRANGER, host: AUTOMATION, port });

  beforeAll(async () => {
    await lab.start([22, 443, 5678], []);
    const old = await lab.runInServer(`set -e\n${OLD_RULE}\n`);
    if (old.code !== 0) throw new Error(`could not add the old rule:\n${old.stdout}\n${old.stderr}`);
  }, 90_000);
  afterAll(async () => {
    await lab.stop();
  });

  it("keeps them by default and removes them when the stack says so, the program's rules untouched", async () => {
    const kept = await lab.runInServer(script(false));
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).not.toContain("removing a rule");
    expect(await lab.probe([22, 443, 5678].map(fromStranger))).toEqual([true, true, true]);

    const removed = await lab.runInServer(script(true));
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain("removing a rule the deploy does not write: ufw delete allow 5678/tcp");
    expect(removed.stdout.match(/removing a rule/g)).toHaveLength(1);
    expect(await lab.probe([22, 443, 5678].map(fromStranger))).toEqual([true, true, false]);
  }, 240_000);
});
