import { describe, expect, it } from "vitest";
import { faultKinds, runChaosSoak, type SoakResult } from "../bench/chaos-soak.js";

/**
 * The chaos soak (tests/bench/chaos-soak.ts, `npm run bench:chaos` at full size) in short: real bot replicas
 * and workers as processes, Redis with AOF and PostgreSQL, while every fault kind happens exactly once in a
 * seeded order (processes killed and stopped, stores restarted, fal and Telegram failing in bursts, a
 * rollout of the bot and the workers). Judged from each user's chat, never from timings: every request gets
 * exactly one answer (its picture, or one clear failure message), none is lost, unanswered or answered
 * twice, and fal is never asked twice for one request. The waits are generous so a loaded machine makes
 * the soak slower, not red.
 */
describe("the short chaos soak", () => {
  it("answers every request exactly once while every fault kind happens once", async () => {
    const lines: string[] = [];
    let result: SoakResult | undefined;
    try {
      result = await runChaosSoak({
        requests: 12,
        users: 4,
        seed: 3,
        faultEveryMs: 1_000,
        faultRounds: 1,
        workers: 2,
        log: (line) => lines.push(line),
      });
    } finally {
      if (result === undefined || result.problems.length > 0 || result.failedFaults.length > 0) {
        process.stderr.write(`${lines.join("\n")}\n${JSON.stringify(result, null, 2)}\n`);
      }
    }
    expect(result.failedFaults).toEqual([]);
    expect(result.faults).toEqual(Object.fromEntries(faultKinds.map((kind) => [kind, 1])));
    expect(result.requests).toBeGreaterThanOrEqual(12);
    expect({
      lost: result.lost,
      unanswered: result.unanswered,
      duplicated: result.duplicated,
      duplicateAcks: result.duplicateAcks,
      billedTwice: result.billedTwice,
    }).toEqual({ lost: 0, unanswered: 0, duplicated: 0, duplicateAcks: 0, billedTwice: 0 });
    expect(result.answeredOnce).toBe(result.requests);
  }, 600_000);
});
