import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alertRulesInput } from "../../infra/monitoring-plan.js";
import { relayPlacements, scrapeJobs } from "../../infra/monitoring-targets.js";
import { renderAlertRules } from "../../infra/render/alert-rules.js";
import { renderMetricsRelayConfig } from "../../infra/render/metrics-relay-config.js";
import { renderPrometheusConfig } from "../../infra/render/prometheus-config.js";
import { swarmServiceHost } from "../../infra/render/swarm-stack.js";
import { type RunningChild, startChild } from "../support/child-process.js";
import { freePort } from "../support/free-port.js";
import { type MonitoringServer, startMonitoringServer } from "../support/monitoring-server.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { waitUntil } from "../support/wait-until.js";
import { runTool } from "./helpers/run-tool.js";
import { plainStackConfig } from "./helpers/stack-config.js";
import { exampleThreeHostCapacity, threeHostPlan } from "./helpers/three-hosts.js";

/**
 * The metrics relay for real: Debian's Prometheus runs the relay config the program renders for the capacity
 * model's three-host example (bot 1 + 1, workers 5 + 5 over automation and app-2), and finds the "tasks" by
 * DNS as Docker's DNS would answer on the overlay: a dnsmasq answers `tasks.tapbot_<service>-<host>` with
 * loopback addresses where small HTTP servers serve /metrics. A second Prometheus, with the central config's
 * relay job and the rules the program renders from the same plan, federates from it. Prometheus's DNS
 * discovery reads /etc/resolv.conf only, so the relay runs in a mount namespace of its own where that file
 * names the dnsmasq (on 127.0.0.77:53; the host's resolv.conf is untouched).
 */
const plan = threeHostPlan(exampleThreeHostCapacity());
const DNS_ADDRESS = "127.0.0.77";
/** Swarm's names of two worker task containers on app-2 (`<service>.<slot>.<task id>`), as cAdvisor reports them. */
const HEAVY_TASK = "tapbot_worker-app-2.3.k2x9f0q7m4w1c8z5v6b3n0p2a";
const LIGHT_TASK = "tapbot_worker-app-2.1.p0o9i8u7y6t5r4e3w2q1a2s3d";
const workerLimitMB =
  plan.hosts.find((h) => h.name === "app-2")?.services.find((s) => s.name === "worker")?.limitMB ?? 0;
const ZERO = { down: "0s", warn: "0s", crit: "0s", cpu: "0s", disk: "0s", queue: "0s" };

/** Every task of the plan, and what this test makes of it (the fifth worker on app-2 is gone from DNS). */
interface FakeTask {
  service: "bot" | "worker";
  host: string;
  address: string;
  /** In DNS but not answering: a task that hangs or died since the last DNS refresh. */
  dead?: boolean;
}

let dir: string;
let taskPort: number;
let tasks: FakeTask[];
const servers: Server[] = [];
let dns: RunningChild;
let relay: RunningChild;
let relayPort: number;
let central: MonitoringServer;

interface Alert {
  labels: Record<string, string>;
  state: string;
  value: string;
}
interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

let lastFiring: Alert[] = [];
async function firing(): Promise<Alert[]> {
  const data = await central.api<{ alerts: Alert[] }>("/api/v1/alerts");
  lastFiring = data.alerts.filter((a) => a.state === "firing");
  return lastFiring;
}
/** What a timed-out wait shows: the alerts firing then and the central Prometheus's log. */
const seenAlerts = () =>
  `firing: ${JSON.stringify(lastFiring.map((a) => a.labels))}\ncentral log:\n${central.child.logTail(20)}`;

async function query(expr: string): Promise<Series[]> {
  return (await central.api<{ result: Series[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "this test runs as root (CI does): `unshare --mount` for the relay and dnsmasq on port 53",
    );
  }
  dir = await makeTempDir("metrics-relay");
  taskPort = await freePort();
  const placements = relayPlacements(plan);
  let next = 11;
  tasks = placements.flatMap((p) => {
    // worker on app-2: one task short in DNS (vanished), one in DNS but dead.
    const short = p.service === "worker" && p.host === "app-2";
    const count = short ? p.replicas - 1 : p.replicas;
    return Array.from({ length: count }, (_, i): FakeTask => {
      const task: FakeTask = { service: p.service, host: p.host, address: `127.0.0.${next++}` };
      if (short && i === 0) task.dead = true;
      return task;
    });
  });
  for (const task of tasks.filter((t) => t.dead !== true)) {
    const server = createServer((_, response) => {
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      // As the app: each worker reports the queue's Redis's persistence (app/worker), here one without AOF;
      // a bot does not.
      response.end(
        task.service === "worker"
          ? "# TYPE tapbot_queue_redis_persistent gauge\ntapbot_queue_redis_persistent 0\n"
          : "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1e+08\n",
      );
    });
    await new Promise<void>((resolve) => server.listen(taskPort, task.address, resolve));
    servers.push(server);
  }

  const records = placements.flatMap((p) =>
    tasks
      .filter((t) => t.service === p.service && t.host === p.host)
      .map((t) => `--host-record=tasks.${swarmServiceHost(p.service, p.host)},${t.address}`),
  );
  dns = startChild("dnsmasq", [
    "--keep-in-foreground",
    "--log-facility=-",
    "--port=53",
    `--listen-address=${DNS_ADDRESS}`,
    "--bind-interfaces",
    "--no-resolv",
    "--no-hosts",
    "--conf-file=/dev/null",
    "--user=root",
    ...records,
  ]);
  await writeFile(join(dir, "resolv.conf"), `nameserver ${DNS_ADDRESS}\n`);

  const relayConfig = renderMetricsRelayConfig({ scrapeIntervalSeconds: 1, taskPort, placements });
  await writeFile(join(dir, "relay.yml"), relayConfig);
  relayPort = await freePort();
  relay = startChild("unshare", [
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `mount --bind "$0" /etc/resolv.conf && exec prometheus "$@"`,
    join(dir, "resolv.conf"),
    `--config.file=${join(dir, "relay.yml")}`,
    `--storage.tsdb.path=${join(dir, "relay-data")}`,
    `--web.listen-address=127.0.0.1:${relayPort}`,
    "--log.level=warn",
  ]);

  // app-2's cAdvisor, as the central Prometheus scrapes it directly: one worker task over its plan limit.
  const cadvisor = createServer((_, response) => {
    response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    response.end(
      [
        "# TYPE container_memory_working_set_bytes gauge",
        `container_memory_working_set_bytes{name="${HEAVY_TASK}"} ${workerLimitMB * 1024 * 1024}`,
        `container_memory_working_set_bytes{name="${LIGHT_TASK}"} ${1024 * 1024}`,
        "",
      ].join("\n"),
    );
  });
  await new Promise<void>((resolve) => cadvisor.listen(0, "127.0.0.1", resolve));
  servers.push(cadvisor);
  const cadvisorAddress = cadvisor.address() as AddressInfo;

  // The central config's own relay job, pointed at this relay instead of the automation host's tunnel address.
  const config = plainStackConfig();
  const relayJob = scrapeJobs(config, plan).filter((job) => job.name === "metrics-relay");
  const centralConfig = (rules: string) =>
    renderPrometheusConfig({
      scrapeIntervalSeconds: 1,
      evaluationIntervalSeconds: 1,
      alertmanager: "127.0.0.1:9",
      ruleFiles: [rules],
      jobs: [
        ...relayJob.map((job) => ({
          ...job,
          targets: job.targets.map((t) => ({ ...t, address: `127.0.0.1:${relayPort}` })),
        })),
        {
          name: "cadvisor",
          targets: [{ address: `127.0.0.1:${cadvisorAddress.port}`, host: "app-2", instance: "app-2" }],
        },
      ],
    });
  central = await startMonitoringServer("prometheus", (d) => ({
    "prometheus.yml": centralConfig(join(d, "tapbot.rules.yml")),
    "tapbot.rules.yml": renderAlertRules(alertRulesInput(plan, ZERO)),
  }));
}, 60_000);

afterAll(async () => {
  await central?.stop();
  await relay?.stop("SIGTERM", 5_000);
  await dns?.stop("SIGTERM", 5_000);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  if (dir !== undefined) await removeTempDir(dir);
});

describe("the relay's config and the central job, refusing what they cannot render", () => {
  it("names the bad placement or job and what is allowed", () => {
    const base = { scrapeIntervalSeconds: 15, taskPort: 8080 };
    const bot = { service: "bot" as const, host: "automation", replicas: 1 };
    expect(() => renderMetricsRelayConfig({ ...base, placements: [] })).toThrow(
      "the relay needs at least one Swarm placement to scrape",
    );
    expect(() => renderMetricsRelayConfig({ ...base, placements: [bot, bot] })).toThrow(
      "placement bot-automation is listed twice",
    );
    expect(() => renderMetricsRelayConfig({ ...base, placements: [{ ...bot, host: "App 2" }] })).toThrow(
      "placement host must be a plan host name like app-2; got App 2",
    );
    expect(() => renderMetricsRelayConfig({ ...base, placements: [{ ...bot, replicas: 0 }] })).toThrow(
      "bot on automation: replicas must be an integer ≥ 1; got 0",
    );
    const job = { name: "relay", targets: [{ address: "10.77.0.1:9095", host: "automation" }] };
    const central = (federate: string[], metricsPath?: string) =>
      renderPrometheusConfig({
        scrapeIntervalSeconds: 15,
        evaluationIntervalSeconds: 15,
        alertmanager: "127.0.0.1:9093",
        ruleFiles: [],
        jobs: [{ ...job, federate, ...(metricsPath === undefined ? {} : { metricsPath }) }],
      });
    expect(() => central([])).toThrow("relay: federate needs at least one match[] selector");
    expect(() => central(['{job="bot"}'], "/metrics")).toThrow("and no metricsPath of its own");
  });
});

describe("the metrics relay of a Swarm deployment, on a real Prometheus", () => {
  it("renders a relay config promtool accepts", async () => {
    const result = await runTool("promtool", ["check", "config", join(dir, "relay.yml")]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it("gets every task found by DNS into the central Prometheus, as job bot / worker with its placement's host and its own address", async () => {
    const answering = tasks.filter((t) => t.dead !== true);
    const up = await waitUntil(
      async () => {
        const result = await query('up{job=~"bot|worker"}');
        return result.length === tasks.length ? result : undefined;
      },
      {
        timeoutMs: 20_000,
        describe: () =>
          `central Prometheus never saw all ${tasks.length} tasks; relay log:\n${relay.logTail(20)}`,
      },
    );
    const seen = up.map((s) => [s.metric.job, s.metric.host, s.metric.instance, s.value[1]]).sort();
    const expected = tasks
      .map((t) => [t.service, t.host, `${t.address}:${taskPort}`, t.dead ? "0" : "1"])
      .sort();
    expect(seen).toEqual(expected);
    expect(answering.length).toBeGreaterThan(0);
  });

  it("fires ProcessDown for the task that does not answer, SwarmTasksMissing for the placement short of the plan, and the app's own alerts from the tasks' metrics (once, naming Redis's host)", async () => {
    const dead = tasks.find((t) => t.dead === true);
    const workersOnApp2 = plan.hosts
      .find((h) => h.name === "app-2")
      ?.services.find((s) => s.name === "worker")?.replicas;
    const shortOf = (now: Alert[]) =>
      now
        .filter((a) => a.labels.alertname === "SwarmTasksMissing")
        .map((a) => [a.labels.job, a.labels.host, Number(a.value)]);
    // The short placement: app-2's workers, with 2 of the plan's tasks not answering (the dead one, and the
    // one DNS no longer lists). Until the relay's scrapes of every task have reached the central Prometheus
    // and the rules have been evaluated on them, other placements look short too, or this one shorter (a
    // loaded machine showed bots at 0 of 1, and app-2's workers at 2 answering): the alerts are read once the
    // rules give the settled answer, and a rule that never does fails the wait.
    const expectedShort = [["worker", "app-2", (workersOnApp2 ?? 0) - 2]];
    const alerts = await waitUntil(
      async () => {
        const now = await firing();
        const names = new Set(now.map((a) => a.labels.alertname));
        return JSON.stringify(shortOf(now)) === JSON.stringify(expectedShort) &&
          ["ProcessDown", "QueueRedisNotPersistent"].every((n) => names.has(n))
          ? now
          : undefined;
      },
      { timeoutMs: 60_000, describe: () => `the three alerts never fired together; ${seenAlerts()}` },
    );
    expect(
      alerts
        .filter((a) => a.labels.alertname === "ProcessDown")
        .map((a) => [a.labels.job, a.labels.host, a.labels.instance]),
    ).toEqual([["worker", "app-2", `${dead?.address}:${taskPort}`]]);
    // Only the short placement: the bots and automation's workers have every task the plan gives them.
    expect(shortOf(alerts)).toEqual(expectedShort);
    expect(
      alerts.filter((a) => a.labels.alertname === "QueueRedisNotPersistent").map((a) => a.labels.host),
    ).toEqual(["automation"]);
  });

  it("fires ContainerMemoryNearLimit for a worker task on app-2 at its plan limit, by the name Swarm gives it", async () => {
    const alerts = await waitUntil(
      async () => {
        const now = (await firing()).filter((a) => a.labels.alertname === "ContainerMemoryNearLimit");
        return now.length >= 2 ? now : undefined;
      },
      { timeoutMs: 20_000, describe: () => `no ContainerMemoryNearLimit; ${seenAlerts()}` },
    );
    expect(workerLimitMB).toBeGreaterThan(0);
    expect(alerts.map((a) => [a.labels.name, a.labels.service, a.labels.severity]).sort()).toEqual([
      [HEAVY_TASK, "worker", "critical"],
      [HEAVY_TASK, "worker", "warning"],
    ]);
  });

  it("fires ProcessDown for the relay itself, and every placement's SwarmTasksMissing, when the relay stops", async () => {
    await relay.stop("SIGTERM", 5_000);
    const alerts = await waitUntil(
      async () => {
        const now = await firing();
        const relayDown = now.some(
          (a) => a.labels.alertname === "ProcessDown" && a.labels.job === "metrics-relay",
        );
        const missing = now.filter((a) => a.labels.alertname === "SwarmTasksMissing");
        return relayDown && missing.length === 4 ? now : undefined;
      },
      { timeoutMs: 20_000, describe: () => `the relay's stop was not seen; ${seenAlerts()}` },
    );
    expect(
      alerts
        .filter((a) => a.labels.alertname === "ProcessDown" && a.labels.job === "metrics-relay")
        .map((a) => [a.labels.host, a.labels.instance]),
    ).toEqual([["automation", "metrics-relay"]]);
    expect(
      alerts
        .filter((a) => a.labels.alertname === "SwarmTasksMissing")
        .map((a) => `${a.labels.job}-${a.labels.host} ${Number(a.value)}`)
        .sort(),
    ).toEqual(["bot-app-2 0", "bot-automation 0", "worker-app-2 0", "worker-automation 0"]);
  });
});
