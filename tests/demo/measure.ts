import { parseArgs } from "node:util";
import { type AppStack, startAppStack } from "../support/app-stack.js";
import { ScriptedUser } from "../support/scripted-user.js";

/**
 * `npx tsx tests/demo/measure.ts [--users 20] [--fal-seconds 25] [--concurrency 4]`: the figures the issue asks
 * for, measured on the real bot and worker processes against the fakes with production poll settings
 * (2 s growing to 10 s). A burst of `users` requests at once (one each), fal taking `fal-seconds` per job.
 * Prints acknowledgement latency, status polls per job (against fal's own client, which polls every
 * 500 ms), status requests per second at fal, and the worker's peak RSS while the jobs wait.
 */
const { values } = parseArgs({
  options: {
    users: { type: "string", default: "20" },
    "fal-seconds": { type: "string", default: "25" },
    concurrency: { type: "string", default: "4" },
  },
});
const users = Number(values.users);
const falSeconds = Number(values["fal-seconds"]);
const concurrency = Number(values.concurrency);
for (const [name, value] of Object.entries({ users, "fal-seconds": falSeconds, concurrency })) {
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number; got ${value}`);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(values: readonly number[], unit: string): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50)}${unit}, p95 ${percentile(sorted, 95)}${unit}, max ${sorted.at(-1)}${unit}`;
}

let stack: AppStack | undefined;

async function main(): Promise<void> {
  stack = await startAppStack({
    env: {
      POLL_INITIAL_SECONDS: "2",
      POLL_MAX_SECONDS: "10",
      WORKER_CONCURRENCY: String(concurrency),
    },
    fal: { queueMs: 0, processingMs: falSeconds * 1000 },
  });
  const { telegram, fal } = stack;
  await stack.startBot();
  const worker = await stack.startWorker();
  const rssIdle = await worker.rssBytes();
  let rssPeak = rssIdle;
  const sampler = setInterval(() => {
    worker.rssBytes().then(
      (rss) => {
        rssPeak = Math.max(rssPeak, rss);
      },
      () => undefined,
    );
  }, 250);

  const people = Array.from(
    { length: users },
    (_, i) =>
      new ScriptedUser(telegram, {
        id: 9_000_000 + i,
        first_name: `U${i}`,
        language_code: "en",
      }),
  );
  const started = Date.now();
  const requests = people.map((person, i) => ({
    person,
    sentAt: Date.now(),
    message: person.says(`measure prompt ${i}`),
  }));
  const acks = await Promise.all(requests.map((r) => r.person.replyTo(r.message, () => true, 30_000)));
  const photos = await Promise.all(
    requests.map((r) => r.person.nextPhoto(r.message, (falSeconds + 60) * 1000)),
  );
  const elapsed = Date.now() - started;
  clearInterval(sampler);

  const polls = fal.submissions.map((s) => fal.pollsFor(s.requestId));
  const statusCalls = fal.calls.filter((c) => c.kind === "status").length;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  process.stdout.write(
    [
      `${users} requests at once, fal ${falSeconds} s per job, WORKER_CONCURRENCY=${concurrency}, polling 2 s → 10 s`,
      `  acknowledgement latency: ${summary(
        acks.map((a, i) => a.sentAt - (requests[i]?.sentAt ?? 0)),
        " ms",
      )}`,
      `  picture latency:         ${summary(
        photos.map((p, i) => p.sentAt - (requests[i]?.sentAt ?? 0)),
        " ms",
      )}`,
      `  status polls per job:    ${summary(polls, "")} (fal's client at 500 ms: ~${Math.round(falSeconds / 0.5)})`,
      `  status requests to fal:  ${statusCalls} in ${(elapsed / 1000).toFixed(1)} s = ${(statusCalls / (elapsed / 1000)).toFixed(2)}/s`,
      `  worker RSS:              ${mib(rssIdle)} idle, ${mib(rssPeak)} peak (run under tsx: includes the TypeScript loader)`,
      "",
    ].join("\n"),
  );
}

main()
  .then(async () => {
    await stack?.stop();
    process.exit(0);
  })
  .catch(async (error: unknown) => {
    process.stderr.write(`measure failed: ${error instanceof Error ? error.message : String(error)}\n`);
    if (stack !== undefined) process.stderr.write(`${stack.logs(40)}\n`);
    await stack?.stop();
    process.exit(1);
  });
