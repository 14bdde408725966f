import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  loadCapacityInput,
  type PlacementHost,
  parsePlanInput,
  placeReplicas,
  plan,
  type ReplicaDemand,
} from "../../capacity/index.js";
import { issuesOf, limitOf, root, runCapacity } from "./support.js";

/** Replicas of each service per host, as plain objects: { host: { service: count } }. */
function counts(hosts: readonly PlacementHost[], demands: readonly ReplicaDemand[], warn = 0.85) {
  const placement = placeReplicas(hosts, demands, warn);
  return Object.fromEntries(placement.hosts.map((h) => [h.name, Object.fromEntries(h.replicas)]));
}

const app = (name: string, ramMB = 4096): PlacementHost => ({
  name,
  ramMB,
  systemReserveMB: 500,
  roles: ["app"],
});

describe("placing replicas (pure)", () => {
  it("keeps pinned services on their host and spreads a placed service's replicas over the hosts its role admits", () => {
    const hosts = [app("a"), { name: "data", ramMB: 8192, systemReserveMB: 500 }, app("b")];
    const got = counts(hosts, [
      { name: "redis", host: "a", replicas: 1, limitMB: 256 },
      { name: "postgres", host: "data", replicas: 1, limitMB: 1024 },
      { name: "bot", replicas: 2, limitMB: 300 },
      { name: "worker", replicas: 5, limitMB: 220 },
    ]);
    // data has the most free RAM but no roles: it runs only what is pinned to it.
    expect(got).toEqual({
      a: { redis: 1, bot: 1, worker: 2 },
      data: { postgres: 1 },
      b: { bot: 1, worker: 3 },
    });
  });

  it("puts the largest replicas first, each onto the admitting host with the most RAM free under the warn mark", () => {
    // Free under 85 %: small 2111 MB, large 2981 MB. The bot (1500 MB) goes first, to large (1481 MB left);
    // the worker then finds more room on small. Packed smallest first, both would have gone to large.
    const hosts = [app("small", 3072), app("large", 4096)];
    const demands = [
      { name: "worker", replicas: 1, limitMB: 100 },
      { name: "bot", replicas: 1, limitMB: 1500 },
    ];
    expect(counts(hosts, demands)).toEqual({ small: { worker: 1 }, large: { bot: 1 } });
  });

  it("puts two replicas on one host only once every other admitting host is out of room", () => {
    // b: 0.85 × 2048 − 500 = 1240.8 MB free under warn, room for 2 workers of 600 MB; a takes the rest.
    const got = counts([app("a", 8192), app("b", 2048)], [{ name: "worker", replicas: 6, limitMB: 600 }]);
    expect(got).toEqual({ a: { worker: 4 }, b: { worker: 2 } });
  });

  it("reports replicas that fit on no host, with every admitting host's free MB, and still places them", () => {
    const placement = placeReplicas(
      [app("a", 2048), app("b", 2048)],
      [{ name: "worker", replicas: 5, limitMB: 600 }],
      0.85,
    );
    const total = placement.hosts.reduce((sum, h) => sum + (h.replicas.get("worker") ?? 0), 0);
    expect(total).toBe(5);
    expect(placement.overflow).toEqual([
      // 2 fit on each host (1240.8 MB free under warn each); the fifth finds 40.8 MB on each.
      {
        service: "worker",
        replicas: 1,
        limitMB: 600,
        hosts: [
          { name: "a", freeMB: 40 },
          { name: "b", freeMB: 40 },
        ],
      },
    ]);
  });

  it("is deterministic: the order of the services in the input does not change where anything goes", () => {
    const hosts = [app("a"), app("b", 8192), { ...app("c", 2048), roles: ["worker"] }];
    const demand = fc.record({
      name: fc.constantFrom("bot", "worker"),
      replicas: fc.integer({ min: 1, max: 12 }),
      limitMB: fc.integer({ min: 50, max: 2000 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(demand, { selector: (d) => d.name, minLength: 1 }), (demands) => {
        const forward = counts(hosts, demands);
        expect(counts(hosts, [...demands].reverse())).toEqual(forward);
        for (const d of demands) {
          const placed = Object.values(forward).reduce((sum, h) => sum + (h[d.name] ?? 0), 0);
          expect(placed).toBe(d.replicas);
        }
      }),
    );
  });
});

const EXAMPLE = new URL("../../capacity/examples/three-hosts.yaml", import.meta.url);

/** The three-host example as the CLI reads it (its calibration applied), with some inputs changed. */
const example = (changes: Record<string, unknown> = {}) =>
  loadCapacityInput({
    raw: { ...parse(readFileSync(EXAMPLE, "utf8")), ...changes },
    baseDir: fileURLToPath(new URL(".", EXAMPLE)),
    readFile: (path) => readFileSync(path, "utf8"),
  });

describe("the plan on three hosts", () => {
  it("lists per host the replicas placed there, the workers adding up to the plan's worker count", () => {
    const p = plan(example());
    const replicas = (service: string) =>
      Object.fromEntries(
        p.hosts.map((h) => [h.name, h.services.find((s) => s.name === service)?.replicas ?? 0]),
      );
    expect(p.workers).toBe(10);
    expect(replicas("worker")).toEqual({ automation: 5, data: 0, "app-2": 5 });
    expect(replicas("bot")).toEqual({ automation: 1, data: 0, "app-2": 1 });
    expect(replicas("postgres")).toEqual({ automation: 0, data: 1, "app-2": 0 });
    for (const h of p.hosts) expect(h.services.every((s) => s.host === h.name)).toBe(true);
  });

  it("says which service fits nowhere, naming the hosts and the MB each had free", () => {
    const p = plan(example({ users: 6000, usersPerWorker: 100 }));
    const finding = p.findings.find((f) => f.code === "SERVICE_FITS_NOWHERE");
    expect(finding?.severity).toBe("warn");
    const limit = limitOf(p, "worker");
    const message = new RegExp(
      `^worker: \\d+ replicas of ${limit} MB fit on no host under the RAM warn mark \\(85.0 %\\); free under it: automation (-?\\d+) MB, app-2 (-?\\d+) MB\\.`,
    ).exec(finding?.message ?? "");
    expect(message, finding?.message).not.toBeNull();
    // Neither host had room for one more worker, and both ended over their warn mark.
    for (const free of [message?.[1], message?.[2]]) expect(Number(free)).toBeLessThan(limit);
    for (const name of ["automation", "app-2"])
      expect(p.hosts.find((h) => h.name === name)?.status).not.toBe("ok");
  });

  it("refuses a service with no host that no host's roles admit, and a role that is neither app nor a service", () => {
    const raw = parse(readFileSync(EXAMPLE, "utf8"));
    raw.hosts = raw.hosts.map((h: { roles?: string[] }) => ({ ...h, roles: undefined }));
    raw.hosts[0].roles = ["bots"];
    expect(issuesOf(() => parsePlanInput({ ...raw, calibration: null }))).toEqual([
      'hosts[0].roles[0]: got "bots"; expected "app" (bot and worker) or a service name: redis, n8n, caddy, bot, worker, board, redis-exporter, node-exporter-automation, cadvisor-automation, metrics-relay, postgres, directus, qdrant, prometheus, alertmanager, grafana, postgres-exporter, node-exporter-data, cadvisor-data, node-exporter-app-2, cadvisor-app-2',
      'services[3].host: unset, and no host\'s roles admit "bot"; expected a host (automation, data, app-2) or a host with "bot" or "app" in its roles',
      'services[4].host: unset, and no host\'s roles admit "worker"; expected a host (automation, data, app-2) or a host with "worker" or "app" in its roles',
    ]);
  });

  it("`capacity plan --config capacity/examples/three-hosts.yaml`, as capacity/README.md gives it, runs services on all three hosts", async () => {
    const command = "plan --config capacity/examples/three-hosts.yaml";
    expect(readFileSync(`${root}capacity/README.md`, "utf8")).toContain(`npm run capacity -- ${command}`);
    const run = await runCapacity(root, ...command.split(" "));
    expect(run.code).toBe(0);
    const rows = run.stdout
      .split("\n")
      .filter((line) => /^ {2}(automation|data|app-2) +[a-z-]+ +\d+ +\d+/.test(line));
    const hostsWith = (service: string) =>
      rows.filter((r) => r.split(/ +/)[2] === service).map((r) => `${r.split(/ +/)[1]} ×${r.split(/ +/)[3]}`);
    expect(hostsWith("worker")).toEqual(["automation ×5", "app-2 ×5"]);
    expect(hostsWith("bot")).toEqual(["automation ×1", "app-2 ×1"]);
    expect(hostsWith("postgres")).toEqual(["data ×1"]);
  });
});
