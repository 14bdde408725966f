import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ThrowawayHost } from "../support/throwaway-host.js";
import { firstUpResources } from "./helpers/pulumi-mocks.js";
import { sshConnectionsPerHost, totalConnections } from "./helpers/ssh-connections.js";

const exec = promisify(execFile);

let host: ThrowawayHost;
/** The ssh options the program hands the automation host's Docker provider, for the throwaway host. */
let providerOptions: string[];

/** The program under mocks with the throwaway host as the automation host. */
const deployAgainst = (address: string, hostKey: string) =>
  firstUpResources({ "tapbot:automationHost": address, "tapbot:automationHostKey": hostKey });

beforeAll(async () => {
  host = await ThrowawayHost.start({
    osRelease: 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n',
    meminfo: "MemTotal: 4014080 kB\nMemAvailable: 3696640 kB\n",
    dockerDiskSize: "64m",
  });
  const resources = await deployAgainst(host.address, host.hostKey);
  const provider = resources.find(
    (r) => r.type === "pulumi:providers:docker" && r.name === "automation-docker",
  );
  expect(provider?.inputs.host).toBe(`ssh://root@${host.address}:22`);
  // A provider's inputs reach the engine as JSON text.
  const options = provider?.inputs.sshOpts;
  providerOptions = (typeof options === "string" ? JSON.parse(options) : options) as string[];
  expect(providerOptions).toContain("ControlMaster=auto");
}, 60_000);

afterAll(async () => {
  // Close the shared connection this test's ssh processes left behind (ControlPersist), then the host.
  if (providerOptions !== undefined && host !== undefined)
    await exec("ssh", [...providerOptions, "-O", "exit", `root@${host.address}`]).catch(() => undefined);
  await host?.stop();
});

/** One ssh as Docker's connection helper starts it for the provider (`docker system dial-stdio` → echo). */
function providerSsh() {
  return exec(
    "ssh",
    [
      "-i",
      host.identityFile,
      "-o",
      "IdentitiesOnly=yes",
      ...providerOptions,
      "-p",
      "22",
      `root@${host.address}`,
      "echo ok",
    ],
    { timeout: 30_000 },
  );
}

describe("the Docker provider's SSH connections (the program's own options, a real sshd)", () => {
  it("open one connection that every later ssh to the host rides on", async () => {
    const before = host.acceptedConnections();
    // The provider's first burst can start before any master exists; each of those dials on its own.
    const burst = await Promise.all(Array.from({ length: 8 }, providerSsh));
    expect(burst.map((r) => r.stdout.trim())).toEqual(Array(8).fill("ok"));
    const firstBurst = host.acceptedConnections() - before;
    // From then on, one master carries everything: 24 more ssh processes, no new connection.
    const afterFirst = host.acceptedConnections();
    for (let wave = 0; wave < 3; wave++) {
      const results = await Promise.all(Array.from({ length: 8 }, providerSsh));
      expect(results.map((r) => r.stdout.trim())).toEqual(Array(8).fill("ok"));
    }
    expect(host.acceptedConnections() - afterFirst).toBe(0);
    console.log(
      `Docker provider over SSH: ${firstBurst} connection(s) for a first burst of 8, 0 for the 24 after it`,
    );
    expect(firstBurst).toBeGreaterThanOrEqual(1);
    expect(firstBurst).toBeLessThanOrEqual(8);
  }, 120_000);

  it("counts what a first `pulumi up` opens to each host: more than UFW's limit of 6 in 30 s", async () => {
    const counts = sshConnectionsPerHost(await deployAgainst(host.address, host.hostKey));
    const automation = counts.get(host.address);
    expect(automation).toBeDefined();
    if (automation === undefined) return;
    // One per hardening script, the WireGuard key and tunnel; the image ship; the Docker resources.
    expect(automation.commands).toBeGreaterThanOrEqual(6);
    expect(automation.ship).toBe(1);
    expect(automation.docker).toBeGreaterThan(0);
    console.log(
      `a first pulumi up opens to the automation host: ${automation.commands} remote commands + ${automation.ship} ship + up to ${automation.docker} Docker = ${totalConnections(automation)}`,
    );
    expect(automation.commands + automation.ship).toBeGreaterThan(6);
  }, 60_000);
});
