import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alertRulesInput } from "../../infra/monitoring-plan.js";
import { renderAlertRules } from "../../infra/render/alert-rules.js";
import type { Dashboard } from "../../infra/render/grafana-dashboards.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import {
  installMocks,
  isSecretWrapper,
  type Registered,
  registered,
  resetRegistrations,
  resolve,
  SECRET_VALUES,
  setStackConfig,
  unwrap,
} from "./helpers/pulumi-mocks.js";
import { runTool } from "./helpers/run-tool.js";
import { stackPlan, TEST_ALERT_CHAT_ID } from "./helpers/stack-config.js";

type Program = typeof import("../../infra/program.js");
let program: Program;
let resources: Registered[];
let dir: string;

const CONTAINER = "docker:index/container:Container";
const container = (name: string) => {
  const found = resources.find((r) => r.type === CONTAINER && r.name === `monitoring-${name}`);
  if (found === undefined) throw new Error(`no container monitoring-${name}`);
  return found;
};
const envs = (name: string) => unwrap(container(name).inputs.envs) as string[];
/** The files a container gets uploaded, by path; `secret` tells whether the content went as a secret. */
function uploads(name: string): Map<string, { content: string; secret: boolean }> {
  const raw = container(name).inputs.uploads;
  const list = unwrap(raw) as { file: string; content: unknown }[];
  return new Map(
    list.map((u) => [
      u.file,
      { content: unwrap(u.content) as string, secret: isSecretWrapper(raw) || isSecretWrapper(u.content) },
    ]),
  );
}
const file = (name: string, path: string) => {
  const found = uploads(name).get(path);
  if (found === undefined) throw new Error(`${name} gets no ${path}`);
  return found;
};

beforeAll(async () => {
  await installMocks();
  program = await import("../../infra/program.js");
  resetRegistrations();
  setStackConfig(300);
  const outputs = await program.deployStack();
  const m = outputs.components.monitoring;
  await Promise.all([m.prometheus, m.alertmanager, m.grafana, ...m.exporters].map((c) => resolve(c.id)));
  resources = [...registered];
  dir = await makeTempDir("monitoring-program");
}, 120_000);
afterAll(async () => {
  await removeTempDir(dir);
});

describe("the monitoring stack under Pulumi mocks (300 users)", () => {
  const plan = stackPlan(300);

  it("runs every monitoring service of the plan, with the plan's memory limit, where the plan puts it", () => {
    const monitoring = plan.hosts.flatMap((h) =>
      h.services
        .filter((s) => /prometheus|alertmanager|grafana|exporter|cadvisor/.test(s.name))
        .map((s) => ({ ...s, provider: h.name })),
    );
    expect(monitoring.map((s) => s.name).sort()).toEqual(
      [
        "alertmanager",
        "cadvisor-automation",
        "cadvisor-data",
        "grafana",
        "node-exporter-automation",
        "node-exporter-data",
        "postgres-exporter",
        "prometheus",
        "redis-exporter",
      ].sort(),
    );
    for (const s of monitoring) {
      const c = container(s.name);
      expect(c.inputs.name, s.name).toBe(`tapbot-${s.name}`);
      expect(c.inputs.memory, s.name).toBe(s.limitMB);
      expect(c.inputs.memoryReservation, s.name).toBe(s.reservationMB);
      expect(c.inputs.healthcheck, s.name).toBeDefined();
    }
  });

  it("listens on no public address: host-network services bind loopback or the tunnel, the rest publish there", () => {
    const flags = (name: string) => ((container(name).inputs.command as string[]) ?? []).join(" ");
    expect(flags("prometheus")).toContain("--web.listen-address=127.0.0.1:9090");
    expect(flags("alertmanager")).toContain("--web.listen-address=127.0.0.1:9093");
    expect(flags("alertmanager")).toContain("--cluster.listen-address=");
    expect(flags("node-exporter-automation")).toContain("--web.listen-address=10.77.0.1:9100");
    expect(flags("node-exporter-data")).toContain("--web.listen-address=10.77.0.2:9100");
    expect(flags("cadvisor-automation")).toContain("--listen_ip=10.77.0.1");
    expect(flags("cadvisor-data")).toContain("--listen_ip=10.77.0.2");
    expect(envs("grafana")).toEqual(
      expect.arrayContaining(["GF_SERVER_HTTP_ADDR=10.77.0.2", "GF_AUTH_ANONYMOUS_ENABLED=false"]),
    );
    for (const name of [
      "prometheus",
      "alertmanager",
      "grafana",
      "node-exporter-data",
      "cadvisor-automation",
    ]) {
      expect(container(name).inputs.networkMode, name).toBe("host");
      expect(container(name).inputs.ports ?? [], name).toEqual([]);
    }
  });

  it("loads the alert rules rendered from the plan, and keeps the metrics the plan's retention allows", () => {
    const rules = file("prometheus", "/etc/prometheus/tapbot.rules.yml");
    // The stack has no tapbot:offsiteBackup: only the local pg_dump runs, so only its store is watched.
    expect(rules.content).toBe(renderAlertRules(alertRulesInput(plan, undefined, ["postgres"])));
    expect(container("prometheus").inputs.command).toContain(
      `--storage.tsdb.retention.size=${Math.floor((plan.prometheus?.retentionGB ?? 0) * 1024)}MB`,
    );
  });

  it("renders a prometheus.yml that promtool accepts, scraping every worker of the plan over the tunnel", async () => {
    const config = file("prometheus", "/etc/prometheus/prometheus.yml").content;
    // Point rule_files at the copy promtool can read; everything else exactly as deployed.
    await writeFile(
      join(dir, "tapbot.rules.yml"),
      file("prometheus", "/etc/prometheus/tapbot.rules.yml").content,
    );
    await writeFile(join(dir, "prometheus.yml"), config.replace("/etc/prometheus/", `${dir}/`));
    const result = await runTool("promtool", ["check", "config", join(dir, "prometheus.yml")]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (let n = 1; n <= plan.workers; n += 1) expect(config).toContain(`10.77.0.1:${9400 + n}`);
    expect(config).not.toContain(`10.77.0.1:${9400 + plan.workers + 1}`);
  });

  it("sends alerts to the owner's chat with a config amtool accepts, uploaded as a secret", async () => {
    const am = file("alertmanager", "/etc/alertmanager/alertmanager.yml");
    expect(am.secret).toBe(true);
    expect(am.content).toContain(SECRET_VALUES.alertTelegramBotToken);
    expect(am.content).toContain(`chat_id: ${TEST_ALERT_CHAT_ID}`);
    await writeFile(join(dir, "alertmanager.yml"), am.content);
    const result = await runTool("amtool", ["check-config", join(dir, "alertmanager.yml")]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain("1 receivers");
  });

  it("provisions Grafana's data source and four dashboards whose threshold lines are the plan's marks", () => {
    const files = uploads("grafana");
    expect(files.get("/etc/grafana/provisioning/datasources/tapbot.yml")?.content).toContain(
      "url: http://127.0.0.1:9090",
    );
    const dashboards = [...files]
      .filter(([path]) => path.endsWith(".json"))
      .map(([, f]) => JSON.parse(f.content) as Dashboard);
    expect(dashboards.map((d) => d.uid).sort()).toEqual([
      "tapbot-containers",
      "tapbot-hosts",
      "tapbot-overview",
      "tapbot-queue",
    ]);
    const ram = dashboards.find((d) => d.uid === "tapbot-hosts")?.panels.find((p) => p.title === "RAM used");
    expect(ram?.fieldConfig.defaults.thresholds.steps.map((s) => s.value)).toEqual([
      null,
      plan.thresholds.ram.warn,
      plan.thresholds.ram.crit,
    ]);
    expect(envs("grafana")).toEqual(
      expect.arrayContaining([expect.stringMatching(/^GF_SERVER_ROOT_URL=https:\/\/grafana\.tapbot\.kz\/$/)]),
    );
  });
});
