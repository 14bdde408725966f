import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LoopbackServer, listenLoopback } from "../support/http-kit.js";
import { type MonitoringServer, startMonitoringServer } from "../support/monitoring-server.js";
import { waitUntil } from "../support/wait-until.js";
import { limitOf, runCapacity } from "./support.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MiB = 2 ** 20;

/**
 * A bot and a worker as production's Prometheus sees them, with figures known in advance: 2 requests accepted
 * and 2 delivered per second, 0.03 CPU s per second on the worker (0.015 per job), fal 25 s per job and no
 * status poll (webhooks), RSS 150 MB (bot) and 140 MB (worker). Served in Prometheus's text format with the
 * app's metric names; the counters grow with the time since start, as real ones do.
 */
function metrics(path: string, elapsedSeconds: number): string | null {
  const t = elapsedSeconds;
  if (path === "/bot") {
    return [
      `tapbot_process_resident_memory_bytes ${150 * MiB}`,
      `tapbot_jobs_enqueued_total{kind="text-to-image",tier="free"} ${2 * t}`,
      "",
    ].join("\n");
  }
  if (path === "/worker") {
    return [
      `tapbot_process_resident_memory_bytes ${140 * MiB}`,
      `tapbot_process_cpu_seconds_total ${0.03 * t}`,
      `tapbot_jobs_completed_total{kind="text-to-image"} ${2 * t}`,
      `tapbot_provider_latency_seconds_sum{kind="text-to-image"} ${50 * t}`,
      `tapbot_provider_latency_seconds_count{kind="text-to-image"} ${2 * t}`,
      `tapbot_polls_per_job_sum{kind="text-to-image"} 0`,
      `tapbot_polls_per_job_count{kind="text-to-image"} ${2 * t}`,
      "",
    ].join("\n");
  }
  return null;
}

let app: LoopbackServer;
let prometheus: MonitoringServer;

beforeAll(async () => {
  const started = Date.now();
  app = await listenLoopback(async (req, res) => {
    const body = metrics(req.url ?? "", (Date.now() - started) / 1000);
    res.writeHead(body === null ? 404 : 200, { "content-type": "text/plain; version=0.0.4" });
    res.end(body ?? "not found");
  });
  const target = `127.0.0.1:${app.port}`;
  prometheus = await startMonitoringServer("prometheus", () => ({
    "prometheus.yml": [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      "scrape_configs:",
      `  - { job_name: bot, metrics_path: /bot, static_configs: [{ targets: ["${target}"] }] }`,
      `  - { job_name: worker, metrics_path: /worker, static_configs: [{ targets: ["${target}"] }] }`,
      "",
    ].join("\n"),
  }));
  // Enough samples for a 20-s window: the worker scraped at least 20 times.
  await waitUntil(
    async () => {
      const data = await prometheus.api<{ result: { value: [number, string] }[] }>(
        `/api/v1/query?query=${encodeURIComponent('count_over_time(up{job="worker"}[1m])')}`,
      );
      return Number(data.result[0]?.value[1] ?? 0) >= 22 ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1_000, describe: () => "Prometheus did not collect 22 scrapes" },
  );
}, 90_000);

afterAll(async () => {
  await prometheus?.stop();
  await app?.close();
});

describe("capacity calibrate --from-prometheus: the model learns from production", () => {
  it("reads RSS, CPU per job, fal's time, polls and arrival rates, and shows the plan it would give", async () => {
    const run = await runCapacity(
      REPO_ROOT,
      ...["calibrate", "--from-prometheus", prometheus.url, "--since", "20s", "--stack", "prod", "--json"],
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const { observed, learned, before, after } = JSON.parse(run.stdout);
    expect(observed.botRssMB).toBeCloseTo(150, 5);
    expect(observed.workerRssMB).toBeCloseTo(140, 5);
    expect(observed.workerCpuSecondsPerJob).toBeCloseTo(0.015, 4);
    expect(observed.jobSeconds).toBeCloseTo(25, 5);
    expect(observed.pollsPerJob).toBe(0);
    expect(observed.meanArrivalPerSecond / 2).toBeGreaterThan(0.85);
    expect(observed.meanArrivalPerSecond / 2).toBeLessThan(1.15);
    expect(observed.peakArrivalPerSecond / 2).toBeGreaterThan(0.85);
    expect(observed.peakArrivalPerSecond / 2).toBeLessThan(1.15);
    // Budgets: the most RSS × 1.5 on the stack's lines; a webhook job is two steps (submit, deliver).
    expect(learned.calibration.stepsPerJob).toBe(2);
    expect(learned.calibration.cpuSecondsPerStep).toBeCloseTo(0.012, 10); // 0.015 / 2 × 1.5, rounded up
    expect(learned.calibration.services.worker.baseMB % 10).toBe(0);
    expect(learned.inputs.jobSeconds).toBeCloseTo(25, 5);
    // The bot at 300 users: 150 MB × 1.5 = 225 MB, so its limit falls from the lab's 240 MB.
    expect(limitOf(before, "bot")).toBe(240);
    expect(limitOf(after, "bot")).toBe(230);
    expect(JSON.stringify(after.calibration)).toMatch(/production: http:\/\/127\.0\.0\.1:\d+ over 20s/);
  });

  it("prints what would change, and writes the calibration with --out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "calibrate-"));
    const out = join(dir, "production.json");
    const run = await runCapacity(
      REPO_ROOT,
      ...[
        "calibrate",
        "--from-prometheus",
        prometheus.url,
        "--since",
        "20s",
        "--stack",
        "prod",
        "--out",
        out,
      ],
    );
    expect(run.code).toBe(0);
    // The file is a calibration the CLI takes: the plan with it has the learned bot budget.
    const withIt = await runCapacity(REPO_ROOT, "plan", "--stack", "prod", "--calibration", out, "--json");
    rmSync(dir, { recursive: true, force: true });
    expect(withIt.code).toBe(0);
    expect(limitOf(JSON.parse(withIt.stdout), "bot")).toBe(230);
    expect(run.stdout).toContain("What would change (the plan now → with what production measured)");
    expect(run.stdout).toMatch(/bot limit\s+240 MB → 230 MB/);
    expect(run.stdout).toMatch(/fal's time per job\s+25\.0 s/);
  });

  it("says what is wrong with an unreachable server, a path that is not Prometheus, or a bad window", async () => {
    const dead = await runCapacity(
      REPO_ROOT,
      "calibrate",
      "--from-prometheus",
      "http://127.0.0.1:9",
      "--users",
      "300",
    );
    expect(dead.code).toBe(2);
    expect(dead.stderr).toContain("cannot reach Prometheus at http://127.0.0.1:9");
    const notProm = await runCapacity(
      REPO_ROOT,
      "calibrate",
      "--from-prometheus",
      app.origin,
      "--users",
      "300",
    );
    expect(notProm.code).toBe(2);
    expect(notProm.stderr).toMatch(/did not answer the query .* give the server's base URL/);
    const window = await runCapacity(
      REPO_ROOT,
      ...["calibrate", "--from-prometheus", prometheus.url, "--since", "a week", "--users", "300"],
    );
    expect(window.code).toBe(2);
    expect(window.stderr).toContain(
      '--since: got "a week"; expected a duration such as 90s, 30m, 12h, 7d or 2w',
    );
    const missing = await runCapacity(REPO_ROOT, "calibrate", "--users", "300");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--from-prometheus");
    for (const r of [dead, notProm, window, missing]) expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});
