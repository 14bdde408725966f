/** One request of a queue for fal slots: when it joined the line and how long it then held a slot. */
export interface SlotRequest {
  at: number;
  holdSeconds: number;
}

/**
 * The wait of each request (seconds, in the order given) in the queue the capacity model assumes: `slots`
 * slots, each taken by the first request in line when it frees, requests lined up in order of `at`
 * (seconds; `requests` must be sorted by it). Fed a load run's own arrivals and holds, it says what an ideal
 * first-come-first-served queue would have made them wait, so the app's queue is compared with the model's
 * discipline on the same draws, free of the sampling noise of a few minutes' run; fed random draws, it is a
 * simulation. The slots' free times sit in a binary min-heap: O(log slots) per request.
 */
export function fifoWaits(requests: readonly SlotRequest[], slots: number): number[] {
  if (!Number.isInteger(slots) || slots < 1)
    throw new RangeError(`slots must be a whole number ≥ 1; got ${slots}`);
  const heap: number[] = Array.from({ length: slots }, () => Number.NEGATIVE_INFINITY);
  const replaceTop = (value: number): void => {
    heap[0] = value;
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      let least = i;
      for (const child of [left, left + 1]) {
        if (child < heap.length && (heap[child] as number) < (heap[least] as number)) least = child;
      }
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least] as number, heap[i] as number];
      i = least;
    }
  };
  const waits: number[] = [];
  let previous = Number.NEGATIVE_INFINITY;
  for (const r of requests) {
    if (r.at < previous) throw new RangeError("requests must be sorted by the time they joined the line");
    previous = r.at;
    const start = Math.max(r.at, heap[0] as number);
    replaceTop(start + r.holdSeconds);
    waits.push(start - r.at);
  }
  return waits;
}
