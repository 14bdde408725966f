import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { installMocks, resolve, SECRET_VALUES, setStackConfig } from "./helpers/pulumi-mocks.js";
import { stackPlan } from "./helpers/stack-config.js";

/**
 * What the program logs where the owner sees it (info, warn, error), to check that no secret reaches it.
 * Debug level is left out: it carries the SDK's own RPC traces (shown only with --debug), not the program's.
 */
const logged: string[] = [];

/** The way Pulumi runs it: mocks and config first, then the program module itself is imported. */
beforeAll(async () => {
  await installMocks();
  setStackConfig(300);
  const capture = async (message: string): Promise<void> => {
    logged.push(message);
  };
  vi.spyOn(pulumi.log, "info").mockImplementation(capture);
  vi.spyOn(pulumi.log, "warn").mockImplementation(capture);
  vi.spyOn(pulumi.log, "error").mockImplementation(capture);
});

describe("the stack outputs", () => {
  it("name the URLs, each host's plan and what binds first, with secrets only as secret outputs", async () => {
    const index = await import("../../infra/index.js");
    const expected = stackPlan(300);
    expect(index.urls).toEqual({
      n8n: "https://n8n.tapbot.kz/",
      directus: "https://directus.tapbot.kz/",
      grafana: "https://grafana.tapbot.kz/",
      board: "https://queue.tapbot.kz/",
    });
    expect(index.workers.count).toBe(expected.workers);
    expect(index.bindsFirst).toMatchObject({
      resource: expected.bottleneck.resource,
      maxUsers: expected.bottleneck.maxUsers,
    });
    expect(index.hosts.automation.utilization).toBe(
      expected.hosts.find((h) => h.name === "automation")?.utilization,
    );
    expect(index.hosts.data.containers.map((c) => c.name)).toEqual([
      "postgres",
      "directus",
      "qdrant",
      "prometheus",
      "alertmanager",
      "grafana",
      "postgres-exporter",
      "node-exporter-data",
      "cadvisor-data",
    ]);
    expect(await pulumi.isSecret(index.databaseUrl)).toBe(true);
    expect(await resolve(index.databaseUrl)).toContain("@10.77.0.2:5432/tapbot");
    const plainOutputs = JSON.stringify([
      index.urls,
      index.users,
      index.hosts,
      index.bindsFirst,
      index.findings,
      await resolve(index.workers.image),
    ]);
    for (const value of Object.values(SECRET_VALUES)) {
      expect(plainOutputs).not.toContain(value);
      expect(logged.filter((l) => l.includes(value)).map((l) => l.slice(0, 300))).toEqual([]);
    }
    // Every finding of the plan reaches the `pulumi up` log, so the owner sees what binds first.
    expect(expected.findings.length).toBeGreaterThan(0);
    for (const finding of expected.findings) {
      expect(
        logged.some((l) => l.includes(finding.code)),
        finding.code,
      ).toBe(true);
    }
  });
});
