import { describe, expect, it } from "vitest";
import { SERVICE_DEFAULTS } from "../../capacity/defaults.js";
import { clusterHosts, usesSwarm } from "../../infra/cluster-hosts.js";
import { InfraConfigError, parsePlainConfig } from "../../infra/config.js";
import { checkDeployable, servicePlacements } from "../../infra/plan-services.js";
import { stackCapacity, stackPlan, unparsedStackConfig } from "./helpers/stack-config.js";
import {
  METRICS_RELAY_SERVICE,
  THIRD_HOST,
  threeHostCapacity,
  threeHostPlan,
} from "./helpers/three-hosts.js";

const configWith = (extraHosts: unknown, more: Record<string, unknown> = {}) =>
  parsePlainConfig({ ...unparsedStackConfig(300), extraHosts, ...more });
/** The problems a config is refused with, one per line. */
function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof InfraConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the config to be refused");
}

describe("tapbot:extraHosts", () => {
  it("is empty unless set: the owner's two-host stack parses as before and gives no Swarm", () => {
    const config = parsePlainConfig(unparsedStackConfig(300));
    expect(config.extraHosts).toEqual([]);
    expect(clusterHosts(config, stackPlan(300)).map((h) => h.name)).toEqual(["automation", "data"]);
    expect(usesSwarm(stackPlan(300))).toBe(false);
  });

  it("takes a third host as Pulumi hands it over (JSON text) and lists it after the base hosts", () => {
    const config = configWith(JSON.stringify([THIRD_HOST]));
    const hosts = clusterHosts(config, threeHostPlan());
    expect(hosts.map((h) => [h.name, h.address, h.tunnelAddress])).toEqual([
      ["automation", config.automationHost, "10.77.0.1"],
      ["data", config.dataHost, "10.77.0.2"],
      [THIRD_HOST.name, THIRD_HOST.address, THIRD_HOST.tunnelAddress],
    ]);
    expect(hosts[2]?.hostKey).toBe(THIRD_HOST.hostKey);
    expect(usesSwarm(threeHostPlan())).toBe(true);
  });

  it("names each bad field of a host and what it accepts", () => {
    const problems = problemsOf(() =>
      configWith([{ name: "Worker 1", address: "300.1.1.1", hostKey: "ssh-rsa AAAA", tunnelAddress: "x" }]),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^tapbot:extraHosts\.0\.name: expected a host name like worker-1/),
        expect.stringMatching(/^tapbot:extraHosts\.0\.address: expected an IPv4 address/),
        expect.stringMatching(/^tapbot:extraHosts\.0\.hostKey: expected the host's ed25519 key/),
        expect.stringMatching(/^tapbot:extraHosts\.0\.tunnelAddress: expected an IPv4 address/),
      ]),
    );
    expect(problemsOf(() => configWith([{ ...THIRD_HOST, name: "data" }]))).toEqual([
      expect.stringMatching(/^tapbot:extraHosts\.0\.name: automation and data are the base hosts/),
    ]);
    expect(problemsOf(() => configWith([{ ...THIRD_HOST, port: 22 }]))[0]).toMatch(/tapbot:extraHosts\.0/);
  });

  it("refuses two hosts with one name, public address or tunnel address, and a tunnel address off the /24", () => {
    const second = { ...THIRD_HOST, name: "worker-2", address: "203.0.113.31", tunnelAddress: "10.77.0.4" };
    expect(problemsOf(() => configWith([THIRD_HOST, { ...second, name: THIRD_HOST.name }]))).toEqual([
      "tapbot:extraHosts.1.name: worker-1 is already tapbot:extraHosts.0's; every host needs its own",
    ]);
    const config = unparsedStackConfig(300);
    expect(problemsOf(() => configWith([THIRD_HOST, { ...second, address: config.dataHost }]))).toEqual([
      `tapbot:extraHosts.1.address: ${config.dataHost} is already tapbot:dataHost's; every host needs its own`,
    ]);
    expect(problemsOf(() => configWith([{ ...THIRD_HOST, tunnelAddress: "10.77.0.1" }]))).toEqual([
      "tapbot:extraHosts.0.tunnelAddress: 10.77.0.1 is already tapbot:automationTunnelAddress's; every host needs its own",
    ]);
    expect(problemsOf(() => configWith([{ ...THIRD_HOST, tunnelAddress: "10.78.0.3" }]))).toEqual([
      "tapbot:extraHosts.0.tunnelAddress: 10.78.0.3 is outside the tunnel's 10.77.0.0/24 (tapbot:automationTunnelAddress); expected an address like 10.77.0.3",
    ]);
  });

  it("must name the plan's hosts: a plan host without an address, and an extra host the plan does not have, are refused", () => {
    expect(problemsOf(() => clusterHosts(configWith([]), threeHostPlan()))).toEqual([
      'tapbot:capacity.hosts has "worker-1", which no host of the stack is: add it to tapbot:extraHosts with its name, address, hostKey and tunnelAddress (configured: automation, data)',
    ]);
    expect(
      problemsOf(() => clusterHosts(configWith([{ ...THIRD_HOST, name: "worker-one" }]), threeHostPlan())),
    ).toEqual([
      'tapbot:capacity.hosts has "worker-1", which no host of the stack is: add it to tapbot:extraHosts with its name, address, hostKey and tunnelAddress (configured: automation, data, worker-one)',
      'tapbot:extraHosts.0.name: "worker-one" is not a host of the plan; expected one of tapbot:capacity.hosts: automation, data, worker-1',
    ]);
  });
});

describe("checkDeployable with more than two hosts", () => {
  it("lets the plan put the workers on a third host, and keeps every stateful service on its base host", () => {
    const three = threeHostPlan();
    expect(() => checkDeployable(three)).not.toThrow();
    expect(servicePlacements(three, "worker").map((s) => [s.host, s.replicas])).toEqual([
      [THIRD_HOST.name, three.workers],
    ]);
    const redisMoved = threeHostPlan({
      ...threeHostCapacity(),
      services: (threeHostCapacity().services as { name: string }[]).map((s) =>
        s.name === "redis" ? { ...s, host: THIRD_HOST.name } : s,
      ),
    });
    expect(() => checkDeployable(redisMoved)).toThrow(
      /service "redis" must be on the automation host; the plan puts it on "worker-1"/,
    );
  });

  it("wants the metrics relay on the automation host with more than two hosts, and refuses it with two", () => {
    const services = threeHostCapacity().services as { name: string; host?: string }[];
    const without = threeHostPlan({
      ...threeHostCapacity(),
      services: services.filter((s) => s.name !== "metrics-relay"),
    });
    expect(() => checkDeployable(without)).toThrow(
      /the plan has no "metrics-relay" service: with more than two hosts Prometheus reads the bot's and the workers' metrics through it; add \{ name: metrics-relay, host: automation/,
    );
    const moved = threeHostPlan({
      ...threeHostCapacity(),
      services: services.map((s) => (s.name === "metrics-relay" ? { ...s, host: "data" } : s)),
    });
    expect(() => checkDeployable(moved)).toThrow(
      /service "metrics-relay" must be on the automation host; the plan puts it on "data"/,
    );
    const twoWithRelay = threeHostPlan({
      ...stackCapacity(300),
      services: [...SERVICE_DEFAULTS, METRICS_RELAY_SERVICE],
    });
    expect(() => checkDeployable(twoWithRelay)).toThrow(
      /service "metrics-relay" runs only with more than two hosts; remove it/,
    );
  });
});
