import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { botUpdateRoomWarnings } from "../../infra/components/app.js";
import { servicePlacements } from "../../infra/plan-services.js";
import { dockerDaemonSettings } from "../../infra/render/docker-daemon.js";
import {
  renderStackDeployScript,
  renderSwarmJoinScript,
  renderSwarmLabelScript,
} from "../../infra/render/swarm-scripts.js";
import { renderSwarmStack, type StackService } from "../../infra/render/swarm-stack.js";
import { THIRD_HOST, threeHostPlan } from "./helpers/three-hosts.js";

const plan = threeHostPlan();
const service = (name: "bot" | "worker"): StackService => ({
  name,
  placements: servicePlacements(plan, name),
  command: ["node", `dist/app/${name}/main.js`],
  environment: ["LOG_LEVEL=info", "PRICE=$5"],
  secrets: [{ source: "tapbot_fal_key_0123456789abcdef", target: "fal_key", uid: 1000 }],
  healthcheck: ["CMD", "node", "-e", "process.exit(0)"],
});
type Compose = {
  services: Record<
    string,
    { deploy: Record<string, unknown>; environment: string[]; stop_grace_period: string }
  >;
  networks: Record<string, unknown>;
  secrets: Record<string, unknown>;
};
const compose = () =>
  parse(
    renderSwarmStack({
      image: "tapbot-app:0123456789abcdef",
      services: [service("bot"), service("worker")],
      network: "tapbot-swarm",
      stopGraceSeconds: 30,
      workerBatchSize: 2,
    }),
  ) as Compose;

describe("the Swarm stack file", () => {
  it("has one service per placement of the plan, with its replicas, limit, reservation, host and dnsrr", () => {
    const bot = servicePlacements(plan, "bot")[0];
    const worker = servicePlacements(plan, "worker")[0];
    const { services } = compose();
    expect(Object.keys(services)).toEqual(["bot-automation", `worker-${THIRD_HOST.name}`]);
    expect(services["bot-automation"]?.deploy).toMatchObject({
      replicas: bot?.replicas,
      endpoint_mode: "dnsrr",
      placement: { constraints: ["node.labels.tapbot.host == automation"] },
      resources: {
        limits: { memory: `${bot?.limitMB}M` },
        reservations: { memory: `${bot?.reservationMB}M` },
      },
      update_config: { parallelism: 1, order: "start-first", delay: "30s" },
    });
    expect(services[`worker-${THIRD_HOST.name}`]?.deploy).toMatchObject({
      replicas: plan.workers,
      placement: { constraints: [`node.labels.tapbot.host == ${THIRD_HOST.name}`] },
      resources: { limits: { memory: `${worker?.limitMB}M` } },
      update_config: { parallelism: 1, order: "stop-first" },
    });
    expect(services["bot-automation"]?.stop_grace_period).toBe("30s");
  });

  it("escapes $ from compose's interpolation, and names the external network and secrets it needs", () => {
    const file = compose();
    expect(file.services["bot-automation"]?.environment).toContain("PRICE=$$5");
    expect(file.networks).toEqual({ "tapbot-swarm": { external: true } });
    expect(file.secrets).toEqual({ tapbot_fal_key_0123456789abcdef: { external: true } });
  });

  it("refuses a reservation above the limit, as Docker would at deploy time", () => {
    expect(() =>
      renderSwarmStack({
        image: "x:1",
        services: [
          {
            ...service("bot"),
            placements: [{ host: "automation", replicas: 1, limitMB: 100, reservationMB: 200 }],
          },
        ],
        network: "n",
        stopGraceSeconds: 30,
        workerBatchSize: 2,
      }),
    ).toThrow("bot on automation: reservation 200 MB exceeds its limit 100 MB");
  });
});

describe("room for a bot update", () => {
  it("is quiet where the host has two bots' limit free, and names the host and the figures where it has not", () => {
    expect(botUpdateRoomWarnings(plan)).toEqual([]);
    const automation = plan.hosts.find((h) => h.name === "automation");
    const bot = servicePlacements(plan, "bot")[0];
    if (automation === undefined || bot === undefined)
      throw new Error("no automation host or bot in the plan");
    const tight = {
      ...plan,
      hosts: plan.hosts.map((h) => (h.name === "automation" ? { ...h, usedMB: h.ramMB - bot.limitMB } : h)),
    };
    expect(botUpdateRoomWarnings(tight)).toEqual([
      `a bot update on automation runs up to two bots more than the plan (2 × ${bot.limitMB} MB) for a moment, but the plan leaves ${bot.limitMB} MB of its RAM: lower the bot's limit, give automation more RAM, or move a service off it`,
    ]);
  });
});

describe("the Swarm scripts", () => {
  it("join on the tunnel address only, with a token of the right form", () => {
    const join = renderSwarmJoinScript({
      address: "10.77.0.3",
      managerAddress: "10.77.0.1",
      token: "SWMTKN-1-abc123-def456",
    });
    expect(join).toContain(
      "--advertise-addr 10.77.0.3 --listen-addr 10.77.0.3:2377 --data-path-addr 10.77.0.3 10.77.0.1:2377",
    );
    expect(() =>
      renderSwarmJoinScript({ address: "10.77.0.3", managerAddress: "10.77.0.1", token: "x; rm -rf /" }),
    ).toThrow(/SWMTKN-1-/);
    expect(() => renderSwarmLabelScript("$(reboot)", "worker-1")).toThrow(/node id/);
  });

  it("creates each secret once and removes the stack's secrets no longer named", () => {
    const script = renderStackDeployScript({
      stack: "tapbot",
      stackFile: "version: '3.8'\n",
      secrets: [{ name: "tapbot_fal_key_1", value: "it's secret" }],
    });
    expect(script).toContain("docker secret inspect tapbot_fal_key_1");
    expect(script).toContain(`printf '%s' 'it'"'"'s secret' | docker secret create`);
    expect(script).toContain("docker stack deploy --prune --resolve-image never");
  });

  it("turns live-restore off on Swarm hosts only (dockerd refuses Swarm mode with it)", () => {
    expect(dockerDaemonSettings({ logMaxSize: "10m", logMaxFile: 3 })["live-restore"]).toBe(true);
    expect(dockerDaemonSettings({ logMaxSize: "10m", logMaxFile: 3, swarm: true })["live-restore"]).toBe(
      false,
    );
  });
});
