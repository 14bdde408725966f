import { describe, expect, it } from "vitest";
import { applyCalibration } from "../../capacity/calibration.js";
import { parseCalibration, parsePlanInput, plan } from "../../capacity/index.js";
import { redisData } from "../../capacity/redis-data.js";

const services = (p: ReturnType<typeof plan>) => p.hosts.flatMap((h) => h.services);

describe("PostgreSQL max_connections against every pool", () => {
  it("follows the pools: 2 bots + 80 workers at 2 400 users need 5 × 82 + 10 + 10 = 430", () => {
    const p = plan(parsePlanInput({ users: 2400, providerConcurrency: 270 }));
    expect(p.postgres?.connectionsNeeded).toBe(430);
    expect(p.postgres?.maxConnections).toBe(430);
    expect(p.findings.map((f) => f.code)).not.toContain("POSTGRES_MAX_CONNECTIONS_SHORT");
  });

  it("never asks for fewer than PostgreSQL's 100, and says so when a stack sets fewer than the pools", () => {
    expect(plan(parsePlanInput({ users: 30 })).postgres?.maxConnections).toBe(100);
    const short = plan(parsePlanInput({ users: 600, postgresMaxConnections: 100 }));
    expect(short.postgres?.connectionsNeeded).toBe(5 * 22 + 10 + 10);
    const finding = short.findings.find((f) => f.code === "POSTGRES_MAX_CONNECTIONS_SHORT");
    expect(finding?.severity).toBe("error");
    expect(finding?.message).toContain("below the 130 the deployment can open at once");
  });
});

describe("Redis sized for what the app keeps", () => {
  it("counts each kind of key at the planned users and grows the container past its base when needed", () => {
    const input = parsePlanInput({ users: 2400, providerConcurrency: 270 });
    const data = redisData(input, 2400, 270);
    expect(data.keys.resultCache).toBeCloseTo(5 * 86_400, 6); // 5 requests/s on average, a day of cache
    expect(data.keys.updateLog).toBeCloseTo(2 * 5 * 86_400, 6);
    expect(data.keys.rateLimit).toBe(2400);
    expect(data.keys.falSlot).toBe(270);
    expect(data.keys.job).toBeCloseTo(10 * 300, 6);
    const p = plan(input);
    expect(p.redisData.neededMaxmemoryMB).toBe(data.neededMaxmemoryMB);
    expect(p.redis.maxmemoryMB).toBeGreaterThanOrEqual(data.neededMaxmemoryMB);
    expect(services(p).find((s) => s.name === "redis")?.limitMB).toBe(2 * data.neededMaxmemoryMB);
    // At 300 users the 256 MB base still holds the data with room for a fork.
    const small = plan(parsePlanInput({ users: 300 }));
    expect(small.redis.maxmemoryMB).toBe(128);
    expect(small.redisData.neededMaxmemoryMB).toBeLessThanOrEqual(128);
  });

  it("takes measured bytes per key from a calibration", () => {
    const base = parsePlanInput({ users: 2400, providerConcurrency: 270 });
    const measured = applyCalibration(
      base,
      parseCalibration({ source: "bench", redisData: { bytesPerKey: { updateLog: 1500 } } }),
    );
    expect(plan(measured).redisData.dataMB).toBeGreaterThan(plan(base).redisData.dataMB);
  });

  it("judges a stated maxmemory below what the data needs", () => {
    const p = plan(parsePlanInput({ users: 2400, providerConcurrency: 270, redis: { maxmemoryMB: 64 } }));
    const finding = p.findings.find((f) => f.code === "REDIS_MAXMEMORY_SHORT");
    expect(finding?.severity).toBe("error");
  });
});

describe("every container the program runs is in a budget", () => {
  it("Caddy and both bot replicas are on the automation host's RAM", () => {
    const p = plan(parsePlanInput({ users: 300 }));
    const automation = p.hosts.find((h) => h.name === "automation");
    expect(automation?.services.find((s) => s.name === "caddy")).toMatchObject({
      limitMB: 128,
      reservationMB: 32,
    });
    expect(automation?.services.find((s) => s.name === "bot")?.replicas).toBe(2);
    const sum = (automation?.services ?? []).reduce((t, s) => t + s.limitMB * s.replicas, 500);
    expect(automation?.usedMB).toBe(sum);
  });

  it("Telegram's ceiling uses the messages per job a calibration counted", () => {
    const calibrated = applyCalibration(
      parsePlanInput({ users: 2000 }),
      parseCalibration({ source: "counted", messagesPerJob: 3 }),
    );
    expect(plan(calibrated).limits.find((l) => l.resource === "telegram")?.maxUsers).toBe(2400);
    expect(plan(calibrated).findings.map((f) => f.code)).not.toContain("TELEGRAM_RATE_BINDS");
    const byDefault = plan(parsePlanInput({ users: 2000, messagesPerJob: 4 }));
    expect(byDefault.findings.map((f) => f.code)).toContain("TELEGRAM_RATE_BINDS");
  });
});
