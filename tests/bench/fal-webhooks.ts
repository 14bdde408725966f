/**
 * Status polls per job and the time from fal's completion to the photo, without and with fal webhooks, side
 * by side (issue 14). Each mode runs the bot and a worker as processes (tsx) on a fresh stack at production
 * poll settings (2 s growing to 10 s) and real job times: `--requests` users each send one prompt, one per
 * second, fal takes a time drawn uniformly from `--job-seconds` ± 20 % for each; the photo's time is when
 * the fake Telegram accepted sendPhoto, fal's completion the fake fal's own record.
 *
 *   npx tsx tests/bench/fal-webhooks.ts [--requests 30] [--job-seconds 25] [--seed 1]
 *
 * About a minute per mode at the defaults; figures and their command in tests/bench/README.md.
 */
import { parseArgs } from "node:util";
import { type AppStack, startAppStack } from "../support/app-stack.js";
import { freePort } from "../support/free-port.js";
import { sleep } from "../support/http-kit.js";
import { waitUntil } from "../support/wait-until.js";
import { mean, percentile } from "./percentile.js";
import { seededRandom } from "./seeded-random.js";

interface ModeFigures {
  mode: "polling" | "webhooks";
  delivered: number;
  requests: number;
  pollsPerJob: number;
  pollsMax: number;
  lagP50: number;
  lagP95: number;
  lagMax: number;
}

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "30" },
    "job-seconds": { type: "string", default: "25" },
    seed: { type: "string", default: "1" },
  },
});
const requests = Number(values.requests);
const jobSeconds = Number(values["job-seconds"]);
const seed = Number(values.seed);
for (const [name, value] of [
  ["--requests", requests],
  ["--job-seconds", jobSeconds],
] as const) {
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`${name} must be a number above 0; got ${value}\n`);
    process.exit(2);
  }
}

async function runMode(mode: ModeFigures["mode"]): Promise<ModeFigures> {
  const random = seededRandom(seed);
  const stack: AppStack = await startAppStack({
    fal: { queueMs: 0, processingMs: () => jobSeconds * 1000 * (0.8 + 0.4 * random()) },
    env: { POLL_INITIAL_SECONDS: "2", POLL_MAX_SECONDS: "10" },
    readyTimeoutMs: 120_000,
  });
  try {
    const botPort = await freePort();
    const webhookEnv: Record<string, string> =
      mode === "webhooks"
        ? {
            FAL_WEBHOOK_URL: `http://127.0.0.1:${botPort}/fal/webhook`,
            FAL_JWKS_URL: stack.fal.jwksUrl,
            // The expected job time plus a margin, as production would set it.
            FAL_WEBHOOK_FALLBACK_SECONDS: String(Math.ceil(jobSeconds * 1.2) + 10),
          }
        : {};
    await Promise.all([
      stack.startBot({ ...webhookEnv, HTTP_PORT: String(botPort) }),
      stack.startWorker(webhookEnv),
    ]);
    // User i sends "request i": a submission's prompt names the chat its photo goes to.
    const chatOf = (prompt: unknown): number =>
      700_000_000 + Number(/request (\d+)/.exec(String(prompt))?.[1]);
    for (let i = 0; i < requests; i += 1) {
      const user = { id: 700_000_000 + i, first_name: "Bench", language_code: "en" };
      stack.telegram.userSends(user, { text: `bench ${mode} request ${i}: a lighthouse at dusk` });
      await sleep(1_000);
    }
    const photos = () => stack.telegram.callsTo("sendPhoto").filter((c) => c.status === 200);
    await waitUntil(async () => (photos().length >= requests ? true : undefined), {
      timeoutMs: jobSeconds * 2_000 + 60_000,
      intervalMs: 250,
      describe: () => `${requests - photos().length} of ${requests} requests without a photo (${mode})`,
    });
    const photoAt = new Map(photos().map((c) => [Number(c.params.chat_id), c.at]));
    const ends = new Map(stack.fal.requestTimes().map((r) => [r.requestId, r.endedAt]));
    const lags: number[] = [];
    const polls: number[] = [];
    for (const submission of stack.fal.submissions) {
      const sent = photoAt.get(chatOf(submission.input.prompt));
      const ended = ends.get(submission.requestId);
      if (sent !== undefined && ended !== undefined) lags.push((sent - ended) / 1000);
      polls.push(stack.fal.pollsFor(submission.requestId));
    }
    return {
      mode,
      delivered: photoAt.size,
      requests,
      pollsPerJob: mean(polls),
      pollsMax: Math.max(...polls),
      lagP50: percentile(lags, 0.5),
      lagP95: percentile(lags, 0.95),
      lagMax: Math.max(...lags),
    };
  } finally {
    await stack.stop();
  }
}

const results: ModeFigures[] = [];
for (const mode of ["polling", "webhooks"] as const) {
  process.stdout.write(`${mode}: ${requests} requests, ${jobSeconds} s ± 20 % per job at fal…\n`);
  results.push(await runMode(mode));
}
const s = (n: number) => n.toFixed(2);
process.stdout.write(
  [
    "",
    "| mode     | photos | status polls per job (max) | completion → photo p50 | p95    | max     |",
    "| -------- | ------ | -------------------------- | ---------------------- | ------ | ------- |",
    ...results.map(
      (r) =>
        `| ${r.mode.padEnd(8)} | ${`${r.delivered}/${r.requests}`.padEnd(6)} | ${`${s(r.pollsPerJob)} (${r.pollsMax})`.padEnd(26)} | ${`${s(r.lagP50)} s`.padEnd(22)} | ${`${s(r.lagP95)} s`.padEnd(6)} | ${`${s(r.lagMax)} s`.padEnd(7)} |`,
    ),
    "",
  ].join("\n"),
);
