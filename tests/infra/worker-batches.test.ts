import { describe, expect, it } from "vitest";
import { workerBatches } from "../../infra/worker-batches.js";

describe("workerBatches", () => {
  it.each([
    [1, 2, [[0]]],
    [2, 2, [[0], [1]]],
    [
      4,
      2,
      [
        [0, 1],
        [2, 3],
      ],
    ],
    [5, 2, [[0, 1], [2, 3], [4]]],
    [
      10,
      4,
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
      ],
    ],
    [3, 10, [[0], [1], [2]]],
  ])("splits %i workers with batch size %i into %j", (count, size, expected) => {
    expect(workerBatches(count, size)).toEqual(expected);
  });

  it("never puts every worker in one batch when there are two or more", () => {
    for (let count = 2; count <= 40; count += 1) {
      for (const size of [1, 2, 5, 100]) {
        const batches = workerBatches(count, size);
        expect(batches.length, `${count}/${size}`).toBeGreaterThan(1);
        expect(batches.flat()).toEqual(Array.from({ length: count }, (_, i) => i));
      }
    }
  });

  it("refuses a count or size below 1", () => {
    expect(() => workerBatches(0, 2)).toThrow(/worker count/);
    expect(() => workerBatches(3, 0)).toThrow(/batch size/);
  });
});
