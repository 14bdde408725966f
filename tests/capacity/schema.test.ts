import { describe, expect, it } from "vitest";
import { parsePlanInput, TELEGRAM_CALLS_PER_JOB } from "../../capacity/index.js";
import { issuesOf } from "./support.js";

/** The issues parsePlanInput reports for `raw`, as "path: message" lines. */
const issues = (raw: unknown): string[] => issuesOf(() => parsePlanInput(raw));

describe("parsePlanInput", () => {
  it("applies the defaults of the design", () => {
    const input = parsePlanInput({ users: 1 });
    expect(input).toMatchObject({
      usersPerWorker: 30,
      requestsPerUserHour: 7.5,
      peakFactor: 2,
      jobSeconds: 25,
      targetWaitP95Seconds: 5,
      maxWorkerConcurrency: 16,
      messagesPerJob: TELEGRAM_CALLS_PER_JOB,
      stepsPerJob: 6,
      stepSeconds: 0.5,
      telegramMessagesPerSecond: 30,
      thresholds: {
        ram: { warn: 0.85, crit: 0.95 },
        cpu: { warn: 0.8, crit: 0.9 },
        disk: { warn: 0.8, crit: 0.9 },
      },
    });
    expect(input.providerConcurrency).toBeUndefined();
    expect(input.hosts.map((h) => [h.name, h.ramMB, h.cpus, h.diskGB, h.priceRubPerMonth])).toEqual([
      ["automation", 4096, 2, 10, 554],
      ["data", 4096, 2, 30, 714],
    ]);
    expect(input.catalog.map((o) => o.priceRubPerMonth)).toEqual([554, 714, 1100, 4880]);
  });

  it("keeps the other threshold defaults when a file changes one", () => {
    const input = parsePlanInput({ users: 1, thresholds: { ram: { warn: 0.8 } } });
    expect(input.thresholds.ram).toEqual({ warn: 0.8, crit: 0.95 });
    expect(input.thresholds.disk).toEqual({ warn: 0.8, crit: 0.9 });
  });

  it.each([
    [{ users: -3 }, "users: got -3; expected a number ≥ 1"],
    [{ users: 2.5 }, "users: got 2.5; expected a whole number"],
    [{ users: "many" }, 'users: got "many"; expected a number'],
    [{}, "users: missing; expected a number"],
    [{ users: 5, usersPerWorkr: 10 }, "usersPerWorkr: unknown key; remove it or fix its spelling"],
    [{ users: 5, redis: { policy: "lru" } }, 'redis.policy: got "lru"; expected one of "noeviction"'],
    [
      { users: 5, thresholds: { ram: { warn: 0.97 } } },
      "thresholds.ram.warn: got 0.97 with crit 0.95; expected warn below crit",
    ],
  ])("rejects %j naming the field, the value and what is allowed", (raw, expected) => {
    expect(issues(raw).some((line) => line.startsWith(expected))).toBe(true);
  });

  it("rejects a service on a host that does not exist", () => {
    const raw = {
      users: 5,
      hosts: [{ name: "box", ramMB: 4096, cpus: 2, diskGB: 20 }],
      services: [
        { name: "redis", host: "box", baseMB: 256 },
        { name: "worker", host: "bxo", baseMB: 250 },
      ],
    };
    expect(issues(raw)).toEqual(['services[1].host: got "bxo"; expected one of the hosts: box']);
  });

  it("rejects a reservation above the limit at the planned users", () => {
    const raw = {
      users: 5,
      hosts: [{ name: "box", ramMB: 4096, cpus: 2, diskGB: 20 }],
      services: [
        { name: "redis", host: "box", baseMB: 256, reservationMB: 300 },
        { name: "worker", host: "box", baseMB: 250 },
      ],
    };
    expect(issues(raw)).toEqual([
      "services[0].reservationMB: got 300; expected at most the memory limit, 256 MB at 5 users (Docker refuses a reservation above the limit)",
    ]);
  });

  it("needs the redis and worker services the queue runs on", () => {
    const raw = { users: 5, services: [{ name: "bot", host: "automation", baseMB: 150 }] };
    expect(issues(raw)).toEqual([
      'services: got bot; expected a service named "redis" among them (the queue needs it)',
      'services: got bot; expected a service named "worker" among them (the queue needs it)',
    ]);
  });

  it("rejects duplicate host names", () => {
    const h = { name: "box", ramMB: 4096, cpus: 2, diskGB: 20 };
    const services = [
      { name: "redis", host: "box", baseMB: 256 },
      { name: "worker", host: "box", baseMB: 250 },
    ];
    expect(issues({ users: 5, hosts: [h, h], services })).toEqual([
      'hosts[1].name: got "box" twice; host names must be unique',
    ]);
  });
});
