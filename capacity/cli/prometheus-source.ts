import { z } from "zod";
import type { ProductionObservation } from "../production-calibration.js";
import { UsageError } from "./usage-error.js";

/** Prometheus's answer to an instant query (/api/v1/query), as far as this reads it. */
const answerSchema = z.object({
  status: z.literal("success"),
  data: z.object({
    resultType: z.literal("vector"),
    result: z.array(z.object({ value: z.tuple([z.number(), z.string()]) })),
  }),
});

/** The first sample of an instant query as a number, or null when the vector is empty or not a finite number. */
async function query(baseUrl: string, promql: string, fetchImpl: typeof fetch): Promise<number | null> {
  const url = new URL("/api/v1/query", baseUrl);
  url.searchParams.set("query", promql);
  let response: Response;
  try {
    response = await fetchImpl(url, { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new UsageError(`cannot reach Prometheus at ${baseUrl}: ${(error as Error).message}`);
  }
  const body: unknown = await response.json().catch(() => null);
  const parsed = answerSchema.safeParse(body);
  if (!response.ok || !parsed.success) {
    const said = (body as { error?: unknown } | null)?.error;
    throw new UsageError(
      `Prometheus at ${baseUrl} did not answer the query ${promql} (HTTP ${response.status}${typeof said === "string" ? `: ${said}` : ""}); give the server's base URL, e.g. http://127.0.0.1:9090`,
    );
  }
  const text = parsed.data.data.result[0]?.value[1];
  const value = text === undefined ? Number.NaN : Number(text);
  return Number.isFinite(value) ? value : null;
}

const ratio = (a: number | null, b: number | null): number | null =>
  a === null || b === null || b <= 0 ? null : a / b;

/**
 * Reads a window of production from the Prometheus the program deploys (scrape jobs `bot` and `worker`, the
 * app's `tapbot_*` metrics): RSS peaks, the workers' CPU and the jobs they delivered, fal's time and the polls
 * per job from their histograms, and the rate requests were accepted at, over the whole window and at its
 * busiest stretch (a quarter of the window, between 5 s and 5 min, as Prometheus's `rate` sees it).
 */
export async function observeProduction(
  baseUrl: string,
  windowSeconds: number,
  fetchImpl: typeof fetch = fetch,
): Promise<ProductionObservation> {
  const w = `${Math.round(windowSeconds)}s`;
  const peakSeconds = Math.round(Math.min(300, Math.max(5, windowSeconds / 4)));
  const step = `${Math.max(1, Math.round(peakSeconds / 5))}s`;
  const q = (promql: string) => query(baseUrl, promql, fetchImpl);
  const mb = (bytes: number | null) => (bytes === null ? null : bytes / 2 ** 20);
  const [botRss, workerRss, cpu, delivered, falSum, falCount, pollSum, pollCount, accepted, peak] =
    await Promise.all([
      q(`max(max_over_time(tapbot_process_resident_memory_bytes{job="bot"}[${w}]))`),
      q(`max(max_over_time(tapbot_process_resident_memory_bytes{job="worker"}[${w}]))`),
      q(`sum(increase(tapbot_process_cpu_seconds_total{job="worker"}[${w}]))`),
      q(`sum(increase(tapbot_jobs_completed_total[${w}]))`),
      q(`sum(increase(tapbot_provider_latency_seconds_sum[${w}]))`),
      q(`sum(increase(tapbot_provider_latency_seconds_count[${w}]))`),
      q(`sum(increase(tapbot_polls_per_job_sum[${w}]))`),
      q(`sum(increase(tapbot_polls_per_job_count[${w}]))`),
      q(`sum(rate(tapbot_jobs_enqueued_total[${w}]))`),
      q(`max_over_time(sum(rate(tapbot_jobs_enqueued_total[${peakSeconds}s]))[${w}:${step}])`),
    ]);
  return {
    windowSeconds,
    botRssMB: mb(botRss),
    workerRssMB: mb(workerRss),
    workerCpuSecondsPerJob: ratio(cpu, delivered),
    jobSeconds: ratio(falSum, falCount),
    pollsPerJob: ratio(pollSum, pollCount),
    jobsDelivered: delivered,
    meanArrivalPerSecond: accepted,
    peakArrivalPerSecond: peak,
  };
}

/** A window as Prometheus writes durations (`90s`, `30m`, `12h`, `7d`, `2w`), in seconds. */
export function parseWindow(text: string): number {
  const match = /^(\d+)(s|m|h|d|w)$/.exec(text.trim());
  const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
  if (match === null || Number(match[1]) <= 0) {
    throw new UsageError(`--since: got "${text}"; expected a duration such as 90s, 30m, 12h, 7d or 2w`);
  }
  return Number(match[1]) * unit[match[2] as keyof typeof unit];
}
