import { describe, expect, it } from "vitest";
import { fifoWaits } from "./fifo-replay.js";

describe("an ideal first-come-first-served queue of slots", () => {
  it("serves in arrival order on whichever slot frees first", () => {
    // Two slots: the first two start at once; the third takes the slot freed at 5 s, the fourth the one at 8 s.
    const waits = fifoWaits(
      [
        { at: 0, holdSeconds: 10 },
        { at: 0, holdSeconds: 5 },
        { at: 0, holdSeconds: 3 },
        { at: 1, holdSeconds: 1 },
      ],
      2,
    );
    expect(waits).toEqual([0, 0, 5, 7]);
  });

  it("lets nobody wait while a slot is free, and refuses an unsorted line or no slots", () => {
    expect(
      fifoWaits(
        [
          { at: 0, holdSeconds: 100 },
          { at: 50, holdSeconds: 1 },
        ],
        2,
      ),
    ).toEqual([0, 0]);
    expect(() =>
      fifoWaits(
        [
          { at: 2, holdSeconds: 1 },
          { at: 1, holdSeconds: 1 },
        ],
        1,
      ),
    ).toThrow(/sorted/);
    expect(() => fifoWaits([], 0)).toThrow(/slots must be a whole number ≥ 1; got 0/);
  });
});
