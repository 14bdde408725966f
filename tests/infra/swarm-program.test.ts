import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { servicePlacements } from "../../infra/plan-services.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import {
  installMocks,
  isSecretWrapper,
  type Registered,
  registered,
  resetRegistrations,
  resolve,
  SWARM_TOKEN,
  setStackConfig,
  swarmNodeId,
  unwrap,
} from "./helpers/pulumi-mocks.js";
import { runTool } from "./helpers/run-tool.js";
import { plainStackConfig } from "./helpers/stack-config.js";
import {
  APP_2,
  exampleThreeHostCapacity,
  THIRD_HOST,
  THREE_HOST_EXTRA_HOSTS,
  threeHostCapacity,
  threeHostPlan,
} from "./helpers/three-hosts.js";

type Program = typeof import("../../infra/program.js");
let program: Program;

/** Runs the program under mocks and waits for every resource the checks read. */
async function deploy(overrides: Record<string, string>) {
  resetRegistrations();
  setStackConfig(300, overrides);
  const outputs = await program.deployStack();
  const { app, data, monitoring, swarm, tunnel, hardened } = outputs.components;
  await Promise.all(
    [
      ...app.workers,
      ...app.bots,
      ...app.hostImages,
      ...(app.stack === undefined ? [] : [app.stack]),
      ...(swarm?.ready ?? []),
      ...tunnel.byHost.values(),
      ...[...hardened.values()].map((h) => h.ready),
      app.board,
      data.directus,
      monitoring.prometheus,
      ...(monitoring.metricsRelay === undefined ? [] : [monitoring.metricsRelay]),
    ].map((r) => resolve(r.id)),
  );
  return { outputs, resources: [...registered] };
}

const threeHosts = {
  "tapbot:capacity": JSON.stringify(threeHostCapacity()),
  "tapbot:extraHosts": THREE_HOST_EXTRA_HOSTS,
};
const REMOTE = "command:remote:Command";
const commandNamed = (resources: Registered[], name: string) => {
  const found = resources.find((r) => r.type === REMOTE && r.name === name);
  if (found === undefined) throw new Error(`no remote command ${name}`);
  return found;
};
const stdinOf = (r: Registered) => unwrap(r.inputs.stdin) as string;
const hostOf = (r: Registered) => (unwrap(r.inputs.connection) as { host: string }).host;
/** The ufw lines of a host's firewall script that open a Swarm port. */
const swarmRules = (script: string) =>
  script.split("\n").filter((line) => /^ufw allow .*port (2377|7946|4789) /.test(line));

let three: Awaited<ReturnType<typeof deploy>>;
let two: Awaited<ReturnType<typeof deploy>>;
let example: Awaited<ReturnType<typeof deploy>>;

beforeAll(async () => {
  await installMocks();
  program = await import("../../infra/program.js");
  three = await deploy(threeHosts);
  two = await deploy({});
  example = await deploy({
    "tapbot:capacity": JSON.stringify(exampleThreeHostCapacity()),
    "tapbot:extraHosts": JSON.stringify([APP_2]),
  });
});

describe("three hosts: the program deploys the plan on a Swarm", () => {
  const plan = threeHostPlan();
  const config = plainStackConfig();

  it("hardens the third host as the others, over SSH with its pinned key, as a Swarm node without live-restore", () => {
    const packages = commandNamed(three.resources, `${THIRD_HOST.name}-packages`);
    expect(hostOf(packages)).toBe(THIRD_HOST.address);
    expect((unwrap(packages.inputs.connection) as { hostKey: string }).hostKey).toBe(THIRD_HOST.hostKey);
    for (const step of ["sshd", "ufw", "docker-user", "fail2ban", "swap-sysctl", "wireguard-key"]) {
      expect(hostOf(commandNamed(three.resources, `${THIRD_HOST.name}-${step}`))).toBe(THIRD_HOST.address);
    }
    expect(stdinOf(packages)).toContain('"live-restore":false');
    expect(stdinOf(commandNamed(three.resources, "automation-packages"))).toContain('"live-restore":false');
    // The plan gives the data host no Swarm task: it stays out of the Swarm and keeps live-restore.
    expect(stdinOf(commandNamed(three.resources, "data-packages"))).toContain('"live-restore":true');
  });

  it("meshes the tunnel: every host has every other as a WireGuard peer, each allowed in by its public address only", () => {
    const wg = stdinOf(commandNamed(three.resources, `tunnel-${THIRD_HOST.name}`));
    expect(wg.match(/\[Peer\]/g)).toHaveLength(2);
    expect(wg).toContain(`Endpoint = ${config.automationHost}:51820`);
    expect(wg).toContain(`Endpoint = ${config.dataHost}:51820`);
    expect(wg).toContain(`Address = ${THIRD_HOST.tunnelAddress}/24`);
    const automationWg = stdinOf(commandNamed(three.resources, "tunnel-automation"));
    expect(automationWg).toContain(`Endpoint = ${THIRD_HOST.address}:51820`);
    expect(automationWg).toContain(`AllowedIPs = ${THIRD_HOST.tunnelAddress}/32`);
    const ufw = stdinOf(commandNamed(three.resources, `${THIRD_HOST.name}-ufw`));
    expect(ufw).toContain(`ufw allow from ${config.automationHost} to any port 51820 proto udp`);
    expect(ufw).toContain(`ufw allow from ${config.dataHost} to any port 51820 proto udp`);
  });

  it("opens the Swarm's ports between its nodes only, on the tunnel interface only; the data host opens none, and lets the third host's workers reach PostgreSQL over the tunnel", () => {
    const expected = (from: string) => [
      `ufw allow in on wg0 from ${from} to any port 2377 proto tcp comment 'swarm managers from ${from === config.automationTunnelAddress ? "automation" : THIRD_HOST.name} over the tunnel'`,
      `ufw allow in on wg0 from ${from} to any port 7946 proto tcp comment 'swarm gossip from ${from === config.automationTunnelAddress ? "automation" : THIRD_HOST.name} over the tunnel'`,
      `ufw allow in on wg0 from ${from} to any port 7946 proto udp comment 'swarm gossip from ${from === config.automationTunnelAddress ? "automation" : THIRD_HOST.name} over the tunnel'`,
      `ufw allow in on wg0 from ${from} to any port 4789 proto udp comment 'swarm overlay (VXLAN) from ${from === config.automationTunnelAddress ? "automation" : THIRD_HOST.name} over the tunnel'`,
    ];
    expect(swarmRules(stdinOf(commandNamed(three.resources, `${THIRD_HOST.name}-ufw`)))).toEqual(
      expected(config.automationTunnelAddress),
    );
    expect(swarmRules(stdinOf(commandNamed(three.resources, "automation-ufw")))).toEqual(
      expected(THIRD_HOST.tunnelAddress),
    );
    const dataUfw = stdinOf(commandNamed(three.resources, "data-ufw"));
    expect(swarmRules(dataUfw)).toEqual([]);
    expect(dataUfw).toContain(
      `ufw allow in on wg0 from ${THIRD_HOST.tunnelAddress} to any port 5432 proto tcp`,
    );
  });

  it("inits the Swarm on the automation host's tunnel address, joins the third host with the token as a secret, and labels both by plan host", () => {
    const init = commandNamed(three.resources, "swarm-init");
    expect(hostOf(init)).toBe(config.automationHost);
    expect(stdinOf(init)).toContain(
      "docker swarm init --advertise-addr 10.77.0.1 --listen-addr 10.77.0.1:2377 --data-path-addr 10.77.0.1",
    );
    expect(stdinOf(init)).toContain("--label-add 'tapbot.host=automation'");
    const token = commandNamed(three.resources, "swarm-token");
    expect(token.inputs.logging).toBe("none");
    const join = commandNamed(three.resources, `swarm-join-${THIRD_HOST.name}`);
    expect(hostOf(join)).toBe(THIRD_HOST.address);
    expect(isSecretWrapper(join.inputs.stdin)).toBe(true);
    expect(stdinOf(join)).toContain(
      `docker swarm join --token '${SWARM_TOKEN}' --advertise-addr ${THIRD_HOST.tunnelAddress} --listen-addr ${THIRD_HOST.tunnelAddress}:2377 --data-path-addr ${THIRD_HOST.tunnelAddress} 10.77.0.1:2377`,
    );
    const label = commandNamed(three.resources, `swarm-label-${THIRD_HOST.name}`);
    expect(hostOf(label)).toBe(config.automationHost);
    expect(stdinOf(label)).toContain(
      `docker node update --label-add 'tapbot.host=${THIRD_HOST.name}' ${swarmNodeId(`swarm-join-${THIRD_HOST.name}`)}`,
    );
    // The token is in no output and no command that is not itself secret.
    const plainOutputs = JSON.stringify({ ...three.outputs, components: undefined, databaseUrl: undefined });
    expect(plainOutputs).not.toContain(SWARM_TOKEN);
    for (const r of three.resources) {
      if (JSON.stringify(r.inputs).includes(SWARM_TOKEN))
        expect(isSecretWrapper(r.inputs.stdin), r.name).toBe(true);
    }
    expect(three.outputs.swarmNodes).toEqual(["automation", THIRD_HOST.name]);
  });

  it("runs the bot and the workers as Swarm services with the plan's replicas, limits and placement, and no longer as containers", () => {
    const containers = three.resources.filter((r) => r.type === "docker:index/container:Container");
    expect(containers.filter((c) => /^app-(bot|worker)-/.test(c.name))).toEqual([]);
    expect(containers.map((c) => c.name)).toContain("app-board");
    const network = three.resources.find((r) => r.name === "automation-network");
    expect(network?.inputs).toMatchObject({ name: "tapbot", driver: "overlay", attachable: true });
    const stack = commandNamed(three.resources, "app-stack");
    expect(hostOf(stack)).toBe(config.automationHost);
    expect(isSecretWrapper(stack.inputs.stdin)).toBe(true);
    const script = stdinOf(stack);
    const file = script.slice(
      script.indexOf("<<'TAPBOT_STACK_END'\n") + "<<'TAPBOT_STACK_END'\n".length,
      script.indexOf("\nTAPBOT_STACK_END\n"),
    );
    const compose = parse(file) as {
      services: Record<string, { deploy: Record<string, unknown>; secrets: unknown[] }>;
    };
    const worker = servicePlacements(plan, "worker")[0];
    const bot = servicePlacements(plan, "bot")[0];
    expect(Object.keys(compose.services)).toEqual(["bot-automation", `worker-${THIRD_HOST.name}`]);
    expect(compose.services[`worker-${THIRD_HOST.name}`]?.deploy).toMatchObject({
      replicas: plan.workers,
      endpoint_mode: "dnsrr",
      placement: { constraints: [`node.labels.tapbot.host == ${THIRD_HOST.name}`] },
      resources: {
        limits: { memory: `${worker?.limitMB}M` },
        reservations: { memory: `${worker?.reservationMB}M` },
      },
      update_config: { order: "stop-first", parallelism: 1 },
    });
    expect(compose.services["bot-automation"]?.deploy).toMatchObject({
      replicas: bot?.replicas,
      placement: { constraints: ["node.labels.tapbot.host == automation"] },
      update_config: { order: "start-first", parallelism: 1 },
    });
    expect(compose.services["bot-automation"]?.secrets).toContainEqual(
      expect.objectContaining({ target: "webhook_secret", uid: "1000", mode: 0o400 }),
    );
    expect(script).toContain("docker stack deploy --prune --resolve-image never");
    // The image goes to the third host too (no registry), from the same build.
    const shipped = three.resources.find((r) => r.name === `app-image-${THIRD_HOST.name}`);
    expect(unwrap(shipped?.inputs.stdin) as string).toContain(THIRD_HOST.address);
  });

  it("points Caddy's webhook at the bot's Swarm service", () => {
    const caddy = three.resources.find((r) => r.name === "automation-caddy");
    const uploads = unwrap(caddy?.inputs.uploads) as { file: string; content: string }[];
    const caddyfile = uploads.find((u) => u.file === "/etc/caddy/Caddyfile")?.content ?? "";
    expect(caddyfile).toContain("reverse_proxy tapbot_bot-automation:8080 {");
  });
});

/** The stack file inside the stack command's script. */
function composeOf(resources: Registered[]) {
  const script = stdinOf(commandNamed(resources, "app-stack"));
  const start = script.indexOf("<<'TAPBOT_STACK_END'\n") + "<<'TAPBOT_STACK_END'\n".length;
  return parse(script.slice(start, script.indexOf("\nTAPBOT_STACK_END\n"))) as {
    services: Record<string, { deploy: { replicas: number; placement: { constraints: string[] } } }>;
  };
}

describe("the capacity model's three-host example: replicas split over two hosts", () => {
  it("runs one Swarm service per host of each split service, with that host's replicas, and Caddy reaches both bots", () => {
    const placed = threeHostPlan(exampleThreeHostCapacity());
    const compose = composeOf(example.resources);
    const expected = ["bot", "worker"].flatMap((service) =>
      placed.hosts.flatMap((h) =>
        h.services.filter((s) => s.name === service).map((s) => [`${service}-${h.name}`, s.replicas, h.name]),
      ),
    );
    expect(expected.map(([name]) => name)).toEqual([
      "bot-automation",
      "bot-app-2",
      "worker-automation",
      "worker-app-2",
    ]);
    expect(
      Object.entries(compose.services).map(([name, s]) => [
        name,
        s.deploy.replicas,
        s.deploy.placement.constraints[0]?.replace("node.labels.tapbot.host == ", ""),
      ]),
    ).toEqual(expected);
    const caddy = example.resources.find((r) => r.name === "automation-caddy");
    const uploads = unwrap(caddy?.inputs.uploads) as { file: string; content: string }[];
    expect(uploads.find((u) => u.file === "/etc/caddy/Caddyfile")?.content).toContain(
      "reverse_proxy tapbot_bot-automation:8080 tapbot_bot-app-2:8080 {",
    );
    expect(example.outputs.swarmNodes).toEqual(["automation", "app-2"]);
  });

  it("runs the third host's agents there, open to Prometheus over the tunnel only, and scraped", () => {
    const agents = example.resources.filter((r) =>
      /^monitoring-(node-exporter|cadvisor)-app-2$/.test(r.name),
    );
    expect(agents.map((r) => r.name).sort()).toEqual([
      "monitoring-cadvisor-app-2",
      "monitoring-node-exporter-app-2",
    ]);
    const provider = example.resources.find((r) => r.name === "app-2-docker");
    expect(provider?.inputs.host).toBe(`ssh://root@${APP_2.address}:22`);
    for (const agent of agents) expect(agent.provider).toContain("app-2-docker");
    const ufw = stdinOf(commandNamed(example.resources, "app-2-ufw"));
    expect(ufw).toContain("ufw allow in on wg0 from 10.77.0.2 to any port 9100 proto tcp");
    expect(ufw).toContain("ufw allow in on wg0 from 10.77.0.2 to any port 9338 proto tcp");
    const prometheus = example.resources.find((r) => r.name === "monitoring-prometheus");
    const files = unwrap(prometheus?.inputs.uploads) as { file: string; content: string }[];
    const config = files.find((f) => f.file.endsWith("prometheus.yml"))?.content ?? "";
    expect(config).toContain(`${APP_2.tunnelAddress}:9100`);
    expect(config).toContain(`${APP_2.tunnelAddress}:9338`);
  });
});

describe("the metrics relay: Prometheus sees the Swarm tasks", () => {
  const containerOf = (resources: Registered[], name: string) =>
    resources.find((r) => r.type === "docker:index/container:Container" && r.name === name);
  const uploadOf = (r: Registered | undefined, file: string) =>
    (unwrap(r?.inputs.uploads) as { file: string; content: string }[]).find((u) => u.file === file)
      ?.content ?? "";
  /** `promtool check config` of a rendered prometheus.yml (its rule file beside it, if it names one). */
  async function promtool(config: string, rules?: string): Promise<void> {
    const dir = await makeTempDir("swarm-relay");
    try {
      if (rules !== undefined) await writeFile(join(dir, "tapbot.rules.yml"), rules);
      await writeFile(join(dir, "prometheus.yml"), config.replaceAll("/etc/prometheus/", `${dir}/`));
      const result = await runTool("promtool", ["check", "config", join(dir, "prometheus.yml")]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
    } finally {
      await removeTempDir(dir);
    }
  }

  it("runs on the automation host's overlay with the plan's memory, published on its tunnel address only, and finds each placement's tasks by DNS", async () => {
    const placed = threeHostPlan(exampleThreeHostCapacity());
    const relay = containerOf(example.resources, "monitoring-metrics-relay");
    const sized = placed.hosts
      .find((h) => h.name === "automation")
      ?.services.find((s) => s.name === "metrics-relay");
    expect(relay?.provider).toContain("automation-docker");
    expect(relay?.inputs).toMatchObject({
      name: "tapbot-metrics-relay",
      memory: sized?.limitMB,
      memoryReservation: sized?.reservationMB,
      networksAdvanced: [{ name: "tapbot" }],
      ports: [{ internal: 9090, external: 9095, ip: "10.77.0.1", protocol: "tcp" }],
    });
    const config = uploadOf(relay, "/etc/prometheus/prometheus.yml");
    await promtool(config);
    const jobs = (
      parse(config) as { scrape_configs: { job_name: string; dns_sd_configs: { names: string[] }[] }[] }
    ).scrape_configs;
    expect(jobs.map((j) => [j.job_name, j.dns_sd_configs.flatMap((d) => d.names)])).toEqual([
      ["bot", ["tasks.tapbot_bot-automation", "tasks.tapbot_bot-app-2"]],
      ["worker", ["tasks.tapbot_worker-automation", "tasks.tapbot_worker-app-2"]],
    ]);
  });

  it("is federated by the data host's Prometheus in place of the bot and worker jobs, and each placement short of its tasks is an alert", async () => {
    const placed = threeHostPlan(exampleThreeHostCapacity());
    const prometheus = containerOf(example.resources, "monitoring-prometheus");
    const config = uploadOf(prometheus, "/etc/prometheus/prometheus.yml");
    const rules = uploadOf(prometheus, "/etc/prometheus/tapbot.rules.yml");
    await promtool(config, rules);
    const jobs = (parse(config) as { scrape_configs: Record<string, unknown>[] }).scrape_configs;
    expect(jobs.map((j) => j.job_name)).not.toContain("bot");
    expect(jobs.map((j) => j.job_name)).not.toContain("worker");
    expect(jobs.find((j) => j.job_name === "metrics-relay")).toEqual({
      job_name: "metrics-relay",
      metrics_path: "/federate",
      honor_labels: true,
      honor_timestamps: false,
      params: { "match[]": ['{job=~"bot|worker"}'] },
      static_configs: [
        { targets: ["10.77.0.1:9095"], labels: { host: "automation", instance: "metrics-relay" } },
      ],
    });
    const alerts = (
      parse(rules) as { groups: { rules: { alert: string; expr: string }[] }[] }
    ).groups.flatMap((g) => g.rules);
    const expected = (["bot", "worker"] as const).flatMap((service) =>
      placed.hosts.flatMap((h) =>
        h.services
          .filter((s) => s.name === service)
          .map((s) => `(count(up{job="${service}",host="${h.name}"} == 1) or vector(0)) < ${s.replicas}`),
      ),
    );
    expect(alerts.filter((a) => a.alert === "SwarmTasksMissing").map((a) => a.expr)).toEqual(expected);
    // The relay is a target like any other: ProcessDown (job != node) covers it.
    expect(alerts.find((a) => a.alert === "ProcessDown")?.expr).toBe('up{job!="node"} == 0');
  });

  it("does not exist with two hosts, where Prometheus scrapes each process's published port itself", () => {
    expect(containerOf(two.resources, "monitoring-metrics-relay")).toBeUndefined();
    const config = uploadOf(
      containerOf(two.resources, "monitoring-prometheus"),
      "/etc/prometheus/prometheus.yml",
    );
    const jobs = (parse(config) as { scrape_configs: { job_name: string }[] }).scrape_configs.map(
      (j) => j.job_name,
    );
    expect(jobs).toEqual(expect.arrayContaining(["bot", "worker"]));
    expect(jobs).not.toContain("metrics-relay");
    expect(
      uploadOf(containerOf(two.resources, "monitoring-prometheus"), "/etc/prometheus/tapbot.rules.yml"),
    ).not.toContain("SwarmTasksMissing");
  });
});

describe("two hosts: nothing of the Swarm", () => {
  it("registers no Swarm, mesh peer or stack, and the bot and workers stay containers on a bridge network", () => {
    const names = two.resources.map((r) => r.name);
    expect(
      names.filter((n) => /^swarm-|^app-stack$|^app-image-|^tunnel-(?!automation$|data$)/.test(n)),
    ).toEqual([]);
    expect(two.resources.find((r) => r.name === "automation-network")?.inputs).toEqual({ name: "tapbot" });
    expect(names).toEqual(expect.arrayContaining(["app-bot-1", "app-bot-2", "app-worker-1"]));
    for (const role of ["automation", "data"]) {
      const script = stdinOf(commandNamed(two.resources, `${role}-ufw`));
      expect(swarmRules(script)).toEqual([]);
      expect(stdinOf(commandNamed(two.resources, `${role}-packages`))).toContain('"live-restore":true');
    }
    expect(two.outputs.swarmNodes).toEqual([]);
  });

  it("is the same stack with tapbot:extraHosts set to an empty list", async () => {
    const again = await deploy({ "tapbot:extraHosts": "[]" });
    const shape = (rs: Registered[]) => rs.map((r) => `${r.type} ${r.name}`).sort();
    expect(shape(again.resources)).toEqual(shape(two.resources));
  });
});
