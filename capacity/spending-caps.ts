import { num } from "./format.js";
import type { PlanInput } from "./schema.js";
import type { Finding } from "./types.js";

/**
 * The caps on paid generations the app enforces (app/bot/generation-quota.ts) as the plan deploys them: each
 * user's per UTC day by tier (QUOTA_FREE_PER_DAY, QUOTA_VIP_PER_DAY) and everyone's per UTC hour
 * (GENERATION_BUDGET_PER_HOUR), beside the demand the plan is sized for, and what they let fal bill at most.
 */
export interface SpendingCaps {
  freePerDay: number;
  vipPerDay: number;
  /** The hourly budget: the input's `spendingCaps.perHour`, or unset the plan's peak demand rounded up. */
  perHour: number;
  /** The plan's demand at peak, generations per hour: users × requestsPerUserHour × peakFactor. */
  peakDemandPerHour: number;
  /** perHour × usdPerGeneration: the most fal can bill in an hour; null without a price. */
  maxUsdPerHour: number | null;
}

/** The caps of the input, the budget defaulting to the plan's own peak so that it never pauses planned load. */
export function spendingCaps(input: PlanInput): SpendingCaps {
  const caps = input.spendingCaps;
  // The hourly form of peakArrivalPerSecond (queue.ts), multiplied out so no rounding error adds a generation.
  const peakDemandPerHour = Math.ceil(input.users * input.requestsPerUserHour * input.peakFactor);
  const perHour = caps.perHour ?? peakDemandPerHour;
  return {
    freePerDay: caps.freePerDay,
    vipPerDay: caps.vipPerDay,
    perHour,
    peakDemandPerHour,
    maxUsdPerHour: caps.usdPerGeneration === undefined ? null : perHour * caps.usdPerGeneration,
  };
}

const usd = (value: number, digits = 2) => `$${num(value, digits)}`;

/**
 * A budget below the plan's peak pauses the users the plan is sized for (warn); with a price, what the caps
 * let fal bill at most (info), so the owner sees the worst case of an abuse or a bug in money.
 */
export function spendingFindings(input: PlanInput, caps: SpendingCaps): Finding[] {
  const out: Finding[] = [];
  if (caps.perHour < caps.peakDemandPerHour) {
    out.push({
      severity: "warn",
      code: "GENERATION_BUDGET_BELOW_PEAK",
      message: `The hourly budget of ${caps.perHour} paid generations is below the plan's peak demand of ${caps.peakDemandPerHour}/hour (${input.users} users × ${num(input.requestsPerUserHour)} requests/hour × peak factor ${num(input.peakFactor)}): at peak, new requests are paused for part of each hour. Raise spendingCaps.perHour to ${caps.peakDemandPerHour}, or leave it unset to follow the plan.`,
    });
  }
  const price = input.spendingCaps.usdPerGeneration;
  if (price !== undefined && caps.maxUsdPerHour !== null) {
    out.push({
      severity: "info",
      code: "SPENDING_CAP",
      message: `At ${usd(price, 4)} per generation, fal bills at most ${usd(caps.maxUsdPerHour)} an hour and ${usd(caps.maxUsdPerHour * 24)} a day (${caps.perHour} generations/hour for everyone); one free user at most ${usd(caps.freePerDay * price)} a day (${caps.freePerDay}), one vip ${usd(caps.vipPerDay * price)} (${caps.vipPerDay}).`,
    });
  }
  return out;
}
