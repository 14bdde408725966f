import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type PlanInput, parsePlanInput, plan, TELEGRAM_CALLS_PER_JOB } from "../../capacity/index.js";

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const notesHost = () => parsePlanInput(parse(readFileSync(fixture("notes-100-users.yaml"), "utf8")));
const host = (p: ReturnType<typeof plan>, name: string) => {
  const h = p.hosts.find((x) => x.name === name);
  if (h === undefined) throw new Error(`no host ${name}`);
  return h;
};

describe("the notes' own 100-user host", () => {
  it("uses 3056 MB of 3072 MB: 99.5 %, critical", () => {
    const box = host(plan(notesHost()), "box");
    expect(box.usedMB).toBe(3056);
    expect(box.utilization).toBeCloseTo(0.995, 3);
    expect(box.status).toBe("crit");
    expect(box.swapMB).toBe(2048);
  });

  it("reports both Redis mistakes of the notes as errors", () => {
    const findings = plan(notesHost()).findings;
    const errors = findings.filter((f) => f.severity === "error").map((f) => f.code);
    expect(errors).toEqual(
      expect.arrayContaining(["REDIS_MAXMEMORY_OVER_LIMIT", "REDIS_EVICTION_POLICY", "HOST_RAM_CRIT"]),
    );
    const maxmemory = findings.find((f) => f.code === "REDIS_MAXMEMORY_OVER_LIMIT");
    expect(maxmemory?.message).toContain("512 MB");
    expect(maxmemory?.message).toContain("128 MB");
  });

  it("refuses a queue Redis stated without AOF: a restart would lose every queued job", () => {
    const raw = parse(readFileSync(fixture("notes-100-users.yaml"), "utf8"));
    const codes = (appendonly: boolean) =>
      plan(parsePlanInput({ ...raw, redis: { ...raw.redis, appendonly } })).findings.map((f) => [
        f.severity,
        f.code,
      ]);
    expect(codes(false)).toContainEqual(["error", "REDIS_NOT_PERSISTENT"]);
    expect(codes(true).map(([, code]) => code)).not.toContain("REDIS_NOT_PERSISTENT");
  });
});

describe("at the defaults", () => {
  it("the automation host's RAM binds at 30 users with every container it runs (32 before the queue dashboard, 65 before Caddy and the second bot)", () => {
    // 500 system + 256 Redis + 512 n8n + 128 Caddy + 128 agents + 180 board + 2 bots × (150 + 18 × 30) + 1 worker
    // × 250 = 3334 MB, under 85 % of 4096 (3481.6); at 31 users the rule's second worker (250 MB) crosses it.
    for (const users of [20, 30, 100, 300]) {
      const p = plan(parsePlanInput({ users }));
      expect(p.limits.find((l) => l.resource === "ram:automation")?.maxUsers).toBe(30);
    }
    expect(host(plan(parsePlanInput({ users: 30 })), "automation").usedMB).toBe(3334);
    expect(host(plan(parsePlanInput({ users: 30 })), "automation").status).toBe("ok");
    expect(host(plan(parsePlanInput({ users: 31 })), "automation").status).toBe("warn");
  });

  it("builds the image off the hosts by default; one built on the 10 GB automation host puts its disk over warn at any users", () => {
    const p = plan(
      parsePlanInput({ users: 100, imageBuild: { host: "automation", peakMB: 900, diskGB: 1 } }),
    );
    expect(p.imageBuild).toEqual({ host: "automation", peakMB: 900, diskGB: 1 });
    expect(p.bottleneck).toEqual({ resource: "disk:automation", maxUsers: 0 });
    const elsewhere = plan(parsePlanInput({ users: 100 }));
    expect(elsewhere.imageBuild).toBeNull();
    expect(host(p, "automation").disk.usedGB - host(elsewhere, "automation").disk.usedGB).toBeCloseTo(1, 10);
    expect(elsewhere.limits.find((l) => l.resource === "disk:automation")?.maxUsers).toBeGreaterThan(100);
    // During a deploy the build's 900 MB come on top of the running containers.
    expect(host(p, "automation").deployPeakMB).toBe(host(p, "automation").usedMB + 900);
    expect(host(p, "data").deployPeakMB).toBe(host(p, "data").usedMB);
  });

  it("the data host's resources do not grow with users, so they never bind", () => {
    const p = plan(parsePlanInput({ users: 100 }));
    expect(p.unboundedResources).toEqual(["ram:data", "cpu:data", "disk:data"]);
    expect(p.limits.map((l) => l.resource)).toEqual([
      "workers",
      "telegram",
      "ram:automation",
      "cpu:automation",
      "disk:automation",
    ]);
  });

  it.each([
    [TELEGRAM_CALLS_PER_JOB, Math.floor(7200 / TELEGRAM_CALLS_PER_JOB)],
    [3, 2400],
    [4, 1800],
  ])(
    "Telegram caps one bot at 30 × 3600 / (7.5 × 2 × %d messages per job) = %d users",
    (messages, ceiling) => {
      const codesAt = (users: number) =>
        plan(parsePlanInput({ users, messagesPerJob: messages })).findings.map((f) => f.code);
      expect(
        plan(parsePlanInput({ users: ceiling, messagesPerJob: messages })).limits.find(
          (l) => l.resource === "telegram",
        )?.maxUsers,
      ).toBe(ceiling);
      expect(codesAt(ceiling + 1)).toContain("TELEGRAM_RATE_BINDS");
      expect(codesAt(ceiling)).not.toContain("TELEGRAM_RATE_BINDS");
    },
  );

  it("sizes Redis at half its limit with noeviction, and PostgreSQL by the PGTune rules", () => {
    const p = plan(parsePlanInput({ users: 50 }));
    expect(p.redis).toEqual({
      maxmemoryMB: 128,
      policy: "noeviction",
      appendonly: true,
      appendfsync: "everysec",
    });
    expect(p.postgres).toEqual({
      sharedBuffersMB: 256,
      effectiveCacheSizeMB: 768,
      workMemKB: 2621, // (1024 − 256) MB / (100 × 3)
      maintenanceWorkMemMB: 64,
      maxConnections: 100,
      shmSizeMB: 256,
      // 2 bots + 2 workers × 5 + Directus 10 + margin 10
      connectionsNeeded: 40,
    });
  });

  it("upgrades a host over warn to the cheapest offer that brings it under warn, with the cost", () => {
    const p = plan(parsePlanInput({ users: 35 }));
    expect(host(p, "automation").status).toBe("warn");
    expect(p.upgrades).toEqual([
      {
        host: "automation",
        from: "2cpu-4gb-10gb",
        to: "C4-M8-D120",
        priceBeforeRubPerMonth: 554,
        priceAfterRubPerMonth: 4880,
      },
    ]);
    expect(p.costRubPerMonth).toBe(554 + 714);
    expect(p.costAfterUpgradesRubPerMonth).toBe(4880 + 714);
    const cheaper = parsePlanInput({
      users: 35,
      catalog: [
        { name: "big", cpus: 4, ramMB: 8192, diskGB: 100, priceRubPerMonth: 3000 },
        { name: "bigger", cpus: 8, ramMB: 16384, diskGB: 200, priceRubPerMonth: 2500 },
        { name: "small", cpus: 2, ramMB: 4096, diskGB: 40, priceRubPerMonth: 900 },
      ],
    });
    expect(plan(cheaper).upgrades.map((u) => [u.from, u.to])).toEqual([[null, "bigger"]]);
  });

  it("gives 2 GB of swap to a host at or over warn and 1 GB to the others", () => {
    const p = plan(parsePlanInput({ users: 80 }));
    expect(host(p, "automation").swapMB).toBe(2048);
    expect(host(p, "data").swapMB).toBe(1024);
  });
});

describe("limits", () => {
  it("each host's RAM limit is the last user count under warn", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 40 }), (users, perUserMB) => {
        const raw = { users, services: defaultServicesWith({ bot: { perUserMB } }) };
        const p = plan(parsePlanInput(raw));
        const limit = p.limits.find((l) => l.resource === "ram:automation")?.maxUsers;
        if (limit === undefined) return false;
        const utilization = (u: number) =>
          host(plan(parsePlanInput({ ...raw, users: u })), "automation").utilization;
        return (limit === 0 || utilization(limit) < 0.85) && utilization(limit + 1) >= 0.85;
      }),
      { seed: 99, numRuns: 60 },
    );
  });
});

/** The default services with some fields changed, as a config file would list them. */
function defaultServicesWith(changes: Record<string, Record<string, number>>) {
  return parsePlanInput({ users: 1 }).services.map((s) => ({ ...s, ...(changes[s.name] ?? {}) }));
}

const budget = fc.record({
  baseMB: fc.integer({ min: 100, max: 2048 }), // at least the default reservations (100 MB)
  perUserMB: fc.double({ min: 0, max: 40, noNaN: true }),
});

describe("memory properties", () => {
  it("used memory is the system reserve plus every service's limit × replicas, and nothing else", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), budget, budget, (users, bot, worker) => {
        const p = plan(parsePlanInput({ users, services: defaultServicesWith({ bot, worker }) }));
        return p.hosts.every((h) => {
          const reserve = 500;
          const parts = h.services.reduce((sum, s) => sum + s.limitMB * s.replicas, 0);
          return h.usedMB === reserve + parts;
        });
      }),
      { seed: 3, numRuns: 200 },
    );
  });

  it("more users never mean fewer workers or less memory on any host", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 100 }),
        budget,
        budget,
        (users, more, usersPerWorker, bot, worker) => {
          const input = (u: number): PlanInput =>
            parsePlanInput({ users: u, usersPerWorker, services: defaultServicesWith({ bot, worker }) });
          const fewer = plan(input(users));
          const many = plan(input(users + more));
          return (
            many.workers >= fewer.workers &&
            many.hosts.every((h, i) => h.usedMB >= (fewer.hosts[i]?.usedMB ?? Number.POSITIVE_INFINITY))
          );
        },
      ),
      { seed: 11, numRuns: 200 },
    );
  });
});

describe("plan()", () => {
  it("is deterministic and JSON-safe", () => {
    const input = parsePlanInput({ users: 1234, providerConcurrency: 40 });
    const p = plan(input);
    expect(plan(input)).toEqual(p);
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });

  it("flags a reservation above the limit when given an input that skipped the schema", () => {
    const input = parsePlanInput({ users: 10 });
    const tooBig = {
      ...input,
      services: input.services.map((s) => (s.name === "n8n" ? { ...s, reservationMB: 600 } : s)),
    };
    const finding = plan(tooBig).findings.find((f) => f.code === "RESERVATION_OVER_LIMIT");
    expect(finding?.severity).toBe("error");
    expect(finding?.message).toContain("n8n");
  });

  it("places a worker per replica with the plan's concurrency on the worker's host", () => {
    const p = plan(parsePlanInput({ users: 300 }));
    const worker = host(p, "automation").services.find((s) => s.name === "worker");
    expect(worker).toMatchObject({ replicas: 10, limitMB: 250, reservationMB: 100 });
    expect(p.hosts.flatMap((h) => h.services.map((s) => s.name))).toEqual([
      "redis",
      "n8n",
      "caddy",
      "bot",
      "worker",
      "redis-exporter",
      "node-exporter-automation",
      "cadvisor-automation",
      "board",
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
  });
});

describe("Prometheus's retention", () => {
  it("takes half of the data host's disk left under the warn mark, and counts it in the disk used", () => {
    const input = parsePlanInput({ users: 300 });
    const p = plan(input);
    const data = host(p, "data");
    const others = data.disk.usedGB - (p.prometheus?.retentionGB ?? 0);
    expect(p.prometheus?.host).toBe("data");
    expect(p.prometheus?.retentionGB).toBe(Math.floor((0.8 * 30 - others) * 0.5 * 10) / 10);
    expect(data.disk.status).toBe("ok");
    const bigger = plan(
      parsePlanInput({
        users: 300,
        hosts: input.hosts.map((h) => (h.name === "data" ? { ...h, diskGB: 120 } : h)),
      }),
    );
    expect(bigger.prometheus?.retentionGB).toBeCloseTo((p.prometheus?.retentionGB ?? 0) + 0.8 * 90 * 0.5, 0);
  });

  it("is absent without a prometheus service", () => {
    const input = parsePlanInput({ users: 10 });
    const p = plan({ ...input, services: input.services.filter((s) => s.name !== "prometheus") });
    expect(p.prometheus).toBeNull();
  });
});
