import { describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";

const findingOf = (p: ReturnType<typeof plan>, code: string) => p.findings.find((f) => f.code === code);

describe("the spending caps of paid generations", () => {
  it("defaults the hourly budget to the plan's own peak demand, so planned load is never paused", () => {
    const p = plan(parsePlanInput({ users: 300 }));
    // 300 users × 7.5 requests/hour × peak factor 2.
    expect(p.spendingCaps).toEqual({
      freePerDay: 50,
      vipPerDay: 500,
      perHour: 4500,
      peakDemandPerHour: 4500,
      maxUsdPerHour: null,
    });
    expect(findingOf(p, "GENERATION_BUDGET_BELOW_PEAK")).toBeUndefined();
    expect(findingOf(p, "SPENDING_CAP")).toBeUndefined();
  });

  it("warns when the budget given is below the peak demand, naming both and the value to set", () => {
    const below = plan(parsePlanInput({ users: 300, spendingCaps: { perHour: 4499 } }));
    expect(findingOf(below, "GENERATION_BUDGET_BELOW_PEAK")).toEqual({
      severity: "warn",
      code: "GENERATION_BUDGET_BELOW_PEAK",
      message: expect.stringMatching(
        /^The hourly budget of 4499 paid generations is below the plan's peak demand of 4500\/hour \(300 users × 7\.5 requests\/hour × peak factor 2\).*Raise spendingCaps\.perHour to 4500/,
      ),
    });
    const at = plan(parsePlanInput({ users: 300, spendingCaps: { perHour: 4500 } }));
    expect(findingOf(at, "GENERATION_BUDGET_BELOW_PEAK")).toBeUndefined();
  });

  it("says in money what the caps let fal bill at most, once a price is given", () => {
    const p = plan(
      parsePlanInput({
        users: 300,
        spendingCaps: { perHour: 1000, freePerDay: 20, vipPerDay: 200, usdPerGeneration: 0.025 },
      }),
    );
    expect(p.spendingCaps.maxUsdPerHour).toBe(25);
    expect(findingOf(p, "SPENDING_CAP")?.message).toBe(
      "At $0.025 per generation, fal bills at most $25 an hour and $600 a day (1000 generations/hour for everyone); one free user at most $0.5 a day (20), one vip $5 (200).",
    );
  });

  it("refuses a misspelt or negative cap, naming the field", () => {
    expect(() => parsePlanInput({ users: 3, spendingCaps: { freePerdDay: 3 } })).toThrow(/spendingCaps/);
    expect(() => parsePlanInput({ users: 3, spendingCaps: { vipPerDay: -1 } })).toThrow(
      /spendingCaps\.vipPerDay/,
    );
  });
});
