import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alertRulesInput } from "../../infra/monitoring-plan.js";
import { renderAlertRules } from "../../infra/render/alert-rules.js";
import { renderAlertmanagerConfig } from "../../infra/render/alertmanager-config.js";
import { renderPrometheusConfig } from "../../infra/render/prometheus-config.js";
import { dumpLogsOnFailure, newUser } from "../e2e/e2e-kit.js";
import { type AppProcess, type AppStack, startAppStack } from "../support/app-stack.js";
import { type MonitoringServer, startMonitoringServer } from "../support/monitoring-server.js";
import { waitUntil } from "../support/wait-until.js";
import { stackPlan } from "./helpers/stack-config.js";

/**
 * The monitoring path for real: a Prometheus (Debian's) scraping real bot and worker processes with the rule
 * file rendered from the plan, an Alertmanager (Debian's) with the rendered config sending to the fake
 * Telegram. The rules are the production ones except their `for:` delays, which are seconds here (the
 * delays themselves are promtool's unit tests' job).
 */
let stack: AppStack;
let workers: AppProcess[];
let prometheus: MonitoringServer;
let alertmanager: MonitoringServer;
dumpLogsOnFailure(() => stack);

interface PromAlert {
  labels: Record<string, string>;
  state: "pending" | "firing";
}

const owner = { id: 4242, first_name: "Owner" };

beforeAll(async () => {
  // Redis as production runs it (AOF): with a Redis that keeps nothing, QueueRedisNotPersistent fires, rightly.
  stack = await startAppStack({ redis: { appendOnly: true } });
  const [bot, ...started] = await Promise.all([stack.startBot(), stack.startWorker(), stack.startWorker()]);
  workers = started;
  // The owner has opened the chat with the alert bot (Telegram refuses to write first).
  stack.telegram.userSends(owner, { text: "/start" });
  alertmanager = await startMonitoringServer("alertmanager", () => ({
    "alertmanager.yml": renderAlertmanagerConfig({
      telegram: { botToken: stack.telegram.token, chatId: owner.id, apiUrl: stack.telegram.apiRoot },
      groupWait: "1s",
    }),
  }));
  const rules = renderAlertRules(
    alertRulesInput(stackPlan(300), {
      down: "3s",
      warn: "3s",
      crit: "3s",
      cpu: "3s",
      disk: "3s",
      queue: "3s",
    }),
  );
  const app = (p: AppProcess) => ({ address: `127.0.0.1:${p.port}`, host: "automation", instance: p.name });
  prometheus = await startMonitoringServer("prometheus", (dir) => ({
    "tapbot.rules.yml": rules,
    "prometheus.yml": renderPrometheusConfig({
      scrapeIntervalSeconds: 1,
      evaluationIntervalSeconds: 1,
      alertmanager: `127.0.0.1:${alertmanager.port}`,
      ruleFiles: [`${dir}/tapbot.rules.yml`],
      jobs: [
        { name: "bot", targets: [app(bot)] },
        { name: "worker", targets: workers.map(app) },
      ],
    }),
  }));
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([prometheus?.stop(), alertmanager?.stop()]);
  await stack?.stop();
}, 60_000);

/** Prometheus's instant query, as [labels, value] pairs. */
async function query(expr: string): Promise<[Record<string, string>, number][]> {
  const data = await prometheus.api<{
    result: { metric: Record<string, string>; value: [number, string] }[];
  }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
  return data.result.map((r) => [r.metric, Number(r.value[1])]);
}

describe("Prometheus scraping the real bot and workers", () => {
  it("sees every process up, with the app's metrics, and no alert while all is well", async () => {
    await waitUntil(async () => ((await query("up == 1")).length === 3 ? true : undefined), {
      timeoutMs: 20_000,
      describe: () => "Prometheus did not see the bot and both workers up",
    });
    const up = await query("up");
    expect(up.map(([l]) => `${l.job}/${l.instance}/${l.host}`).sort()).toEqual([
      "bot/bot/automation",
      "worker/worker-1/automation",
      "worker/worker-2/automation",
    ]);
    const user = newUser(stack, "Mona");
    const request = user.says("a red fox in the snow");
    await user.nextPhoto(request, 30_000);
    await waitUntil(
      async () => ((await query("sum(tapbot_jobs_completed_total) >= 1")).length === 1 ? true : undefined),
      {
        timeoutMs: 15_000,
        describe: () => "Prometheus did not see the delivered job in tapbot_jobs_completed_total",
      },
    );
    expect(await query('tapbot_queue_depth{state="waiting"}')).toHaveLength(2);
    const alerts = await prometheus.api<{ alerts: PromAlert[] }>("/api/v1/alerts");
    expect(alerts.alerts.filter((a) => a.state === "firing")).toEqual([]);
  }, 60_000);

  it("fires ProcessDown for a killed worker, and the owner reads it in Telegram", async () => {
    const victim = workers[0] as AppProcess;
    await victim.kill();
    const firing = await waitUntil(
      async () => {
        const { alerts } = await prometheus.api<{ alerts: PromAlert[] }>("/api/v1/alerts");
        const found = alerts.filter((a) => a.state === "firing");
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 30_000, describe: () => "no alert fired after the worker was killed" },
    );
    expect(firing.map((a) => [a.labels.alertname, a.labels.instance, a.labels.severity])).toEqual([
      ["ProcessDown", victim.name, "critical"],
    ]);
    const message = await stack.telegram.waitForMessage(
      owner.id,
      (view) => view.from === "bot" && (view.text ?? "").includes("ProcessDown"),
      30_000,
    );
    expect(message.text).toContain("FIRING ProcessDown (critical)");
    expect(message.text).toContain(`worker ${victim.name} on automation is down`);
    // Sent as HTML, which the fake parses as Telegram does (it refuses what does not parse): the owner sees
    // the text without the tags.
    const call = await stack.telegram.waitForCall("sendMessage", (c) =>
      String(c.params.text).includes("<b>ProcessDown</b>"),
    );
    expect(call.params.parse_mode).toBe("HTML");
    expect(call.status).toBe(200);
    expect(message.text).not.toContain("<b>");
  }, 60_000);
});
