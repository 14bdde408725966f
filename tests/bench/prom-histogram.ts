/**
 * The app's own view of a latency: one of its Prometheus histograms (tapbot_fal_slot_wait_seconds of the
 * workers, tapbot_ack_latency_seconds of the bot), summed over the processes' /metrics texts. The benchmark
 * prints it beside what it measures at the fakes, so a difference between what the app sees and what users
 * got shows (e.g. time an update spent before the bot received it).
 */

/** A histogram's count, mean and p95 (by linear interpolation inside the bucket that holds it), in its unit. */
export interface HistogramSummary {
  count: number;
  meanSeconds: number;
  p95Seconds: number;
}

/** Sums histogram `name` over the texts; null when no text has it or it counted nothing. */
export function histogramFromMetrics(name: string, texts: readonly string[]): HistogramSummary | null {
  const buckets = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const text of texts) {
    for (const line of text.split("\n")) {
      const bucket = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"[^}]*\\} (\\S+)$`).exec(line);
      if (bucket) {
        const le = bucket[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(bucket[1]);
        buckets.set(le, (buckets.get(le) ?? 0) + Number(bucket[2]));
        continue;
      }
      const total = new RegExp(`^${name}_(sum|count)(?:\\{[^}]*\\})? (\\S+)$`).exec(line);
      if (total?.[1] === "sum") sum += Number(total[2]);
      if (total?.[1] === "count") count += Number(total[2]);
    }
  }
  if (count === 0) return null;
  return { count, meanSeconds: sum / count, p95Seconds: quantileFromBuckets(buckets, count, 0.95) };
}

/** Prometheus's histogram_quantile: linear inside the bucket that holds the rank; the last finite bound past it. */
export function quantileFromBuckets(
  cumulative: ReadonlyMap<number, number>,
  count: number,
  q: number,
): number {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const rank = q * count;
  let lower = 0;
  let below = 0;
  for (const bound of bounds) {
    const upTo = cumulative.get(bound) ?? 0;
    if (upTo >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return lower;
      return upTo === below ? bound : lower + ((bound - lower) * (rank - below)) / (upTo - below);
    }
    lower = bound;
    below = upTo;
  }
  return lower;
}
