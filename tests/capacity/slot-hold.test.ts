import { describe, expect, it } from "vitest";
import { loadConfig } from "../../app/config.js";
import { POLL_GROWTH as APP_POLL_GROWTH, pollDelayMs } from "../../app/worker/poll-backoff.js";
import { SCALAR_DEFAULTS } from "../../capacity/defaults.js";
import { POLL_GROWTH, pollLagSeconds, slotHold, slotSeconds } from "../../capacity/slot-hold.js";
import { exponentialDraw, seededRandom } from "../bench/seeded-random.js";

/** Mean time from a job's end to the poll that sees it, with the app's own poll delays (jitter included). */
function simulatedLag(jobSeconds: number, initialSeconds: number, maxSeconds: number, jobs: number): number {
  const random = seededRandom(7);
  let total = 0;
  for (let i = 0; i < jobs; i++) {
    const ends = exponentialDraw(jobSeconds, random);
    let at = 0;
    for (let polls = 0; at < ends; polls++)
      at += pollDelayMs(polls, initialSeconds * 1000, maxSeconds * 1000, random) / 1000;
    total += at - ends;
  }
  return total / jobs;
}

describe("the time a request holds a fal slot", () => {
  it("is fal's time plus the lag the app's own poll schedule leaves, as 20 000 simulated jobs show", () => {
    for (const [jobSeconds, initial, max] of [
      [25, 2, 10],
      [6.25, 0.5, 2.5],
      [60, 2, 10],
    ] as const) {
      const model = pollLagSeconds(jobSeconds, {
        initialSeconds: initial,
        maxSeconds: max,
        growth: POLL_GROWTH,
      });
      const simulated = simulatedLag(jobSeconds, initial, max, 20_000);
      expect(model / simulated).toBeGreaterThan(0.95);
      expect(model / simulated).toBeLessThan(1.05);
    }
  });

  it("is fal's time plus the webhook's lag when fal calls back, as spread as fal's own times", () => {
    const hold = slotHold({ ...SCALAR_DEFAULTS, falCompletion: "webhook", webhookLagSeconds: 0.1 });
    expect(hold.meanSeconds).toBeCloseTo(25.1, 10);
    expect(hold.cv2).toBeCloseTo((25 / 25.1) ** 2, 10);
  });

  it("is 29 s for 25-s jobs on the default 2 s → 10 s polls, and shorter polls shorten it", () => {
    const defaults = {
      falCompletion: "poll",
      jobSeconds: 25,
      webhookLagSeconds: 0,
      pollInitialSeconds: 2,
      pollMaxSeconds: 10,
    } as const;
    expect(slotSeconds(defaults)).toBeCloseTo(29, 0);
    expect(slotSeconds({ ...defaults, pollMaxSeconds: 2 })).toBeLessThan(slotSeconds(defaults) - 2);
  });

  it("assumes the schedule the app runs by default (growth, POLL_INITIAL_SECONDS, POLL_MAX_SECONDS, FAL_SLOT_SECONDS)", () => {
    expect(POLL_GROWTH).toBe(APP_POLL_GROWTH);
    const app = loadConfig({
      TELEGRAM_BOT_TOKEN: "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
      FAL_KEY: "key-id:key-secret",
      REDIS_URL: "redis://127.0.0.1:6379",
      DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db",
      FAL_CONCURRENCY: "10",
    });
    expect(SCALAR_DEFAULTS.pollInitialSeconds).toBe(app.pollInitialSeconds);
    expect(SCALAR_DEFAULTS.pollMaxSeconds).toBe(app.pollMaxSeconds);
    // Without FAL_WEBHOOK_URL (and FAL_SLOT_SECONDS) the app polls, and its estimates use the model's hold then.
    expect(app.falWebhookUrl).toBeUndefined();
    expect(app.falSlotSeconds).toBeCloseTo(slotSeconds({ ...SCALAR_DEFAULTS, falCompletion: "poll" }), 0);
  });
});
