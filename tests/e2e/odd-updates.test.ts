import { describe, expect, it } from "vitest";
import { type OddSoakResult, runOddSoak } from "../bench/odd-soak.js";

/**
 * The odd-updates soak (tests/bench/odd-soak.ts, `npm run bench:odd` at 10,000 per mode) in short: the real
 * bot process fed seeded malformed and odd updates through long polling, then through the webhook (raw posts
 * by strangers included). Every message in a private chat gets exactly one answer and never the generic
 * apology, nothing else is answered, each raw post gets its status, the bot logs no error and stays up, and
 * its RSS after a full GC at the end is within 30 MB of the RSS after the warm-up.
 */
describe.each(["polling", "webhook"] as const)("odd updates through %s", (mode) => {
  it("answers each message once, never apologises, logs no error, stays up with flat memory", async () => {
    const lines: string[] = [];
    let result: OddSoakResult | undefined;
    try {
      result = await runOddSoak({ mode, updates: 600, seed: 11, log: (line) => lines.push(line) });
    } finally {
      if (result === undefined || result.problems.length > 0) {
        process.stderr.write(`${lines.join("\n")}\n${JSON.stringify(result, null, 2)}\n`);
      }
    }
    expect(result.problems).toEqual([]);
    expect(result.answersExpected).toBeGreaterThan(200);
    expect(result.answersGot).toBe(result.answersExpected);
    expect({
      unanswered: result.unanswered,
      duplicates: result.duplicates,
      apologies: result.apologies,
      wrongStatuses: result.wrongStatuses,
      errorsLogged: result.errorsLogged,
      alive: result.alive,
    }).toEqual({
      unanswered: 0,
      duplicates: 0,
      apologies: 0,
      wrongStatuses: 0,
      errorsLogged: 0,
      alive: true,
    });
    if (mode === "webhook") expect(result.posts).toBeGreaterThan(50);
    expect(result.rssEndMB - result.rssWarmupMB).toBeLessThan(30);
  }, 120_000);
});
